"""The one place that reads HX-* headers."""

from __future__ import annotations

from flask import Response, make_response, redirect, render_template, request
from htmx_flask import make_response as htmx_response


def wants_fragment() -> bool:
    """A fragment only for a plain htmx request: boosted navigation and history restores
    need the whole page."""
    hx = getattr(request, "htmx", None)
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def render(page: str, fragment: str | None = None, **context) -> Response:
    """Render the page, or just its fragment for an htmx widget request. Both come from the
    same templates: the page includes the fragment."""
    template = fragment if fragment and wants_fragment() else page
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response


def redirect_to(url: str) -> Response:
    """Redirect that works for htmx requests too (a 302 would be followed and swapped in)."""
    if getattr(request, "htmx", None):
        return htmx_response("", redirect=url)
    return redirect(url)
