"""Static files as a browser gets them: fingerprinted URLs cached for a year, Brotli or gzip
by Accept-Encoding, plain names still answering, and a service worker that precaches the
fingerprinted names."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import brotli
import pytest

from distweb.config import PROJECT_ROOT
from distweb.web.pwa.routes import STATIC_PRECACHE

STATIC = PROJECT_ROOT / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
# /static/css/app.3f2a9c1b04de.css → css/app.css
FINGERPRINTED_URL = re.compile(r"^/static/(?P<dir>(?:[^/]+/)*)(?P<stem>[^/]+)\.[0-9a-f]{12}(?P<suffix>\.[^./]+)$")
TEXT_FILES = ["css/app.css", "js/app.js", "js/vendor/htmx-2.0.11.min.js"]


def source_of(url: str) -> Path:
    match = FINGERPRINTED_URL.match(url)
    assert match, f"{url} is not a fingerprinted static URL"
    return STATIC / f"{match['dir']}{match['stem']}{match['suffix']}"


def static_urls_in(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"#]+)', html)


def fingerprinted(app, filename: str) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for("static", filename=filename)


def test_pages_link_fingerprinted_files_cached_for_a_year(client, make):
    make.brand()
    html = client.get("/auth/login").get_data(as_text=True)
    urls = static_urls_in(html)
    # The stylesheet, htmx (vendored) and the app's scripts, every one fingerprinted.
    assert {source_of(u).relative_to(STATIC).as_posix() for u in urls} >= {
        "css/app.css", "js/vendor/htmx-2.0.11.min.js", "js/app.js", "js/share.js", "js/sortable.js"}
    for url in urls:
        with client.get(url) as response:
            assert response.status_code == 200, url
            assert response.headers["Cache-Control"] == IMMUTABLE, url
            assert "Content-Encoding" not in response.headers  # nothing asked for
            assert response.data == source_of(url).read_bytes(), url


def test_promoter_tab_icons_come_from_a_fingerprinted_sprite(browser, make):
    make.promoter(phone="13600000001")
    browser.login("13600000001", "secret123")
    html = browser.get("/promoter/").get_data(as_text=True)
    sprites = set(re.findall(r'<use href="(/static/[^"#]+)#', html))
    assert sprites and all(source_of(u).name == "tabs.svg" for u in sprites)
    for url in sprites:
        with browser.get(url) as response:
            assert response.status_code == 200 and response.headers["Cache-Control"] == IMMUTABLE


@pytest.mark.parametrize("filename", TEXT_FILES)
def test_brotli_when_the_browser_accepts_it(client, app, filename):
    original = (STATIC / filename).read_bytes()
    with client.get(fingerprinted(app, filename), headers={"Accept-Encoding": "gzip, deflate, br"}) as response:
        assert response.status_code == 200
        assert response.headers["Content-Encoding"] == "br"
        assert "Accept-Encoding" in response.headers["Vary"]
        assert response.headers["Cache-Control"] == IMMUTABLE
        assert int(response.headers["Content-Length"]) == len(response.data) < len(original) / 2
        assert brotli.decompress(response.data) == original


@pytest.mark.parametrize("filename", TEXT_FILES)
def test_gzip_when_the_browser_accepts_only_gzip(client, app, filename):
    original = (STATIC / filename).read_bytes()
    with client.get(fingerprinted(app, filename), headers={"Accept-Encoding": "gzip"}) as response:
        assert response.status_code == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in response.headers["Vary"]
        assert len(response.data) < len(original) / 2
        assert gzip.decompress(response.data) == original


@pytest.mark.parametrize("accept", [None, "identity"])
def test_the_file_itself_when_no_compression_is_asked_for(client, app, accept):
    original = (STATIC / "css/app.css").read_bytes()
    headers = {"Accept-Encoding": accept} if accept else {}
    with client.get(fingerprinted(app, "css/app.css"), headers=headers) as response:
        assert response.status_code == 200
        assert "Content-Encoding" not in response.headers
        assert "Accept-Encoding" in response.headers["Vary"]  # a shared cache must keep them apart
        assert response.mimetype == "text/css"
        assert response.data == original


def test_plain_names_still_answer_with_a_short_lifetime_and_revalidate(client):
    original = (STATIC / "js/app.js").read_bytes()
    with client.get("/static/js/app.js", headers={"Accept-Encoding": "br"}) as response:
        assert response.status_code == 200
        assert "immutable" not in response.headers["Cache-Control"]
        assert "max-age=60" in response.headers["Cache-Control"]
        assert brotli.decompress(response.data) == original
        etag = response.headers["ETag"]
    with client.get("/static/js/app.js", headers={"If-None-Match": etag}) as response:
        assert response.status_code == 304 and response.data == b""


def test_unknown_fingerprint_and_unknown_file_are_not_found(client, app):
    real = fingerprinted(app, "css/app.css")
    stale = re.sub(r"\.[0-9a-f]{12}\.css$", ".0123456789ab.css", real)
    assert stale != real
    for url in (stale, "/static/css/nothing.css", "/static/css/nothing.0123456789ab.css"):
        with client.get(url) as response:
            assert response.status_code == 404, url
            assert "immutable" not in response.headers.get("Cache-Control", "")


def test_static_files_carry_the_security_headers(client, app):
    with client.get(fingerprinted(app, "js/app.js")) as response:
        assert response.mimetype == "text/javascript"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "Access-Control-Allow-Origin" not in response.headers


def test_service_worker_precaches_the_fingerprinted_names(client, app, make):
    make.brand()
    with client.get("/sw.js") as response:
        assert response.status_code == 200
        # The worker and the manifest must be able to change: never cached for good.
        assert response.headers["Cache-Control"] == "no-cache"
        body = response.get_data(as_text=True)
        assert response.headers["Content-Security-Policy"]
    precache = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", body).group(1))
    assert precache == [fingerprinted(app, name) for name in STATIC_PRECACHE] + ["/offline"]
    assert {source_of(url).relative_to(STATIC).as_posix() for url in precache[:-1]} == set(STATIC_PRECACHE)
    for url in precache:
        with client.get(url) as response:
            assert response.status_code == 200, url
    for url in precache[:-1]:
        with client.get(url) as response:
            assert response.headers["Cache-Control"] == IMMUTABLE, url
    with client.get("/manifest.webmanifest") as response:
        assert response.status_code == 200
        assert "immutable" not in response.headers["Cache-Control"]
        assert response.headers["Cache-Control"] == "no-cache"
