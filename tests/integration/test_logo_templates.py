"""Logo templates: a gallery of drawn SVG marks in the brand's name and colour; the chosen
one becomes the logo (pages, app icons, posters, statements), follows a new name or colour,
and can be removed again, like an uploaded logo."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from distweb.extensions import db
from distweb.models import Brand
from distweb.services import branding, logos
from tests.conftest import Browser
from tests.support.factories import PASSWORD


@pytest.fixture
def boss(app, make):
    brand = make.brand()
    with app.app_context():
        row = db.session.get(Brand, brand.id)
        branding.update_brand(row, "山茶集", "山茶", "#0a7d4f")
    browser = Browser(app.test_client())
    browser.login("boss@example.com", PASSWORD)
    return browser


def brand_row(app):
    with app.app_context():
        row = db.session.scalars(db.select(Brand)).one()
        db.session.expunge(row)
        return row


def colours(png: bytes) -> set:
    with Image.open(io.BytesIO(png)) as image:
        return {c for _n, c in image.convert("RGBA").getcolors(1 << 20)}


def test_the_gallery_draws_at_least_eight_templates_in_the_brands_name_and_colour(boss):
    page = boss.get("/manage/settings/brand/logos").get_data(as_text=True)
    keys = [k for k in logos.TEMPLATES if f"/manage/settings/brand/logos/{k}.svg" in page]
    assert len(keys) >= 8 and keys == list(logos.TEMPLATES)
    for key in keys:
        svg = boss.get(f"/manage/settings/brand/logos/{key}.svg")
        assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
        body = svg.get_data(as_text=True)
        assert "#0a7d4f" in body and "山" in body and "<script" not in body
    assert boss.get("/manage/settings/brand/logos/nope.svg").status_code == 404


def test_a_name_with_markup_is_text_in_the_svg(app, boss):
    with app.app_context():
        svg = logos.svg("quad", '<b>&"茶', "#ffd400")
        assert "<b>" not in svg and "&lt;b&gt;" in svg
        assert 'fill="#1a1a1a"' in svg  # dark ink on a light colour
        assert len(logos.png("quad", '<b>&"茶', "#ffd400", 64)) > 100


def test_choosing_a_template_makes_it_the_logo_and_the_app_icons(app, boss):
    assert boss.client.post("/manage/settings/brand/logos/circle").status_code == 400  # no CSRF token
    done = boss.post("/manage/settings/brand/logos/circle", token_from="/manage/settings/brand/logos")
    assert done.status_code == 302
    brand = brand_row(app)
    assert brand.logo_template == "circle" and brand.logo_file.startswith("brand/logo-")
    page = boss.get("/manage/settings/brand").get_data(as_text=True)
    assert "Logo 已更新" in page and f"/uploads/{brand.logo_file}" in page
    with boss.get(f"/uploads/{brand.logo_file}") as response:
        logo = response.data
    with Image.open(io.BytesIO(logo)) as image:
        assert image.size == (512, 512)
    assert (10, 125, 79, 255) in colours(logo)  # the brand colour, #0a7d4f
    with boss.get("/icons/any-192.png") as icon_any, boss.get("/icons/maskable-512.png") as icon_mask:
        any_png, mask_png = icon_any.data, icon_mask.data
    with Image.open(io.BytesIO(any_png)) as image:
        assert image.size == (192, 192) and image.convert("RGBA").getpixel((0, 0))[3] == 0  # round: corners clear
    with Image.open(io.BytesIO(mask_png)) as image:
        assert image.size == (512, 512) and image.convert("RGB").getpixel((0, 0)) == (10, 125, 79)  # full bleed
    gallery = boss.get("/manage/settings/brand/logos").get_data(as_text=True)
    assert "正在使用" in gallery


def test_a_new_colour_redraws_the_template_logo(app, boss):
    boss.post("/manage/settings/brand/logos/seal", token_from="/manage/settings/brand/logos")
    before = brand_row(app)
    saved = boss.post("/manage/settings/brand", {"name": "山茶集", "short_name": "山茶", "theme_color": "#1d4ed8"},
                      content_type="multipart/form-data")
    assert saved.status_code == 302
    after = brand_row(app)
    assert after.logo_template == "seal" and after.logo_file != before.logo_file
    uploads = Path(app.config["DISTWEB_UPLOADS"])
    assert not (uploads / before.logo_file).exists()
    assert (29, 78, 216, 255) in colours((uploads / after.logo_file).read_bytes())


def test_a_logo_can_be_removed_again(app, boss):
    boss.post("/manage/settings/brand/logos/ring", token_from="/manage/settings/brand/logos")
    old_file = brand_row(app).logo_file
    page = boss.get("/manage/settings/brand").get_data(as_text=True)
    assert "移除 Logo" in page
    assert boss.client.post("/manage/settings/brand/logo/remove").status_code == 400  # no CSRF token
    removed = boss.post("/manage/settings/brand/logo/remove", token_from="/manage/settings/brand")
    assert removed.status_code == 302
    brand = brand_row(app)
    assert brand.logo_file is None and brand.logo_template is None
    assert not (Path(app.config["DISTWEB_UPLOADS"]) / old_file).exists()
    page = boss.get("/manage/settings/brand").get_data(as_text=True)
    assert "Logo 已移除" in page and "/uploads/brand/" not in page and "移除 Logo" not in page


def test_an_uploaded_logo_loses_its_empty_margins_and_keeps_its_shape(app):
    image = Image.new("RGBA", (600, 600), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), (100, 250, 500, 350))  # a 400×100 wordmark in a square of air
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    with app.app_context():
        logo = branding.decode_logo(buffer.getvalue())
    assert 3.6 < logo.width / logo.height < 4.2 and logo.width > 300  # the 4:1 wordmark, not a square


def test_a_promoter_cannot_choose_or_remove_the_logo(app, boss, make):
    make.promoter(phone="13600000001")
    promoter = Browser(app.test_client())
    promoter.login("13600000001", PASSWORD)
    for url in ("/manage/settings/brand/logos/circle", "/manage/settings/brand/logo/remove"):
        assert promoter.post(url, token_from="/promoter/me").status_code in (302, 403)
    assert brand_row(app).logo_file is None
