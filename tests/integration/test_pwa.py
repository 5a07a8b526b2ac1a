"""The installable promoter app: manifest, service worker, offline page, icons."""

import io
import re

from PIL import Image


def test_manifest_names_the_brand_and_is_installable(client, make):
    make.brand("山茶集")
    response = client.get("/manifest.webmanifest")
    assert response.mimetype == "application/manifest+json"
    manifest = response.get_json()
    assert manifest["name"] == "山茶集"
    assert manifest["short_name"]
    assert manifest["display"] == "standalone"
    assert manifest["lang"] == "zh-CN"
    assert manifest["start_url"].startswith("/promoter/")
    assert manifest["scope"] == "/"
    assert manifest["theme_color"].startswith("#")
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        with client.get(icon["src"]) as png:
            assert png.status_code == 200 and png.mimetype == "image/png"
            width, height = Image.open(io.BytesIO(png.data)).size
        assert f"{width}x{height}" == icon["sizes"]


def test_service_worker_precaches_static_files_and_the_offline_page(client, make):
    make.brand()
    response = client.get("/sw.js")
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    body = response.get_data(as_text=True)
    assert "/offline" in body and "/static/js/vendor/htmx-2.0.11.min." in body
    assert 'request.headers.get("HX-Request")' in body  # htmx goes to the network
    # Precached under their fingerprinted names (tests/integration/test_static_files.py).
    urls = re.findall(r'"(/static/[^"]+|/offline)"', body)
    assert any(u.startswith("/static/css/app.") for u in urls) and any(u.startswith("/static/js/app.") for u in urls)
    for url in urls:
        with client.get(url) as response:
            assert response.status_code == 200


def test_offline_page_is_static_and_carries_no_user_data(browser, make):
    make.promoter(name="周杰", phone="13600000001")
    browser.login("13600000001", "secret123")
    html = browser.get("/offline").get_data(as_text=True)
    assert "网络已断开" in html
    assert "周杰" not in html and "csrf" not in html.lower()


def test_brand_colour_reaches_the_stylesheet_and_the_theme_color(client, make, app):
    from distweb.extensions import db
    from distweb.models import Brand

    make.brand()
    with app.app_context():
        db.session.query(Brand).update({"theme_color": "#123abc"})
        db.session.commit()
    page = client.get("/auth/login").get_data(as_text=True)
    assert '<meta name="theme-color" content="#123abc">' in page
    css_url = page.split('href="/brand.css', 1)[1].split('"', 1)[0]
    assert "#123abc" in client.get("/brand.css" + css_url).get_data(as_text=True)
    assert client.get("/manifest.webmanifest").get_json()["theme_color"] == "#123abc"
