"""The installable app: manifest, service worker, offline page, brand stylesheet and icons."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import (
    Blueprint,
    current_app,
    g,
    has_request_context,
    make_response,
    render_template,
    send_file,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _

from distweb.models import Brand
from distweb.services.accounts import current_brand
from distweb.web.pwa.icons import brand_icon
from distweb.web.sessions import signed_in_user

bp = Blueprint("pwa", __name__)

STATIC_PRECACHE = (
    "css/app.css",
    "js/app.js",
    "js/share.js",
    "js/sortable.js",
    "js/vendor/htmx-2.0.11.min.js",
    "icons/icon-192.png",
)


def _brand() -> Brand | None:
    """The brand, loaded once per request."""
    if "brand" not in g:
        # The signed-in user's brand (its look, read-only) is already loaded with the user;
        # only anonymous pages (login, invite, manifest) look it up.
        user = signed_in_user() if has_request_context() else None
        g.brand = user.brand_look if user is not None and user.is_authenticated else current_brand()
    return g.brand


def brand_version(brand: Brand | None) -> str:
    """Changes whenever the brand's look changes, so caches see the new colour and logo."""
    if brand is None:
        return "0"
    return _look_version(brand.name, brand.short_name, brand.theme_color, brand.logo_file)


@lru_cache(maxsize=256)
def _look_version(name: str, short_name: str, theme_color: str, logo_file: str | None) -> str:
    return hashlib.sha1(f"{name}|{short_name}|{theme_color}|{logo_file}".encode()).hexdigest()[:10]


@bp.get("/manifest.webmanifest")
def manifest():
    brand = _brand()
    name = brand.name if brand else "distweb"
    short = brand.short_name if brand else "distweb"
    color = brand.theme_color if brand else "#d9363e"
    version = brand_version(brand)
    # One manifest per installation: written in the brand's default language, not the
    # language of whoever happened to fetch it first.
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(default):
        description = _("%(brand)s 推广中心", brand=name)
    body = {
        "id": "/promoter/",
        "name": name,
        "short_name": short,
        "description": description,
        "lang": "zh-CN" if default.startswith("zh") else "en",
        "dir": "ltr",
        "start_url": url_for("promoter.index") + "?source=pwa",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": color,
        "icons": [
            {"src": url_for("pwa.icon", size=192, purpose="any", v=version), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": url_for("pwa.icon", size=512, purpose="any", v=version), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": url_for("pwa.icon", size=512, purpose="maskable", v=version), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
    }
    response = make_response(body)
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/icons/<purpose>-<int:size>.png")
def icon(purpose: str, size: int):
    if purpose not in ("any", "maskable") or size not in (180, 192, 512):
        return make_response(_("没有这个图标。"), 404)
    brand = _brand()
    path = brand_icon(brand, size, purpose == "maskable", Path(current_app.config["DISTWEB_UPLOADS"]), brand_version(brand))
    response = send_file(path, mimetype="image/png", max_age=86400)
    return response


@bp.get("/sw.js")
def service_worker():
    # Fingerprinted URLs (url_for gives them): cached for good, refetched only when changed.
    precache = [url_for("static", filename=f) for f in STATIC_PRECACHE] + [url_for("pwa.offline")]
    body = render_template("pwa/sw.js", precache=precache, version=_sw_version(precache))
    response = make_response(body)
    response.mimetype = "text/javascript"
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


def _sw_version(precache: list[str]) -> str:
    """A new service worker (and a fresh precache) whenever a precached static file changes:
    the URLs carry each file's content hash (distweb.web.static_files)."""
    digest = hashlib.sha1()
    for url in precache:
        digest.update(url.encode() + b"\n")
    digest.update(current_app.config.get("BABEL_DEFAULT_LOCALE", "").encode())
    return digest.hexdigest()[:12]


@bp.get("/offline")
def offline():
    # Static on purpose: the service worker precaches it once and shows it when the network
    # is gone. It carries no user data.
    brand = _brand()
    response = make_response(render_template("pwa/offline.html", brand_name=brand.name if brand else "distweb"))
    return response


@bp.get("/brand.css")
def brand_css():
    """The brand colour as a CSS variable: keeps styles out of the HTML so the CSP holds."""
    brand = _brand()
    color = brand.theme_color if brand else "#d9363e"
    response = make_response(render_template("pwa/brand.css", color=color))
    response.mimetype = "text/css"
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


def brand_context() -> dict:
    """The brand and its look's version, for every template."""
    brand = _brand()
    return {"brand": brand, "brand_version": brand_version(brand)}


def init_app(app) -> None:
    app.context_processor(brand_context)
