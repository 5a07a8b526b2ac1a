"""Inbound order webhooks: signed, replay-safe, stored as they arrive and applied by workers
in order per order (docs/API.md).

Receiving (the web request): the signature and the event's shape are checked (an order.paid's
order against the catalogue and promoters too: ``orders.check_order``), the event is stored
``queued`` in one short transaction and answered 202, and a drain of its lane is enqueued
(RQ, queue ``webhooks``). The database row, not Redis, is the record: an event stored while
Redis was away is applied by the workers' sweep. An event id seen before is acknowledged with
its state and not applied again.

Applying (the workers): an order's events all go through one lane (a hash of its external
id), and a lane's drain applies them in the order they arrived. Each try claims the event's
row (queued → applied) in the transaction that applies it, so the status and the change
commit together and two workers never both apply one event; a try that did not apply it
records why only if no other try has applied it meanwhile. Outcomes (``WebhookStatus``):

- an event whose order has not arrived (a refund before its order) is held; the order's
  arrival releases it (in arrival order, before the order's later events), and the sweep
  tries held events every minute (an order placed through the REST API releases nothing);
- the same change made before (the same refund id or order external id, under another event
  id or through the REST API) is a duplicate: nothing applied;
- a refusal by the order services (a refund beyond what was paid) is rejected: a dead letter;
  the shop may send the event again, fixed, under the same id;
- a failure (a database error, a bug) is tried again after a back-off (BACKOFF_SECONDS), and
  the order's later events wait behind it; after MAX_ATTEMPTS tries it is parked (dead).

Dead letters are listed on the manager's page (/manage/webhooks) with their error, to be
retried or dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from distweb import MAX_ID
from distweb.extensions import db
from distweb.models import Order, WebhookEvent
from distweb.models.base import utcnow
from distweb.models.fulfilment import WebhookStatus
from distweb.models.order import OrderStatus
from distweb.queues import REDIS_FAILURES, get_queue, redis_connection
from distweb.services import order_input, orders
from distweb.services.errors import NotFound, ServiceError
from distweb.services.tx import transaction

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300
EVENT_TYPES = ("order.paid", "order.completed", "order.refunded", "order.cancelled")
# Lanes: an order's events go through one, in order; lanes drain side by side.
LANES = 4
# A drain job applies at most this long, then hands the rest of its lane to a next job.
DRAIN_SECONDS = 20
DRAIN_BATCH = 500
KICK_KEY = "distweb:webhooks:kick:{lane}"
# Deliveries acknowledged in one second (a counter per second, kept a few seconds): how the
# drains know a burst is arriving (``Pace``).
INTAKE_KEY = "distweb:webhooks:intake:{second}"
INTAKE_KEEP_SECONDS = 5
# A drain asked for and not started within this long is asked for again.
KICK_TTL = 10
# A queued event whose drain has not come this long after it arrived is applied by the sweep.
QUEUED_GRACE = timedelta(seconds=5)
# A failed event is tried again after these waits (its first, second, ... failure) ...
BACKOFF_SECONDS = (5, 30, 120, 600, 1800)
# ... and after this many tries in all it is parked (dead) for a manager.
MAX_ATTEMPTS = 6
# The sweep tries a held event again this long after its last try.
RETRY_AFTER = timedelta(minutes=1)
SWEEP_BATCH = 200
SWEEP_DRAIN_SECONDS = 5
# A worker silent this long (seconds) is reported down.
WORKER_SILENT_AFTER = 60
# What the lanes' drains apply: stored and not tried, or failed and to be tried again.
PENDING = (WebhookStatus.QUEUED, WebhookStatus.FAILED)
# Still to be applied (a replay of such an event is answered 202, as the event was).
TO_APPLY = (*PENDING, WebhookStatus.HELD)
# Not applied (yet): the manager page lists these, and a manager may retry or drop them.
OPEN = (WebhookStatus.HELD, WebhookStatus.FAILED, WebhookStatus.DEAD, WebhookStatus.REJECTED)
UNAPPLIED = (WebhookStatus.QUEUED, *OPEN)
DEAD_LETTERS = (WebhookStatus.DEAD, WebhookStatus.REJECTED)
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


def lane_of(brand_id: int, external_id: str | None) -> int:
    """The lane an order's events go through: all of them through the same one."""
    return zlib.crc32(f"{brand_id}:{external_id or ''}".encode()) % LANES


def backoff(tries: int) -> timedelta:
    """How long a failed event waits after its ``tries``-th try."""
    return timedelta(seconds=BACKOFF_SECONDS[min(tries, len(BACKOFF_SECONDS)) - 1])


# ---------------------------------------------------------------- receiving


def check(event_id, event_type, data: dict) -> None:
    """Refuse now what could never be applied (ServiceError, with the API's codes and field
    names). An order.paid's order is checked by its caller (``orders.check_order``)."""
    if not isinstance(event_id, str) or not event_id or len(event_id) > 100:
        raise ServiceError("invalid_event_id", _l("事件 id 无效。"), "id")
    if event_type not in EVENT_TYPES:
        raise ServiceError("invalid_event_type", _l("不支持的事件类型。"), "type")
    if event_type != "order.paid":
        _parse(event_type, data)  # a malformed event is refused now, not stored


def receive(brand_id: int, event_id: str, event_type: str, data: dict) -> tuple[int, dict]:
    """Store one checked event (``check``) in one short transaction and ask a worker to apply
    it; returns (HTTP status, body): 202 ``queued`` for a new event, the stored event's state
    for an id seen before (202 while it is still to be applied, 200 once it is final). An
    event the order services refused (``rejected``) and sent again with a changed body is
    stored again in its place: the shop fixed it."""
    existing = db.session.execute(
        select(_EVENTS.c.id, _EVENTS.c.status, _EVENTS.c.payload)
        .where(_EVENTS.c.brand_id == brand_id, _EVENTS.c.event_id == event_id)).first()
    external_id = _external_id(event_type, data)
    lane = lane_of(brand_id, external_id)
    now = utcnow()
    if existing is not None:
        pk, status, payload = existing
        if status != WebhookStatus.REJECTED or payload == data:
            return _status_code(status), {"id": event_id, "status": "duplicate", "state": status.value}
        with transaction():
            fixed = db.session.execute(
                update(_EVENTS).where(_EVENTS.c.id == pk, _EVENTS.c.status == WebhookStatus.REJECTED)
                .values(status=WebhookStatus.QUEUED, type=event_type, payload=data, order_external_id=external_id,
                        lane=lane, error=None, attempts=0, received_at=now, attempted_at=now, next_attempt_at=None))
        if fixed.rowcount != 1:
            return 200, {"id": event_id, "status": "duplicate"}
    else:
        try:
            with transaction():
                db.session.execute(insert(_EVENTS).values(
                    brand_id=brand_id, event_id=event_id, type=event_type, order_external_id=external_id,
                    status=WebhookStatus.QUEUED, payload=data, received_at=now, attempted_at=now, attempts=0,
                    lane=lane))
        except IntegrityError:  # a concurrent delivery of this very event stored it first
            return 200, {"id": event_id, "status": "duplicate"}
    arrived(lane)
    return 202, {"id": event_id, "status": WebhookStatus.QUEUED.value}


def _status_code(status: WebhookStatus) -> int:
    return 202 if status in TO_APPLY else 200


def _why(err: ServiceError) -> str:
    return f"{err.code}: {err.message}"[:400]


def _kick_key(lane: int) -> str:
    return current_app.config.get("RQ_QUEUE_PREFIX", "") + KICK_KEY.format(lane=lane)


def _intake_key(second: int) -> str:
    return current_app.config.get("RQ_QUEUE_PREFIX", "") + INTAKE_KEY.format(second=second)


def arrived(lane: int) -> bool:
    """A new event was stored in ``lane``: count it in this second's intake and ask for a
    drain of the lane (``kick``), in one round trip to Redis."""
    try:
        intake = _intake_key(int(time.time()))
        pipe = redis_connection().pipeline(transaction=False)
        pipe.incr(intake)
        pipe.expire(intake, INTAKE_KEEP_SECONDS)
        pipe.set(_kick_key(lane), 1, nx=True, ex=KICK_TTL)
        if not pipe.execute()[-1]:
            return False
        return _enqueue_drain(lane)
    except REDIS_FAILURES:
        log.warning("Redis unavailable; webhook lane %s waits for the workers' sweep", lane)
        return False


def intake_rate() -> int:
    """Deliveries stored per second lately: the busier of the last whole second and this one."""
    second = int(time.time())
    return max(int(n or 0) for n in redis_connection().mget(_intake_key(second - 1), _intake_key(second)))


class Pace:
    """While a burst is arriving (at least ``WEBHOOK_BURST_RATE`` new events a second), a
    drain spends at most ``WEBHOOK_BURST_APPLY_PERCENT`` of its time applying and rests the
    remainder: the web and the workers share the machine's CPUs, and acknowledging a delivery
    must stay fast while the queue holds the rest. Outside a burst it never rests."""

    LOOK_EVERY = 0.25  # seconds between two looks at the intake

    def __init__(self):
        self.burst_rate = current_app.config.get("WEBHOOK_BURST_RATE", 100)
        self.percent = current_app.config.get("WEBHOOK_BURST_APPLY_PERCENT", 100)
        self.looked_at = float("-inf")
        self.burst = False

    def rest_after(self, spent: float) -> float:
        """Rest, if a burst is arriving, in proportion to ``spent`` seconds of applying;
        returns the seconds rested."""
        if self.percent >= 100 or self.burst_rate <= 0:
            return 0.0
        now = time.monotonic()
        if now - self.looked_at >= self.LOOK_EVERY:
            self.looked_at = now
            try:
                self.burst = intake_rate() >= self.burst_rate
            except REDIS_FAILURES:
                self.burst = False  # nothing arrives quickly without Redis either
        if not self.burst:
            return 0.0
        rest = spent * (100 - self.percent) / max(self.percent, 1)
        self.sleep(rest)
        return rest

    sleep = staticmethod(time.sleep)


def kick(lane: int) -> bool:
    """Enqueue a drain of the lane unless one is waiting already (a Redis flag the drain
    clears as it starts, so an event stored after that start kicks anew). Without Redis the
    event waits for the workers' sweep; it is stored, nothing is lost."""
    try:
        if not redis_connection().set(_kick_key(lane), 1, nx=True, ex=KICK_TTL):
            return False
        return _enqueue_drain(lane)
    except REDIS_FAILURES:
        log.warning("Redis unavailable; webhook lane %s waits for the workers' sweep", lane)
        return False


def _enqueue_drain(lane: int) -> bool:
    get_queue("webhooks").enqueue("worker.jobs.drain_webhooks", lane, job_timeout=DRAIN_SECONDS * 10,
                                  result_ttl=0, failure_ttl=3600)
    return True


# ---------------------------------------------------------------- applying


def drain(lane: int, now: datetime | None = None, seconds: float | None = DRAIN_SECONDS) -> int:
    """Apply the lane's queued events, and its failed events whose back-off is over, in the
    order they arrived. An order's events after one that failed and waits for its next try
    wait with it (they stay queued); a held event (its order has not come) holds nobody.
    Safe in several workers at once: each event is claimed. Stops after ``seconds`` and
    kicks the lane again if it may have more. Returns how many events were applied."""
    try:
        redis_connection().delete(_kick_key(lane))  # events stored from now on kick anew
    except REDIS_FAILURES:
        pass
    started = time.monotonic()
    pace = Pace()
    applied, after = 0, 0
    while True:
        db.session.commit()  # a fresh look
        at = now or utcnow()
        batch = db.session.execute(_DRAIN_BATCH, {"lane": lane, "after": after}).all()
        db.session.rollback()
        if not batch:
            return applied
        waiting: set[tuple[int, str | None]] = set()  # orders whose earlier event waits for its next try
        for pk, brand_id, external_id, event_type, status, next_at in batch:
            after = pk
            key = (brand_id, external_id)
            if status == WebhookStatus.FAILED and next_at is not None and next_at > at:
                waiting.add(key)
                continue
            if key in waiting:
                continue
            paid = event_type == "order.paid"
            began = time.monotonic()
            if external_id and not paid:  # its order's held events first, if the order came meanwhile
                applied += release_held(brand_id, external_id, before=pk)
            outcome = attempt(pk, PENDING)
            if outcome == WebhookStatus.FAILED:
                waiting.add(key)
            elif outcome in (WebhookStatus.APPLIED, WebhookStatus.DUPLICATE):
                applied += outcome == WebhookStatus.APPLIED
                if external_id and paid:  # its order is there now: what waited for it
                    applied += release_held(brand_id, external_id)
            pace.rest_after(time.monotonic() - began)
            if seconds is not None and time.monotonic() - started > seconds:
                try:
                    redis_connection().delete(_kick_key(lane))
                except REDIS_FAILURES:
                    pass
                kick(lane)  # the rest in a next job: this worker's other queues get their turn
                return applied


def attempt(pk: int, statuses: tuple[WebhookStatus, ...], due_before: datetime | None = None) -> WebhookStatus | None:
    """Try once to apply the stored event ``pk`` if its status is one of ``statuses`` (and,
    with ``due_before``, its last try was no later). Returns what happened, or None when the
    event was not there to try, or another try applied it meanwhile.

    Commits what the session holds first. An event that needs its order looks it up before
    anything is claimed (most tries of a held event find no order: they take no lock). Then
    the row is claimed (→ applied) and the event applied in one transaction (on SQLite it
    holds the write lock from its start; on PostgreSQL a second claim of the row waits for
    this one to end, then finds it applied): the status and the change commit together, or
    neither does (a worker killed mid-way leaves the event as it was, and it is tried again).
    A refusal by the order services is recorded (rejected: a dead letter), a failure is
    tried again after a back-off, and after MAX_ATTEMPTS tries parked (dead)."""
    db.session.commit()
    params = {"pk": pk, "statuses": list(statuses), "due_before": due_before or _NO_LIMIT}
    found = db.session.execute(_FOUND, params).first()
    if found is None:
        db.session.rollback()
        return None
    brand_id, event_type, payload, attempts = found
    now = utcnow()
    error = None
    try:
        if event_type != "order.paid":
            try:
                order_ready(brand_id, _parse(event_type, payload)["external_id"])
            finally:
                db.session.commit()  # only read: the claim starts a transaction of its own
        with transaction():
            claimed = db.session.execute(_CLAIM, {**params, "now": now}).rowcount == 1
            if claimed:
                apply_event(brand_id, event_type, payload)
        return WebhookStatus.APPLIED if claimed else None
    except Held:
        outcome = WebhookStatus.HELD
    except ServiceError as err:
        db.session.rollback()
        outcome = WebhookStatus.DUPLICATE if err.code in DUPLICATE_CODES else WebhookStatus.REJECTED
        error = _why(err)
    except Exception as err:  # noqa: BLE001 — recorded on the event; tried again after a back-off
        log.exception("webhook event %s could not be applied", pk)
        outcome, error = WebhookStatus.FAILED, f"{type(err).__name__}: {err}"[:400]
    db.session.rollback()
    tries = attempts + 1
    next_at = None
    if outcome == WebhookStatus.FAILED:
        if tries >= MAX_ATTEMPTS:
            outcome = WebhookStatus.DEAD
        else:
            next_at = now + backoff(tries)
    with transaction():
        recorded = db.session.execute(
            update(_EVENTS).where(_EVENTS.c.id == pk, _EVENTS.c.status.in_(UNAPPLIED))  # never over a final state
            .values(status=outcome, error=error, attempts=_EVENTS.c.attempts + 1, attempted_at=now, applied_at=None,
                    next_attempt_at=next_at))
    if recorded.rowcount != 1:
        return None
    if outcome == WebhookStatus.HELD and WebhookStatus.HELD not in statuses and _order_arrived(brand_id, payload):
        # Its order committed between the look-up and the hold, and its release found
        # nothing held yet: whichever committed second sees the other, so this look sees it.
        return attempt(pk, (WebhookStatus.HELD,))
    return outcome


def _order_arrived(brand_id: int, payload: dict) -> bool:
    db.session.commit()  # a fresh look
    try:
        order_ready(brand_id, payload.get("external_id"))
        return True
    except (Held, ServiceError):
        return False
    finally:
        db.session.rollback()


# The statements a drain runs for every event, built once.
_NO_LIMIT = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
_DUE = (_EVENTS.c.id == bindparam("pk"), _EVENTS.c.status.in_(bindparam("statuses", expanding=True)),
        _EVENTS.c.attempted_at <= bindparam("due_before", type_=_EVENTS.c.attempted_at.type))
_FOUND = select(_EVENTS.c.brand_id, _EVENTS.c.type, _EVENTS.c.payload, _EVENTS.c.attempts).where(*_DUE)
_CLAIM = update(_EVENTS).where(*_DUE).values(
    status=WebhookStatus.APPLIED, applied_at=bindparam("now", type_=_EVENTS.c.applied_at.type), error=None,
    attempts=_EVENTS.c.attempts + 1, attempted_at=bindparam("now", type_=_EVENTS.c.attempted_at.type),
    next_attempt_at=None)
_DRAIN_BATCH = (select(_EVENTS.c.id, _EVENTS.c.brand_id, _EVENTS.c.order_external_id, _EVENTS.c.type,
                       _EVENTS.c.status, _EVENTS.c.next_attempt_at)
                .where(_EVENTS.c.status.in_(PENDING), _EVENTS.c.lane == bindparam("lane"),
                       _EVENTS.c.id > bindparam("after"))
                .order_by(_EVENTS.c.id).limit(DRAIN_BATCH))
_HELD = (select(_EVENTS.c.id)
         .where(_EVENTS.c.brand_id == bindparam("brand_id"), _EVENTS.c.status == WebhookStatus.HELD,
                _EVENTS.c.order_external_id == bindparam("external_id"), _EVENTS.c.id < bindparam("before"))
         .order_by(_EVENTS.c.id))


def apply_event(brand_id: int, event_type: str, data: dict) -> None:
    """Apply a stored event through the order services; Held when an event other than
    order.paid finds its order not arrived (or not paid) yet."""
    if event_type == "order.paid":
        # The order read as POST /orders reads one (checked so when the event arrived).
        orders.place_order(_BrandRef(brand_id), order_input.order_input_from(data, source="webhook"))
        return
    change = _parse(event_type, data)
    order = order_ready(brand_id, change["external_id"])
    if event_type == "order.completed":
        orders.complete(brand_id, order.id, change["completed_at"])
    elif event_type == "order.cancelled":
        orders.cancel(brand_id, order.id, change["reason"])
    elif event_type == "order.refunded":
        orders.refund(brand_id, order.id, change["refund_id"], change["items"])
    else:
        raise ValueError(f"unknown event type {event_type}")


class _BrandRef:
    """What ``place_order`` reads of its brand: the id (``orders.place_order`` takes the
    Brand or anything with its id)."""

    __slots__ = ("id",)

    def __init__(self, brand_id: int):
        self.id = brand_id


def release_held(brand_id: int, external_id: str, before: int | None = None) -> int:
    """Apply the events that were waiting for this order, in the order they arrived (with
    ``before``: only those that arrived before that event). Call it once the order's change
    has committed. Returns how many were applied."""
    applied = 0
    progress = True
    while progress:
        progress = False
        held = db.session.scalars(_HELD, {"brand_id": brand_id, "external_id": external_id,
                                          "before": MAX_ID if before is None else before}).all()
        db.session.rollback()
        if held and before is not None and not _order_arrived(brand_id, {"external_id": external_id}):
            return applied  # they wait on: a try now would only count against them
        for pk in held:
            if attempt(pk, (WebhookStatus.HELD,)) == WebhookStatus.APPLIED:
                applied += 1
                progress = True
    return applied


def sweep(now: datetime | None = None) -> int:
    """What the workers do every minute besides the lanes' drains: apply the events whose
    drain never came (stored while Redis was away, or a killed worker's), the failed events
    whose back-off is over, and every event still held a minute after its last try. Safe in
    several workers at once and to repeat: each event is claimed, and an applied event is
    never tried again. Returns how many events were applied."""
    now = now or utcnow()
    applied = 0
    for lane in due_lanes(now):
        # Briefly: the sweep runs in the worker's main process (a backlog is the drains' work).
        applied += drain(lane, now=now, seconds=SWEEP_DRAIN_SECONDS)
    due_before = now - RETRY_AFTER
    held = db.session.execute(
        select(_EVENTS.c.id, _EVENTS.c.brand_id, _EVENTS.c.order_external_id)
        .where(_EVENTS.c.status == WebhookStatus.HELD, _EVENTS.c.attempted_at <= due_before)
        .order_by(_EVENTS.c.id).limit(SWEEP_BATCH)).all()
    db.session.rollback()
    for pk, brand_id, external_id in held:
        if attempt(pk, (WebhookStatus.HELD,), due_before=due_before) == WebhookStatus.APPLIED:
            applied += 1
            if external_id:
                applied += release_held(brand_id, external_id)
    return applied


def due_lanes(now: datetime | None = None) -> list[int]:
    """Lanes with an event queued for longer than QUEUED_GRACE (its drain never came) or a
    failed event due for its next try."""
    now = now or utcnow()
    lanes = set(db.session.scalars(select(_EVENTS.c.lane).where(
        _EVENTS.c.status == WebhookStatus.QUEUED, _EVENTS.c.attempted_at <= now - QUEUED_GRACE).distinct()))
    lanes.update(db.session.scalars(select(_EVENTS.c.lane).where(
        _EVENTS.c.status == WebhookStatus.FAILED,
        or_(_EVENTS.c.next_attempt_at.is_(None), _EVENTS.c.next_attempt_at <= now)).distinct()))
    db.session.rollback()
    return sorted(lanes)


def kick_due() -> int:
    """Kick the lanes that have events due (the workers' every-few-seconds round: a drain
    lost with a killed worker or a Redis restart is replaced within seconds). Returns how
    many drains were enqueued."""
    return sum(kick(lane) for lane in due_lanes())


# ---------------------------------------------------------------- managers


def open_events(brand_id: int, limit: int = 200) -> list[WebhookEvent]:
    """The brand's events not applied and not on their way: held, failed (to be tried
    again), and the dead letters (dead, rejected), newest first."""
    return list(db.session.scalars(
        select(WebhookEvent).where(WebhookEvent.brand_id == brand_id, WebhookEvent.status.in_(OPEN))
        .order_by(WebhookEvent.id.desc()).limit(limit)))


def _open_event(brand_id: int, pk: int) -> str | None:
    found = db.session.execute(select(_EVENTS.c.order_external_id).where(
        _EVENTS.c.id == pk, _EVENTS.c.brand_id == brand_id, _EVENTS.c.status.in_(OPEN))).first()
    if found is None:
        raise NotFound("webhook_event_not_found", _l("没有这个待处理的事件。"))
    return found[0]


def retry(brand_id: int, pk: int) -> WebhookStatus | None:
    """A manager's retry of one of the brand's open events, now; what happened, or None
    when it had been applied (or was being tried) meanwhile."""
    external_id = _open_event(brand_id, pk)
    outcome = attempt(pk, OPEN)
    if outcome in (WebhookStatus.APPLIED, WebhookStatus.DUPLICATE) and external_id:
        release_held(brand_id, external_id)
        kick(lane_of(brand_id, external_id))  # its order's later events, if they waited for it
    return outcome


def drop(brand_id: int, pk: int) -> bool:
    """A manager drops one of the brand's open events: it is kept (dropped), never applied,
    and a replay of its id is acknowledged. False when it was applied meanwhile."""
    _open_event(brand_id, pk)
    with transaction():
        dropped = db.session.execute(update(_EVENTS).where(
            _EVENTS.c.id == pk, _EVENTS.c.brand_id == brand_id, _EVENTS.c.status.in_(OPEN))
            .values(status=WebhookStatus.DROPPED, next_attempt_at=None, attempted_at=utcnow()))
    return dropped.rowcount == 1


# ---------------------------------------------------------------- figures


@dataclass
class QueueFigures:
    """The webhook queue as the jobs page and /healthz show it."""

    queued: int = 0  # stored, not tried yet
    retrying: int = 0  # failed, to be tried again
    held: int = 0  # waiting for their order
    dead: int = 0  # dead letters: failed on every try, or refused
    lag_seconds: float = 0.0  # how long the oldest queued event has waited
    oldest_received_at: datetime | None = None

    @property
    def depth(self) -> int:
        return self.queued + self.retrying


def figures(brand_id: int | None = None, now: datetime | None = None) -> QueueFigures:
    """Counts per state of the events not applied (one brand's, or all), and the lag."""
    now = now or utcnow()
    statement = (select(_EVENTS.c.status, func.count(), func.min(_EVENTS.c.received_at))
                 .where(_EVENTS.c.status.in_(UNAPPLIED)).group_by(_EVENTS.c.status))
    if brand_id is not None:
        statement = statement.where(_EVENTS.c.brand_id == brand_id)
    out = QueueFigures()
    for status, count, oldest in db.session.execute(statement):
        status = WebhookStatus(status)
        if status == WebhookStatus.QUEUED:
            out.queued = count
            if oldest is not None:
                oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
                out.oldest_received_at = oldest
                out.lag_seconds = max(0.0, round((now - oldest).total_seconds(), 1))
        elif status == WebhookStatus.FAILED:
            out.retrying = count
        elif status == WebhookStatus.HELD:
            out.held = count
        else:
            out.dead += count
    return out


def worker_heartbeat() -> dict:
    """The workers listening on the webhooks queue, from RQ's registry in Redis: how many,
    and how long ago the latest heartbeat was (``None``: no worker)."""
    from rq import Worker

    queue = get_queue("webhooks")
    beats = [w.last_heartbeat for w in Worker.all(queue=queue) if w.last_heartbeat is not None]
    age = None
    if beats:
        latest = max(b if b.tzinfo else b.replace(tzinfo=UTC) for b in beats)
        age = max(0.0, round((datetime.now(UTC) - latest).total_seconds(), 1))
    return {"workers": len(beats), "heartbeat_age_seconds": age,
            "status": "ok" if age is not None and age <= WORKER_SILENT_AFTER else "down"}


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
