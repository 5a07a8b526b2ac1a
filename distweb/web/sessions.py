"""Flask-Login wiring: sessions are server-side rows, so logout really ends them. And the
session cookie, re-signed at most once an hour."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from flask import current_app, g, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, login_user
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature

from distweb.services import accounts
from distweb.web.htmx import redirect_to


def sign_in(user) -> None:
    """Start a signed-in session for ``user`` in this browser."""
    # A fresh session on every sign-in: nothing from before the login carries over.
    session.clear()
    accounts.start_session(user, request.user_agent.string)
    login_user(user)
    session.permanent = True
    # With its own new CSRF token, in the cookie this response sets: otherwise the next page
    # would have to make one and send the whole cookie again.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    generate_csrf()


def signed_in_user():
    """The request's signed-in user as Flask-Login's loader loaded it (the object itself: each
    attribute read through ``current_user`` asks Flask-Login for the user again), or
    ``current_user`` when no user was loaded (anonymous)."""
    user = g.get("signed_in_user")
    return user if user is not None else current_user


def init_login_manager(login_manager: LoginManager) -> None:
    # "strong": a session whose browser fingerprint changes is dropped, not trusted.
    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("请先登录。")
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(token: str):
        user = accounts.user_for_session(token)
        g.signed_in_user = user
        return user

    @login_manager.unauthorized_handler
    def unauthorized():
        if request.blueprint == "api" or request.path.startswith("/api/"):
            return {"error": {"code": "unauthorized", "message": str(_l("请先登录。")), "field": None}}, 401
        target = url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
        # htmx widgets get HX-Redirect so the whole page goes to the login, not one widget.
        return redirect_to(target)


# How often an unchanged permanent session cookie is signed and sent again.
COOKIE_REFRESH_INTERVAL = timedelta(hours=1)
_VERIFIED_COOKIES = 4096


class _Session(SecureCookieSession):
    issued_at: datetime | None = None  # when the cookie it was read from was signed


class HourlyRefreshSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, but an unchanged permanent session's cookie is re-signed
    and sent again only when the one the browser holds is an hour old, not on every response
    (an unchanged cookie needs no new signature and no Set-Cookie header).

    Expiry still slides: a cookie is valid for PERMANENT_SESSION_LIFETIME from when it was
    last signed, and a browser that keeps using the app gets a new one every hour, so it ends
    at most an hour sooner than with a refresh on every request. A changed session (sign-in,
    flash messages, a new CSRF token) is saved at once as before. Signing in or out is
    decided by the server-side LoginSession row, never by the cookie's age."""

    session_class = _Session

    def __init__(self) -> None:
        # Cookie value -> (its contents, when it was signed), for cookies already verified.
        self._verified: dict[str, tuple[dict, datetime]] = {}

    def open_session(self, app, request):
        if not app.secret_key:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        # A browser sends the same cookie until it changes: once its signature has been
        # checked, the same bytes mean the same contents, so only its age is checked again
        # (as itsdangerous checks it). Decoding and verifying it was most of opening a session.
        hit = self._verified.get(value)
        if hit is not None and 0 <= int(time.time()) - int(hit[1].timestamp()) <= max_age:
            data, issued_at = hit
        else:
            try:
                data, issued_at = self.get_signing_serializer(app).loads(
                    value, max_age=max_age, return_timestamp=True)
            except BadSignature:
                return self.session_class()
            # Only contents made of plain values are kept: the session below is a shallow copy,
            # so a change in a request can never reach the kept contents.
            if all(isinstance(v, str | int | float | bool | None) for v in data.values()):
                if len(self._verified) >= _VERIFIED_COOKIES:
                    self._verified.clear()
                self._verified[value] = (data, issued_at)
        session = self.session_class(data)
        session.issued_at = issued_at
        return session

    def should_set_cookie(self, app, session) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        issued_at = getattr(session, "issued_at", None)
        return issued_at is None or _now() - issued_at >= COOKIE_REFRESH_INTERVAL


def _now() -> datetime:
    return datetime.now(UTC)


def init_session_interface(app) -> None:
    app.session_interface = HourlyRefreshSessionInterface()
