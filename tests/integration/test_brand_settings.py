"""The manager sets the brand's name, colour and logo; both shells and the manifest follow."""

import io

from PIL import Image

from tests.support.factories import PASSWORD


def png_bytes(size=(300, 200), fmt="PNG"):
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, fmt)
    return buffer.getvalue()


def form(**overrides):
    data = {"name": "山茶集", "short_name": "山茶集", "theme_color": "#0a7d4f"}
    data.update(overrides)
    return data


def test_manager_renames_the_brand_and_sets_colour_and_logo(browser, make, client):
    make.brand()
    browser.login("boss@example.com", PASSWORD)
    data = form(logo=(io.BytesIO(png_bytes()), "logo.png"))
    response = browser.post("/manage/settings/brand", data, content_type="multipart/form-data")
    assert response.status_code == 302
    page = browser.get("/manage/settings/brand").get_data(as_text=True)
    assert "品牌设置已保存" in page
    assert "山茶集" in page and "/uploads/brand/logo-" in page
    manifest = client.get("/manifest.webmanifest").get_json()
    assert manifest["name"] == "山茶集" and manifest["theme_color"] == "#0a7d4f"
    logo_url = page.split('src="/uploads/brand/', 1)[1].split('"', 1)[0]
    with client.get("/uploads/brand/" + logo_url) as logo:
        assert Image.open(io.BytesIO(logo.data)).size == (300, 200)  # its own proportions, not padded square
    tag = page.split('<div class="logo-preview">', 1)[1].split(">", 1)[0]
    assert 'height="' in tag and 'width="' not in tag  # shown at its height, as wide as it is


def test_bad_colour_and_fake_image_are_form_errors(browser, make):
    make.brand("原名")
    browser.login("boss@example.com", PASSWORD)
    bad_colour = browser.post("/manage/settings/brand", form(theme_color="red"))
    assert bad_colour.status_code == 400 and "#RRGGBB" in bad_colour.get_data(as_text=True)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    fake = browser.post("/manage/settings/brand", form(name="新名", logo=(io.BytesIO(svg), "logo.png")),
                        content_type="multipart/form-data")
    assert fake.status_code == 422 and "PNG、JPEG 或 WebP" in fake.get_data(as_text=True)
    # a refused logo refuses the whole form: the new name was not saved either
    assert "原名" in browser.get("/manage/settings/brand").get_data(as_text=True)
