"""Response headers every page carries, and flash messages as out-of-band toasts."""

from __future__ import annotations

import time

from flask import abort, g, get_flashed_messages, render_template, request, session
from flask_wtf.csrf import generate_csrf

from distweb.web.htmx import wants_fragment

# No inline scripts or styles anywhere, so this strict policy holds.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Product pictures may live on the brand's CDN; images cannot run code.
        "img-src 'self' data: blob: https:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


# How long one signed CSRF token is handed out again for the same session token.
CSRF_TOKEN_REUSE_SECONDS = 3600
_CSRF_CACHE_SIZE = 4096


def reused_csrf_token(app):
    """``csrf_token()`` for templates (the page's <meta name="csrf-token"> and forms).

    Flask-WTF signs the session's raw CSRF token afresh on every page, and the signature,
    not the raw token, is what a form sends back. Any signature of the same raw token is
    accepted for as long as WTF_CSRF_TIME_LIMIT allows (no limit here: a phone left open for
    hours must still post), so the signed token is kept per raw token and handed out again
    for an hour (or a quarter of the time limit, if one is set). Same check, same secret;
    only the signing is saved. A new raw token (a new session) gets its own."""
    cache: dict = {}

    def csrf_token() -> str:
        field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        signed = g.get(field)
        if signed is not None:  # already signed (or handed out) for this request
            return signed
        raw = session.get(field)
        if raw is None:  # a new session: Flask-WTF makes its raw token
            return generate_csrf()
        hit = cache.get(raw)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            setattr(g, field, hit[0])  # what generate_csrf() answers for the rest of the request
            return hit[0]
        token = generate_csrf()
        limit = app.config.get("WTF_CSRF_TIME_LIMIT")
        reuse = CSRF_TOKEN_REUSE_SECONDS if limit is None else min(CSRF_TOKEN_REUSE_SECONDS, limit / 4)
        if len(cache) >= _CSRF_CACHE_SIZE:
            cache.clear()
        cache[raw] = (token, now + reuse)
        return token

    return csrf_token


def init_app(app) -> None:
    csrf_token = reused_csrf_token(app)
    app.jinja_env.globals["csrf_token"] = csrf_token
    # Flask-WTF also hands every template its own csrf_token through a context processor,
    # which wins over the global (so pages signed a new token each time): ours replaces it.
    processors = app.template_context_processors[None]
    for i, processor in enumerate(processors):
        if getattr(processor, "__module__", None) == "flask_wtf.csrf":
            processors[i] = lambda: {"csrf_token": csrf_token}

    @app.before_request
    def refuse_nul_bytes():
        """A NUL in a query or form value is never meant; PostgreSQL cannot store it (a 500
        deep in the driver otherwise). JSON bodies are checked field by field by the API."""
        if "\x00" in request.path or any("\x00" in v for v in request.args.values()) or (
                request.method == "POST" and request.mimetype != "multipart/form-data"
                and any("\x00" in v for v in request.form.values())):
            abort(400)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if response.mimetype == "text/html" and request.endpoint not in ("static", "pwa.offline"):
            # Per-user pages are never stored by shared caches or the back-forward cache.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.after_request
    def oob_toasts(response):
        """A fragment response carries pending flash messages as an out-of-band toast."""
        if (
            response.mimetype == "text/html"
            and wants_fragment()
            and response.status_code < 300
            and session.get("_flashes")
            and not response.direct_passthrough
        ):
            toasts = render_template("_toasts.html", messages=get_flashed_messages(with_categories=True), oob=True)
            response.set_data(response.get_data() + toasts.encode())
        return response
