"""Routes that belong to no audience: the front door, the language switch, health."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    make_response,
    redirect,
    request,
    send_from_directory,
    url_for,
)
from flask_login import current_user
from sqlalchemy import text

from distweb.extensions import db
from distweb.i18n import LANGUAGE_COOKIE, supported_locale
from distweb.queues import redis_connection

bp = Blueprint("core", __name__)


def home_url_for(user) -> str:
    if not user.is_authenticated:
        return url_for("auth.login")
    if user.is_manager:
        return url_for("manage.index")
    if user.is_supplier:
        return url_for("supplier.index")
    return url_for("promoter.index")


@bp.get("/")
def index():
    return redirect(home_url_for(current_user))


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site paths; never an open redirect."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target


@bp.get("/lang/<code>")
def set_language(code: str):
    locale = supported_locale(code)
    response = redirect(safe_next(request.args.get("next"), url_for("core.index")))
    if locale:
        response.set_cookie(LANGUAGE_COOKIE, locale, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


@bp.get("/healthz")
def healthz():
    """Liveness and readiness for load balancers: database and Redis both answer."""
    status = {"database": "ok", "redis": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 — any failure means not ready
        status["database"] = "down"
    try:
        redis_connection().ping()
    except Exception:  # noqa: BLE001
        status["redis"] = "down"
    code = 200 if all(v == "ok" for v in status.values()) else 503
    return status, code


@bp.get("/uploads/brand/<path:filename>")
def brand_upload(filename: str):
    """Brand assets (the logo) are public: they appear on the login page and the manifest."""
    response = make_response(
        send_from_directory(current_app.config["DISTWEB_UPLOADS"] + "/brand", filename, max_age=86400)
    )
    return response
