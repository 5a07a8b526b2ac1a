"""Response headers every page carries, and flash messages as out-of-band toasts."""

from __future__ import annotations

from flask import abort, get_flashed_messages, render_template, request, session

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


def init_app(app) -> None:
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
