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
    """Liveness and readiness for load balancers: database and Redis both answer (200, else
    503). Beside them, for monitoring (they do not change the status code: a web process
    serves without a worker): the workers' heartbeat and the webhook queue (depth, lag,
    failures)."""
    from distweb.services import webhooks

    status: dict = {"database": "ok", "redis": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 — any failure means not ready
        status["database"] = "down"
    try:
        redis_connection().ping()
    except Exception:  # noqa: BLE001
        status["redis"] = "down"
    code = 200 if all(v == "ok" for v in status.values()) else 503
    status["worker"] = {"status": "unknown", "workers": None, "heartbeat_age_seconds": None}
    if status["redis"] == "ok":
        try:
            status["worker"] = webhooks.worker_heartbeat()
        except Exception:  # noqa: BLE001 — reported unknown
            pass
    status["queue"] = None
    if status["database"] == "ok":
        try:
            figures = webhooks.figures()
            status["queue"] = {"depth": figures.depth, "queued": figures.queued, "retrying": figures.retrying,
                               "held": figures.held, "dead_letters": figures.dead,
                               "lag_seconds": figures.lag_seconds}
        except Exception:  # noqa: BLE001 — reported unknown
            db.session.rollback()
    return status, code


@bp.get("/uploads/brand/<path:filename>")
def brand_upload(filename: str):
    """Brand assets (the logo) are public: they appear on the login page and the manifest."""
    response = make_response(
        send_from_directory(current_app.config["DISTWEB_UPLOADS"] + "/brand", filename, max_age=86400)
    )
    return response
