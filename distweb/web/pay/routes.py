"""POST /pay/notify — a signed payment notification (X-Distweb-Signature, as webhooks)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _

from distweb.extensions import csrf
from distweb.services import payments, webhooks
from distweb.services.accounts import current_brand
from distweb.services.errors import ServiceError

bp = Blueprint("pay", __name__, url_prefix="/pay")
csrf.exempt(bp)  # authenticated by its HMAC signature, not a browser session


def _error(status: int, code: str, message: str, field: str | None = None):
    response = jsonify({"error": {"code": code, "message": message, "field": field}})
    response.status_code = status
    return response


@bp.post("/notify")
def notify():
    brand = current_brand()
    raw = request.get_data(cache=True)
    if brand is None:
        return _error(404, "not_found", _("页面不存在"))
    try:
        webhooks.verify(payments.payment_secret(brand), request.headers.get("X-Distweb-Signature"), raw)
    except webhooks.SignatureError as err:
        return _error(401, err.code, str(err.message))
    from distweb.web.api.base import ApiError, field, parse_json_object
    from distweb.web.api.orders import parse_paid_at

    try:
        body = parse_json_object(raw)  # the app's one JSON parse: nesting and text checked
        order = payments.notify_paid(
            brand, field(body, "external_id", str, max_length=64), body.get("paid_fen"),
            parse_paid_at(body), field(body, "transaction_id", str, required=False, nullable=True),
        )
    except ApiError as err:
        return _error(err.status, err.code, err.message, err.field)
    except ServiceError as err:
        return _error(err.status, err.code, str(err.message), err.field)
    return {"external_id": order.external_id, "status": order.status.value}


@bp.post("/<provider>/notify")
def provider_notify(provider: str):
    """WeChat Pay's and Alipay's notifications (verified by their signatures; see
    ``services.online_pay.receive``). The answer is what each provider expects: anything
    but success makes it send the notification again."""
    from flask import make_response

    from distweb.services import online_pay
    from distweb.services.payment_providers import FIELDS

    brand = current_brand()
    if brand is None or provider not in FIELDS:
        return _error(404, "not_found", _("页面不存在"))
    body = request.get_data(cache=True)
    if not body and request.form:
        # A form post (Alipay's) was read as a form already (the NUL-byte check): the same
        # fields again; the signature covers decoded values, sorted, so nothing is lost.
        from urllib.parse import urlencode

        body = urlencode(list(request.form.items(multi=True))).encode()
    adapter, ok = online_pay.receive(brand, provider, dict(request.headers), body)
    if adapter is None:
        return _error(404, "not_found", _("页面不存在"))
    body, status, headers = adapter.acknowledge(ok)
    response = make_response(body, status)
    for name, value in headers.items():
        response.headers[name] = value
    return response
