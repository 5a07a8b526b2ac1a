"""The 获取验证码 button of the pages that verify a phone (sign-up, 忘记密码, shop checkout).

The button is a second submit button of the page's own form (``name="send_code"``): the page
handles the post, sends the code to the form's phone and renders itself again with what was
typed, the status and, with the console sender, the code. No script is needed, and with
htmx's boost it is one swap like any form post.

Limits, shared by every page (``limiter.shared_limit``), counted only for codes actually
sent: per phone from any address (``SMS_PHONE_RATE_LIMIT``) and per address for any phone
(``SMS_IP_RATE_LIMIT``); the service adds one code per phone and purpose a minute.
"""

from __future__ import annotations

from flask import current_app, g, request
from flask_babel import gettext as _

from distweb.extensions import limiter
from distweb.services import attribution, sms
from distweb.services.errors import ServiceError
from distweb.web.forms import attach_error

SEND_FIELD = "send_code"


def sending() -> bool:
    """Whether this post is the 获取验证码 button (not the form's own submit)."""
    return request.method == "POST" and SEND_FIELD in request.form


def _not_sending() -> bool:
    return not sending()


def _sent(_response) -> bool:
    return bool(g.get("sms_code_sent"))


def _phone_key() -> str:
    return "sms-phone:" + (request.form.get("phone") or "").strip()[:20]


def _phone_limit() -> str:
    return current_app.config["SMS_PHONE_RATE_LIMIT"]


def _ip_limit() -> str:
    return current_app.config["SMS_IP_RATE_LIMIT"]


def send_limits(view):
    """Decorate a page that has the 获取验证码 button with the shared sending limits."""
    view = limiter.shared_limit(_ip_limit, scope="sms-send-ip", methods=["POST"], exempt_when=_not_sending,
                                deduct_when=_sent,
                                error_message=lambda: _("这个网络获取验证码太频繁，请稍后再试。"))(view)
    view = limiter.shared_limit(_phone_limit, scope="sms-send-phone", key_func=_phone_key, methods=["POST"],
                                exempt_when=_not_sending, deduct_when=_sent,
                                error_message=lambda: _("这个手机号获取验证码太频繁，请稍后再试。"))(view)
    return view


def send_code(form, purpose: sms.SmsPurpose):
    """Send a code to the form's ``phone`` for ``purpose``: the ``SentCode`` for the page to
    show, or None with the reason on the phone field. Only the phone is checked: the rest
    of the form is not being submitted yet."""
    if not form.phone.validate(form):
        return None
    try:
        sent = sms.send_code(purpose, form.phone.data, attribution.ip_hash(request.remote_addr))
    except ServiceError as err:
        attach_error(form, err, "phone")
        return None
    g.sms_code_sent = True
    return sent
