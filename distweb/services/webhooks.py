"""Inbound order webhooks: signed, replay-safe, tolerant of events arriving out of order.

Each event is applied through the same order services as the REST API, and its row says what
happened (``WebhookStatus``). Natural keys (external_id, refund_id) make a concurrent double
delivery harmless.

``order.paid`` creates its order, and its row is written in the order's own transaction.
The other events need their order: such an event is stored (held) and committed first, then
tried. So its order's arrival and its own check can never miss each other: whichever commits
second sees the other — the event's check sees the order, or the order's release (which runs
after the order has committed) sees the held event. An event whose order has not arrived
stays held; the order's arrival releases it, and the workers' sweep tries every event still
waiting after a minute (an order created through the REST API releases nothing itself).

Every try claims the event's row (held → applied) in the transaction that applies it, so the
status and the change commit together and two workers never both apply one event; a try that
did not apply it records why only if no other try has applied it meanwhile.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from distweb.extensions import db
from distweb.models import Brand, Order, WebhookEvent
from distweb.models.base import utcnow
from distweb.models.fulfilment import WebhookStatus
from distweb.models.order import OrderStatus
from distweb.services import orders
from distweb.services.errors import NotFound, ServiceError

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300
EVENT_TYPES = ("order.paid", "order.completed", "order.refunded", "order.cancelled")
# The sweep tries again what has waited this long since its last try.
RETRY_AFTER = timedelta(minutes=1)
# A failed event is tried this many times in all; then it waits for a manager's retry.
MAX_ATTEMPTS = 10
SWEEP_BATCH = 200
# Not applied (yet): what the manager page lists and a manager may retry.
OPEN = (WebhookStatus.HELD, WebhookStatus.FAILED, WebhookStatus.REJECTED)
DUPLICATE_CODES = ("duplicate_order", "duplicate_refund")

_EVENTS = WebhookEvent.__table__


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


# ---------------------------------------------------------------- receiving


def receive(brand: Brand, event_id: str, event_type: str, data: dict,
            order: orders.OrderInput | None = None) -> tuple[int, dict]:
    """Record and apply one event; returns (HTTP status, body). ``order``: for ``order.paid``,
    the order it places, read from ``data`` by the caller. Anything the order services refuse
    is raised (the shop is told and may send the event again, fixed); nothing is kept of it."""
    if not isinstance(event_id, str) or not event_id or len(event_id) > 100:
        raise ServiceError("invalid_event_id", _l("事件 id 无效。"), "id")
    if event_type not in EVENT_TYPES:
        raise ServiceError("invalid_event_type", _l("不支持的事件类型。"), "type")
    if event_type == "order.paid" and order is None:
        raise ValueError("an order.paid event needs the order it places")
    existing = db.session.scalars(
        select(WebhookEvent).where(WebhookEvent.brand_id == brand.id, WebhookEvent.event_id == event_id)
    ).first()
    if existing is not None:
        return _status_code(existing.status), {"id": event_id, "status": "duplicate", "state": existing.status.value}
    if event_type == "order.paid":
        status = _receive_paid(brand, event_id, data, order)
    else:
        _parse(event_type, data)  # a malformed event is refused now, not held
        status = _receive_for_order(brand, event_id, event_type, data)
    if status is None:
        return 200, {"id": event_id, "status": "duplicate"}  # a concurrent delivery of this very event
    external_id = _external_id(event_type, data)
    if status in (WebhookStatus.APPLIED, WebhookStatus.DUPLICATE) and external_id:
        try:
            release_held(brand.id, external_id)
        except Exception:  # noqa: BLE001 — this event is applied; the sweep releases the others
            db.session.rollback()
            log.exception("releasing the events held for order %s failed", external_id)
    return _status_code(status), {"id": event_id, "status": status.value}


def _status_code(status: WebhookStatus) -> int:
    return 202 if status in (WebhookStatus.HELD, WebhookStatus.FAILED) else 200


def _new_row(brand_id: int, event_id: str, event_type: str, data: dict, status: WebhookStatus) -> WebhookEvent:
    now = utcnow()
    return WebhookEvent(brand_id=brand_id, event_id=event_id, type=event_type,
                        order_external_id=_external_id(event_type, data), status=status, payload=data,
                        received_at=now, attempted_at=now, attempts=1,
                        applied_at=now if status == WebhookStatus.APPLIED else None)


def _receive_paid(brand, event_id: str, data: dict, order: orders.OrderInput) -> WebhookStatus | None:
    """The order and the event's row in one transaction (the order's own)."""
    row = _new_row(brand.id, event_id, "order.paid", data, WebhookStatus.APPLIED)
    try:
        orders.place_order(brand, order, before_commit=lambda _order: db.session.add(row))
        return WebhookStatus.APPLIED
    except ServiceError as err:
        if err.code not in DUPLICATE_CODES:
            raise
        db.session.rollback()
        row = _new_row(brand.id, event_id, "order.paid", data, WebhookStatus.DUPLICATE)
        row.error = _why(err)
    except IntegrityError:
        db.session.rollback()
        if _status_of(brand.id, event_id) is not None:
            return None
        raise
    return row.status if _stored(row) else None


def _stored(row: WebhookEvent) -> bool:
    """Commit a new event row; False when a concurrent delivery of the same event stored it
    first (its unique key refused this one)."""
    try:
        db.session.add(row)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def _receive_for_order(brand, event_id: str, event_type: str, data: dict) -> WebhookStatus | None:
    """Stored first, held, and committed; then tried (see the module's docstring)."""
    row = _new_row(brand.id, event_id, event_type, data, WebhookStatus.HELD)
    row.attempts = 0
    if not _stored(row):
        return None
    pk = row.id
    outcome = attempt(pk, (WebhookStatus.HELD,), refusals="raise")
    return outcome or _status_of(brand.id, event_id)


def _status_of(brand_id: int, event_id: str) -> WebhookStatus | None:
    db.session.commit()  # a fresh look: what other transactions committed meanwhile
    return db.session.scalar(
        select(WebhookEvent.status).where(WebhookEvent.brand_id == brand_id, WebhookEvent.event_id == event_id))


def _why(err: ServiceError) -> str:
    return f"{err.code}: {err.message}"[:400]


# ---------------------------------------------------------------- applying


def attempt(pk: int, statuses: tuple[WebhookStatus, ...], refusals: str = "record",
            due_before: datetime | None = None) -> WebhookStatus | None:
    """Try once to apply the stored event ``pk`` if its status is one of ``statuses`` (and,
    with ``due_before``, its last try was no later). Returns what happened, or None when the
    event was not there to try, or another try applied it meanwhile.

    Commits what the session holds first. The event's order is looked up before anything is
    claimed (most tries of a held event find no order: they take no lock). Then the row is
    claimed in a transaction of its own (on SQLite it takes the write lock at once and reads
    the latest rows; on PostgreSQL a second claim of the row waits for this try to end, then
    finds it applied), and the event is applied in that same transaction.
    ``refusals="raise"``: a refusal by the order services deletes the event and is raised
    (the shop is answering for it), instead of being recorded as rejected."""
    db.session.commit()
    found = db.session.execute(_due(select(_EVENTS.c.brand_id, _EVENTS.c.type, _EVENTS.c.payload),
                                    pk, statuses, due_before)).first()
    if found is None:
        db.session.rollback()
        return None
    brand_id, event_type, payload = found
    now = utcnow()
    error = None
    try:
        try:
            order_ready(brand_id, _parse(event_type, payload)["external_id"])
        finally:
            db.session.commit()  # only read: the claim starts a transaction of its own
        claim = _due(update(_EVENTS), pk, statuses, due_before).values(
            status=WebhookStatus.APPLIED, applied_at=now, error=None, attempts=_EVENTS.c.attempts + 1,
            attempted_at=now)
        if db.session.execute(claim).rowcount != 1:
            db.session.rollback()
            return None
        apply_event(brand_id, event_type, payload)
        db.session.commit()  # the order service committed its change with the claim already
        return WebhookStatus.APPLIED
    except Held:
        outcome = WebhookStatus.HELD
    except ServiceError as err:
        db.session.rollback()
        if err.code in DUPLICATE_CODES:
            outcome = WebhookStatus.DUPLICATE
        elif refusals == "raise":
            if _forget(pk):
                raise
            return None
        else:
            outcome = WebhookStatus.REJECTED
        error = _why(err)
    except Exception as err:  # noqa: BLE001 — recorded on the event; the sweep tries again
        log.exception("webhook event %s could not be applied", pk)
        outcome, error = WebhookStatus.FAILED, f"{type(err).__name__}: {err}"[:400]
    db.session.rollback()
    recorded = db.session.execute(
        update(_EVENTS).where(_EVENTS.c.id == pk, _EVENTS.c.status.in_(OPEN))  # never over an applied event
        .values(status=outcome, error=error, attempts=_EVENTS.c.attempts + 1, attempted_at=now, applied_at=None))
    db.session.commit()
    return outcome if recorded.rowcount == 1 else None


def _due(statement, pk: int, statuses, due_before: datetime | None):
    statement = statement.where(_EVENTS.c.id == pk, _EVENTS.c.status.in_(statuses))
    return statement if due_before is None else statement.where(_EVENTS.c.attempted_at <= due_before)


def _forget(pk: int) -> bool:
    """Delete an event the shop is told was refused (it may send it again, fixed)."""
    deleted = db.session.execute(delete(_EVENTS).where(_EVENTS.c.id == pk, _EVENTS.c.status == WebhookStatus.HELD))
    db.session.commit()
    return deleted.rowcount == 1


def apply_event(brand_id: int, event_type: str, data: dict) -> None:
    """Apply a stored order.completed, order.cancelled or order.refunded event through the
    order services; Held when its order has not arrived (or is not paid) yet."""
    change = _parse(event_type, data)
    order = order_ready(brand_id, change["external_id"])
    if event_type == "order.completed":
        orders.complete(brand_id, order.id, change["completed_at"])
    elif event_type == "order.cancelled":
        orders.cancel(brand_id, order.id, change["reason"])
    elif event_type == "order.refunded":
        orders.refund(brand_id, order.id, change["refund_id"], change["items"])
    else:  # order.paid is applied as it arrives (receive), with the order read from its request
        raise ValueError(f"{event_type} events are not applied later")


def release_held(brand_id: int, external_id: str) -> int:
    """Apply the events that were waiting for this order, in the order they arrived. Call it
    once the order's change has committed. Returns how many were applied."""
    applied = 0
    progress = True
    while progress:
        progress = False
        held = db.session.scalars(
            select(WebhookEvent.id)
            .where(WebhookEvent.brand_id == brand_id, WebhookEvent.status == WebhookStatus.HELD,
                   WebhookEvent.order_external_id == external_id)
            .order_by(WebhookEvent.id)
        ).all()
        for pk in held:
            if attempt(pk, (WebhookStatus.HELD,)) == WebhookStatus.APPLIED:
                applied += 1
                progress = True
    return applied


def sweep(now: datetime | None = None) -> int:
    """Try again every event still held a minute after its last try, and failed events with
    tries left (the workers run this every minute). Safe in several workers at once and to
    repeat: each event is claimed, and an applied event is never tried again. Returns how
    many events were applied."""
    due_before = (now or utcnow()) - RETRY_AFTER
    due = db.session.execute(
        select(WebhookEvent.id, WebhookEvent.brand_id, WebhookEvent.order_external_id)
        .where(or_(WebhookEvent.status == WebhookStatus.HELD,
                   (WebhookEvent.status == WebhookStatus.FAILED) & (WebhookEvent.attempts < MAX_ATTEMPTS)),
               WebhookEvent.attempted_at <= due_before)
        .order_by(WebhookEvent.id).limit(SWEEP_BATCH)
    ).all()
    applied = 0
    for pk, brand_id, external_id in due:
        if attempt(pk, (WebhookStatus.HELD, WebhookStatus.FAILED), due_before=due_before) == WebhookStatus.APPLIED:
            applied += 1
            if external_id:
                applied += release_held(brand_id, external_id)
    return applied


# ---------------------------------------------------------------- managers


def open_events(brand_id: int, limit: int = 200) -> list[WebhookEvent]:
    """The brand's events not applied: held, failed and rejected, newest first."""
    return list(db.session.scalars(
        select(WebhookEvent).where(WebhookEvent.brand_id == brand_id, WebhookEvent.status.in_(OPEN))
        .order_by(WebhookEvent.id.desc()).limit(limit)))


def retry(brand_id: int, pk: int) -> WebhookStatus | None:
    """A manager's retry of one of the brand's open events; what happened, or None when it
    had been applied (or was being tried) meanwhile."""
    found = db.session.scalar(select(WebhookEvent.order_external_id).where(
        WebhookEvent.id == pk, WebhookEvent.brand_id == brand_id, WebhookEvent.status.in_(OPEN)))
    if found is None:
        raise NotFound("webhook_event_not_found", _l("没有这个待处理的事件。"))
    outcome = attempt(pk, OPEN)
    if outcome == WebhookStatus.APPLIED:
        release_held(brand_id, found)
    return outcome


# ---------------------------------------------------------------- reading an event


def _parse(event_type: str, data: dict) -> dict:
    """An order.completed / .cancelled / .refunded event's fields, checked as the API checks
    a request body (the same codes and field names); ServiceError when malformed."""
    change = {"external_id": _field(data, "external_id", str, max_length=64)}
    if event_type == "order.completed":
        change["completed_at"] = _time(data, "completed_at")
    elif event_type == "order.cancelled":
        change["reason"] = _field(data, "reason", str, required=False)
    elif event_type == "order.refunded":
        items = []
        for i, raw in enumerate(_field(data, "items", list)):
            if not isinstance(raw, dict):
                raise ServiceError("invalid_type", _l("字段 %(name)s 的类型不正确。", name=f"items[{i}]"), f"items[{i}]")
            items.append(orders.RefundItemInput(sku=_field(raw, "sku", str, max_length=64),
                                                amount_fen=_field(raw, "amount_fen", int)))
        change["items"] = items
        change["refund_id"] = _field(data, "refund_id", str, max_length=64)
    return change


def _field(data: dict, name: str, kind: type, required: bool = True, max_length: int = 200):
    value = data.get(name)
    if value is None:
        if required:
            raise ServiceError("missing_field", _l("缺少字段 %(name)s。", name=name), name)
        return None
    ok = isinstance(value, int) and not isinstance(value, bool) if kind is int else isinstance(value, kind)
    if not ok:
        raise ServiceError("invalid_type", _l("字段 %(name)s 的类型不正确。", name=name), name)
    if isinstance(value, str) and len(value) > max_length:
        raise ServiceError("too_long", _l("字段 %(name)s 过长。", name=name), name)
    if isinstance(value, str) and "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise ServiceError("invalid_text", _l("字段 %(name)s 含有不允许的控制字符。", name=name), name)
    return value


def _time(data: dict, name: str) -> datetime | None:
    value = _field(data, name, str, required=False, max_length=40)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ServiceError("invalid_time", _l("%(name)s 必须是 ISO 8601 时间。", name=name), name) from None
    if moment.tzinfo is None:
        raise ServiceError("invalid_time", _l("%(name)s 必须带时区偏移，例如 +08:00。", name=name), name)
    return moment


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
