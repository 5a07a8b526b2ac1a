"""POST /api/v1/webhooks/orders — signed order events from a brand's shop, stored and
answered 202 at once, applied by the workers (services/webhooks.py)."""

from __future__ import annotations

from flask import g, request
from flask_babel import gettext as _

from distweb.db_setup import reads_first
from distweb.services import orders, webhooks
from distweb.web.api.base import ApiError, bp, error, field, parse_json_object
from distweb.web.api.orders import order_input_from


@bp.post("/webhooks/orders")
@reads_first  # on SQLite the write lock is held for the event's insert only, not the whole request
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
    webhooks.check(event_id, event_type, data)
    if event_type == "order.paid":  # the order it places, read as POST /orders reads one, and checked
        if "paid_at" not in data:
            raise ApiError(422, "missing_field", _("缺少字段 %(name)s。", name="paid_at"), "data.paid_at")
        orders.check_order(g.brand.id, order_input_from(data, source="webhook"))
    status, body = webhooks.receive(g.brand.id, event_id, event_type, data)
    return body, status
