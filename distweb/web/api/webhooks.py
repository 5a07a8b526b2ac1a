"""POST /api/v1/webhooks/orders — signed order events from a brand's shop."""

from __future__ import annotations

from flask import g, request
from flask_babel import gettext as _

from distweb.services import orders, webhooks
from distweb.web.api.base import ApiError, bp, error, field, parse_json_object
from distweb.web.api.orders import order_input_from, parse_time


def _apply(event_type: str, data: dict) -> None:
    brand = g.brand
    if event_type == "order.paid":
        if "paid_at" not in data:
            raise ApiError(422, "missing_field", _("缺少字段 %(name)s。", name="paid_at"), "data.paid_at")
        orders.place_order(brand, order_input_from(data, source="webhook"))
        return
    order = webhooks.order_ready(brand.id, field(data, "external_id", str, max_length=64))
    if event_type == "order.completed":
        orders.complete(brand.id, order.id, parse_time(data, "completed_at"))
    elif event_type == "order.cancelled":
        orders.cancel(brand.id, order.id, field(data, "reason", str, required=False, nullable=True))
    elif event_type == "order.refunded":
        lines = []
        for i, raw in enumerate(field(data, "items", list)):
            if not isinstance(raw, dict):
                raise ApiError(422, "invalid_type", _("字段 %(name)s 的类型不正确。", name=f"items[{i}]"), f"items[{i}]")
            lines.append(orders.RefundItemInput(sku=field(raw, "sku", str, max_length=64),
                                                amount_fen=field(raw, "amount_fen", int)))
        orders.refund(brand.id, order.id, field(data, "refund_id", str, max_length=64), lines)


@bp.post("/webhooks/orders")
def webhook_orders():
    raw = request.get_data(cache=True)
    try:
        webhooks.verify(g.api_key.webhook_secret, request.headers.get("X-Distweb-Signature"), raw)
    except webhooks.SignatureError as err:
        return error(401, err.code, str(err.message))
    envelope = parse_json_object(raw)  # after the signature: only a signed body is parsed at all
    event_id = field(envelope, "id", str, max_length=100)
    event_type = field(envelope, "type", str, max_length=32)
    data = field(envelope, "data", dict)
    status, body = webhooks.receive(g.brand, event_id, event_type, data, _apply)
    return body, status
