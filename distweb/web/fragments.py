"""Fragments: parts of pages rendered from their inputs only, and kept by those inputs.

``{{ fragment("layouts/_promoter_tabbar.html", tab="home") }}`` renders the template with
exactly the values given, the brand (its look), the request's language and time zone, and
keeps the markup in the page cache under all of those (``caching.key_for``): the markup is a function of its key, so
whoever asks with the same key may have it, and a fragment cannot show one user's data to
another. The per-request and per-user names a template could otherwise reach (the session,
the request, the signed-in user, the CSRF token, flashed messages) are replaced inside a
fragment by a value that fails the render if used, so a fragment that needs one of them
cannot be written by mistake: pass what it needs as a value (and it becomes part of the key).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import (
    current_app,
    get_flashed_messages,
    has_request_context,
    make_response,
    render_template,
    request,
    session,
)
from flask_babel import get_timezone
from markupsafe import Markup

from distweb import caching
from distweb.i18n import current_locale_name
from distweb.web.pwa.routes import brand_context


class PerRequestValue:
    """Stands in for a per-request name inside a fragment: any use fails the render."""

    def __init__(self, name: str):
        self._name = name

    def _refuse(self, *args, **kwargs):
        raise RuntimeError(f"{self._name} is per request and cannot be used inside a fragment; "
                           f"pass what the fragment needs as a value")

    __getattr__ = __call__ = __str__ = __html__ = __iter__ = __bool__ = __getitem__ = _refuse


_PER_REQUEST = ("request", "session", "g", "current_user", "csrf_token", "get_flashed_messages")
_REFUSED = {name: PerRequestValue(name) for name in _PER_REQUEST}


def fragment(template_name: str, **values) -> Markup:
    brand = brand_context()
    script_root = request.script_root if has_request_context() else ""
    key = caching.key_for("fragment", template_name, sorted(values.items()), brand["brand_version"],
                          brand["brand"].id if brand["brand"] is not None else None, current_locale_name(),
                          str(get_timezone()), script_root)

    def render() -> str:
        template = current_app.jinja_env.get_template(template_name)
        return template.render({**brand, **values, **_REFUSED})

    return Markup(caching.cached(key, render))


def cached_page(template_name: str, session_token: str, identity: tuple, values: Callable[[], dict]):
    """A whole page of one signed-in session, kept in the page cache under everything that
    decides it: ``identity`` (what the page shows is a function of it: its data's versions,
    the day, the user's name…), the session (its CSRF token is in the page; ``session_token``
    names it), the brand's look, the language, the time zone and the URL. ``values()`` gives
    the template its values when the page is rendered; the template may use only those and
    what every page of the session shares. A page with flash messages waiting is rendered
    afresh (they show once)."""
    if get_flashed_messages():
        return make_response(render_template(template_name, **values()))
    brand = brand_context()
    # The session's CSRF secret, which the page's signed token is made from (Flask-WTF keeps
    # it in the session under its field name): a new one means a new page.
    csrf_secret = session.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    key = caching.key_for("page", template_name, session_token, csrf_secret, identity, brand["brand_version"],
                          current_locale_name(), str(get_timezone()), request.script_root, request.full_path)
    return make_response(caching.cached(key, lambda: render_template(template_name, **values()), per_user=True))


def init_app(app) -> None:
    app.jinja_env.globals["fragment"] = fragment
