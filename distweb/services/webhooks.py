"""Inbound order webhooks: signed, replay-safe, tolerant of events arriving out of order.

Each event is applied through the same order services as the REST API. An event whose order
has not arrived yet (a refund before its order) is held and applied as soon as the order
is there. Natural keys (external_id, refund_id) make a concurrent double delivery harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from distweb.extensions import db
from distweb.models import Brand, Order, WebhookEvent
from distweb.models.base import utcnow
from distweb.models.fulfilment import WebhookStatus
from distweb.models.order import OrderStatus
from distweb.services import orders
from distweb.services.errors import Conflict, NotFound, ServiceError

TOLERANCE_SECONDS = 300
EVENT_TYPES = ("order.paid", "order.completed", "order.refunded", "order.cancelled")


class SignatureError(Exception):
    def __init__(self, code: str, message):
        super().__init__(str(message))
        self.code, self.message = code, message


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str | None, header: str | None, body: bytes, now: float | None = None) -> None:
    """Check ``t=<unix>,v1=<hex>`` on the raw body in constant time, within 300 s of now."""
    if not secret:
        raise SignatureError("no_webhook_secret", _l("该密钥没有 webhook 签名密钥。"))
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        raise SignatureError("invalid_signature", _l("签名格式无效。")) from None
    if abs((now or time.time()) - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("stale_signature", _l("签名时间与当前时间相差超过 300 秒。"))
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise SignatureError("invalid_signature", _l("签名不正确。"))


class Held(Exception):
    """The event must wait for its order (or for an earlier event of that order)."""


def _external_id(event_type: str, data: dict) -> str | None:
    value = data.get("external_id")
    return value if isinstance(value, str) else None


def receive(brand: Brand, event_id: str, event_type: str, data: dict, apply) -> tuple[int, dict]:
    """Record and apply one event. ``apply(event_type, data)`` does the work through the
    order services and raises Held when the order is not ready. Returns (status, body)."""
    if not isinstance(event_id, str) or not event_id or len(event_id) > 100:
        raise ServiceError("invalid_event_id", _l("事件 id 无效。"), "id")
    if event_type not in EVENT_TYPES:
        raise ServiceError("invalid_event_type", _l("不支持的事件类型。"), "type")
    existing = db.session.scalars(
        select(WebhookEvent).where(WebhookEvent.brand_id == brand.id, WebhookEvent.event_id == event_id)
    ).first()
    if existing is not None:
        return (202 if existing.status == WebhookStatus.HELD else 200), {"id": event_id, "status": "duplicate",
                                                                          "state": existing.status.value}
    external_id = _external_id(event_type, data)
    try:
        apply(event_type, data)
        status = WebhookStatus.APPLIED
    except Held:
        status = WebhookStatus.HELD
    except Conflict as err:
        if err.code not in ("duplicate_order", "duplicate_refund"):
            raise
        status = WebhookStatus.APPLIED  # the same change arrived before under another event id
    try:
        db.session.add(WebhookEvent(brand_id=brand.id, event_id=event_id, type=event_type,
                                    order_external_id=external_id, status=status, payload=data,
                                    applied_at=utcnow() if status == WebhookStatus.APPLIED else None))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a concurrent delivery of this very event recorded it first
        return 200, {"id": event_id, "status": "duplicate"}
    if status == WebhookStatus.APPLIED and external_id:
        release_held(brand, external_id, apply)
    return (202 if status == WebhookStatus.HELD else 200), {"id": event_id, "status": status.value}


def release_held(brand: Brand, external_id: str, apply) -> int:
    """Apply the events that were waiting for this order, in the order they arrived."""
    applied = 0
    progress = True
    while progress:
        progress = False
        held = db.session.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.brand_id == brand.id, WebhookEvent.status == WebhookStatus.HELD,
                   WebhookEvent.order_external_id == external_id)
            .order_by(WebhookEvent.id)
        ).all()
        for event in held:
            try:
                apply(event.type, event.payload)
            except Held:
                continue
            except ServiceError as err:
                event.status, event.error = WebhookStatus.REJECTED, f"{err.code}: {err.message}"[:400]
            else:
                event.status, event.applied_at = WebhookStatus.APPLIED, utcnow()
                applied += 1
                progress = True
            db.session.commit()
    return applied


def order_ready(brand_id: int, external_id: str | None) -> Order:
    """The event's order, or Held when it has not arrived (or is not paid) yet."""
    if not external_id:
        raise ServiceError("missing_field", _l("缺少字段 external_id。"), "data.external_id")
    try:
        order = orders.get_order(brand_id, external_id)
    except NotFound:
        raise Held() from None
    if order.status == OrderStatus.CREATED:
        raise Held()
    return order
