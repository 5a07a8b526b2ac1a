"""Flask-Login wiring: sessions are server-side rows, so logout really ends them."""

from __future__ import annotations

from flask import request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager

from distweb.services import accounts
from distweb.web.htmx import redirect_to


def init_login_manager(login_manager: LoginManager) -> None:
    # "strong": a session whose browser fingerprint changes is dropped, not trusted.
    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("请先登录。")
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(token: str):
        return accounts.user_for_session(token)

    @login_manager.unauthorized_handler
    def unauthorized():
        if request.blueprint == "api" or request.path.startswith("/api/"):
            return {"error": {"code": "unauthorized", "message": str(_l("请先登录。")), "field": None}}, 401
        target = url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
        # htmx widgets get HX-Redirect so the whole page goes to the login, not one widget.
        return redirect_to(target)
