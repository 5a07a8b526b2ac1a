"""Invite links: /j/<code> shows the brand's landing page and the sign-up form."""

from __future__ import annotations

import io

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from distweb.extensions import limiter
from distweb.models.network import PromoterStatus
from distweb.models.sms import SmsPurpose
from distweb.services import network
from distweb.services.errors import ServiceError
from distweb.web import sms as sms_web
from distweb.web.forms import attach_error
from distweb.web.htmx import redirect_to
from distweb.web.join.forms import SignUpForm
from distweb.web.sessions import sign_in

bp = Blueprint("join", __name__, url_prefix="/j")

QR_CACHE_SECONDS = 86400


def invite_url(code: str) -> str:
    return url_for("join.show", code=code, _external=True)


def _signup_limit() -> str:
    return current_app.config.get("SIGNUP_RATE_LIMIT", "5 per minute;30 per hour")


@bp.route("/<code>", methods=["GET", "POST"])
@limiter.limit(_signup_limit, methods=["POST"])
@sms_web.send_limits
def show(code: str):
    inviter = network.by_code(code)
    usable = network.invite_is_usable(inviter)
    settings = network.get_settings(inviter.brand_id) if inviter else None
    form = SignUpForm()
    status = 200 if usable else 404
    sent = None
    if usable and sms_web.sending():
        sent = sms_web.send_code(form, SmsPurpose.SIGNUP)
        status = 200 if sent else 422
    elif usable and form.validate_on_submit():
        try:
            promoter = network.sign_up(code, form.name.data, form.phone.data, form.password.data, form.agree.data,
                                       form.code.data)
        except ServiceError as err:
            attach_error(form, err, "name", aliases={"invite": "name"})
            status = 422
        else:
            if promoter.status == PromoterStatus.ACTIVE:
                sign_in(promoter.user)
                return redirect_to(url_for("promoter.welcome"))
            return render_template("join/pending.html", inviter=inviter, promoter=promoter)
    elif usable and request.method == "POST":
        status = 400
    return render_template(
        "join/show.html", inviter=inviter if usable else None, form=form, settings=settings,
        signed_in=current_user.is_authenticated, sent=sent,
    ), status


@bp.get("/<code>/qr.<fmt>")
def qr(code: str, fmt: str):
    """The invite link as a QR code (SVG for the screen, PNG to save and print)."""
    inviter = network.by_code(code)
    if fmt not in ("svg", "png") or inviter is None:
        abort(404)
    qrcode = segno.make(invite_url(inviter.code), error="m")
    buffer = io.BytesIO()
    if fmt == "svg":
        qrcode.save(buffer, kind="svg", scale=8, border=2, xmldecl=False)
        mimetype = "image/svg+xml"
    else:
        qrcode.save(buffer, kind="png", scale=10, border=2)
        mimetype = "image/png"
    response = make_response(buffer.getvalue())
    response.mimetype = mimetype
    response.headers["Cache-Control"] = f"public, max-age={QR_CACHE_SECONDS}"
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="invite-{inviter.code}.{fmt}"'
    return response
