"""The in-app inbox: what a promoter should know about (money events, new orders, the team's
first sales, newly pinned materials). Web Push (services.push) is an extra on top of it."""

from __future__ import annotations

import functools
import logging
import time

from sqlalchemy import bindparam, event, exists, func, insert, literal, select, union_all, update
from sqlalchemy.types import JSON, Boolean, Integer, String

from distweb.extensions import db
from distweb.models import Notification, Order, Promoter, User
from distweb.models.base import json_object as sql_json_object
from distweb.models.base import utcnow
from distweb.models.network import PromoterStatus
from distweb.services import versions
from distweb.services.tx import transaction

log = logging.getLogger(__name__)

PUSH_KICK_KEY = "distweb:push:kick"


def notify_promoters(events: list[tuple[int, str, dict]]) -> None:
    """[(promoter id, kind, data)] → one notification each, for the promoter's user."""
    if not events:
        return
    users = dict(db.session.execute(select(Promoter.id, Promoter.user_id).where(
        Promoter.id.in_({pid for pid, _k, _d in events}))).all())
    with transaction():
        db.session.add_all([Notification(user_id=users[pid], kind=kind, data=data)
                            for pid, kind, data in events if pid in users])
        versions.touch_promoters(users)
        push_after_commit()


def notify_brand_promoters(brand_id: int, kind: str, data: dict) -> None:
    """One notification for every active promoter of the brand, in one INSERT … SELECT
    (inside the caller's transaction)."""
    insert_from(brand_id, select(Promoter.user_id, literal(kind), literal(data, JSON),
                                 literal(utcnow(), Notification.created_at.type))
                .where(Promoter.brand_id == brand_id, Promoter.status == PromoterStatus.ACTIVE))


def order_paid(order: Order) -> None:
    """Inside the paying transaction: the promoter who brought the order hears of it, and,
    when it is that promoter's first sale, so does its upline. One INSERT … SELECT: the
    upline's notice is a second row only while the promoter has no other paid order (its
    name, the promoter's user's, is read in the statement, for that row only)."""
    if order.promoter_id is None:
        return
    promoter = db.session.get(Promoter, order.promoter_id)
    if promoter is None:
        return
    params = {"user_id": promoter.user_id, "now": utcnow(), "data": {
        "order_id": order.id, "order_no": order.external_id, "amount_fen": int(order.total_paid_fen)}}
    upline = db.session.get(Promoter, promoter.upline_id) if promoter.upline_id is not None else None
    if upline is None:
        statement = _order_paid_statements()[0]
    else:  # usually in the session already: the order's chain
        statement = _order_paid_statements()[1]
        params.update(upline_user_id=upline.user_id, promoter_id=promoter.id, promoter_user_id=promoter.user_id,
                      order_no=order.external_id, order_id=order.id)
    db.session.connection().execute(statement, params)
    versions.touch_promoters((promoter.id, upline.id if upline is not None else None))
    push_after_commit()


@functools.cache
def _order_paid_statements() -> tuple:
    """(the promoter's notice, the same with its upline's first-sale notice), built once
    (the JSON object is built in SQL)."""
    columns = ["user_id", "kind", "data", "created_at", "push_pending"]
    now = bindparam("now", type_=Notification.created_at.type)
    own = select(bindparam("user_id", type_=Integer), literal("order_paid", String), bindparam("data", type_=JSON),
                 now, literal(True, Boolean))
    promoter_id = bindparam("promoter_id", type_=Integer)
    first_sale = select(
        bindparam("upline_user_id", type_=Integer), literal("team_first_sale", String),
        json_object(promoter_id=promoter_id,
                    name=select(User.name).where(User.id == bindparam("promoter_user_id", type_=Integer))
                    .scalar_subquery(),
                    order_no=bindparam("order_no", type_=String)),
        now, literal(True, Boolean),
    ).where(~exists().where(Order.promoter_id == promoter_id, Order.paid_at.is_not(None),
                            Order.id != bindparam("order_id", type_=Integer)))
    return (insert(Notification).from_select(columns, own),
            insert(Notification).from_select(columns, union_all(own, first_sale)))


# Built once: the promoter shell asks on every page (ix_notifications_user_unread).
_UNREAD_COUNT = select(func.count(Notification.id)).where(
    Notification.user_id == bindparam("user_id"), Notification.read_at.is_(None))


def insert_from(brand_id: int, rows) -> None:
    """One notification per row of ``rows``, a SELECT of (user id, kind, data, created_at)
    naming users of the brand, written by one INSERT … SELECT in the caller's transaction
    (for events about thousands of promoters at once, such as a settlement run). The users
    are not known here, so the brand's version is raised: every promoter's bell is read
    afresh."""
    db.session.execute(insert(Notification).from_select(["user_id", "kind", "data", "created_at"], rows))
    versions.touch_brand(brand_id)
    push_after_commit()


def json_object(**fields):
    """A JSON object built in SQL from named column expressions, for ``insert_from``'s data."""
    return sql_json_object(*(part for key, value in fields.items() for part in (literal(key), value)))


def unread_count(user_id: int) -> int:
    return db.session.scalar(_UNREAD_COUNT, {"user_id": user_id})


def inbox(user_id: int, limit: int = 50) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user_id)
                                   .order_by(Notification.id.desc()).limit(limit)))


def mark_all_read(user_id: int) -> None:
    with transaction():
        db.session.execute(update(Notification).where(Notification.user_id == user_id,
                                                      Notification.read_at.is_(None)).values(read_at=utcnow()))
        versions.touch_users((user_id,))


# ---------------------------------------------------------------- waking the push job


def push_after_commit() -> None:
    """Ask for a push delivery once the current transaction commits (not before: the job
    must find the rows). A rolled-back transaction at worst wakes the job for nothing."""
    session = db.session()
    session.info["push_kick_pending"] = True
    if not session.info.get("push_listening"):
        # One listener for the session's life (``info`` lives as long as the session), not
        # one per transaction: a listener added with once=True stays registered after it
        # fires, so a long job in one session (an import of 50,000 orders) dispatched every
        # commit to all of them — each commit slower than the one before.
        session.info["push_listening"] = True
        event.listen(session, "after_commit", _kick_if_pending)


def _kick_if_pending(session) -> None:
    if session.info.pop("push_kick_pending", None):
        kick_push()


KICK_INTERVAL_S = 1.0
_last_kick = [float("-inf")]


def reset_kick() -> None:
    """Forget the last wake-up (tests start each from a clean process state)."""
    _last_kick[0] = float("-inf")


def kick_push() -> bool:
    """Enqueue the push job unless one is already waiting (a Redis flag the job clears when
    it starts). At most once a second per process: at a burst of orders the one job sends
    every pending notice, and a notice that misses it goes with the next kick or the
    worker's sweep (every minute), as it does without Redis."""
    from distweb.queues import REDIS_FAILURES, get_queue, redis_connection

    now = time.monotonic()
    if now - _last_kick[0] < KICK_INTERVAL_S:
        return False
    _last_kick[0] = now
    try:
        if not redis_connection().set(PUSH_KICK_KEY, 1, nx=True, ex=300):
            return False
        get_queue("default").enqueue("worker.jobs.deliver_push", job_timeout=600, result_ttl=0)
        return True
    except REDIS_FAILURES:
        log.warning("Redis unavailable; push waits for the worker's sweep")
        return False
