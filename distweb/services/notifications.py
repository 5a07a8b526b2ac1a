"""The in-app inbox: what a promoter should know about (money events, new orders, the team's
first sales, newly pinned materials). Web Push (services.push) is an extra on top of it."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy import bindparam, event, func, insert, literal, select, update
from sqlalchemy.types import JSON

from distweb.extensions import db
from distweb.models import Notification, Order, Promoter
from distweb.models.base import utcnow
from distweb.models.network import PromoterStatus
from distweb.services.tx import read, transaction

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
        push_after_commit()


def notify_brand_promoters(brand_id: int, kind: str, data: dict) -> None:
    """One notification for every active promoter of the brand, in one INSERT … SELECT
    (inside the caller's transaction)."""
    db.session.execute(insert(Notification).from_select(
        ["user_id", "kind", "data", "created_at"],
        select(Promoter.user_id, literal(kind), literal(data, JSON), literal(utcnow(), Notification.created_at.type))
        .where(Promoter.brand_id == brand_id, Promoter.status == PromoterStatus.ACTIVE)))
    push_after_commit()


def order_paid(order: Order) -> None:
    """Inside the paying transaction: the promoter who brought the order hears of it, and,
    when it is that promoter's first sale, so does its upline."""
    if order.promoter_id is None:
        return
    promoter = db.session.get(Promoter, order.promoter_id)
    if promoter is None:
        return
    data = {"order_id": order.id, "order_no": order.external_id, "amount_fen": int(order.total_paid_fen)}
    db.session.add(Notification(user_id=promoter.user_id, kind="order_paid", data=data))
    if promoter.upline_id is not None:
        earlier = db.session.scalar(select(Order.id).where(
            Order.promoter_id == promoter.id, Order.paid_at.is_not(None), Order.id != order.id).limit(1))
        if earlier is None:
            upline_user = db.session.scalar(select(Promoter.user_id).where(Promoter.id == promoter.upline_id))
            if upline_user is not None:
                db.session.add(Notification(user_id=upline_user, kind="team_first_sale",
                                            data={"promoter_id": promoter.id, "name": promoter.name,
                                                  "order_no": order.external_id}))
    push_after_commit()


# Built once: the promoter shell asks on every page (ix_notifications_user_unread).
_UNREAD_COUNT = select(func.count(Notification.id)).where(
    Notification.user_id == bindparam("user_id"), Notification.read_at.is_(None))


def unread_count(user_id: int) -> int:
    return read(_UNREAD_COUNT, {"user_id": user_id}).scalar_one()


def inbox(user_id: int, limit: int = 50) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user_id)
                                   .order_by(Notification.id.desc()).limit(limit)))


def mark_all_read(user_id: int) -> None:
    with transaction():
        db.session.execute(update(Notification).where(Notification.user_id == user_id,
                                                      Notification.read_at.is_(None)).values(read_at=utcnow()))


# ---------------------------------------------------------------- waking the push job


def push_after_commit() -> None:
    """Ask for a push delivery once the current transaction commits (not before: the job
    must find the rows). A rolled-back transaction at worst wakes the job for nothing."""
    session = db.session()
    if session.info.get("push_kick_pending"):
        return
    session.info["push_kick_pending"] = True

    @event.listens_for(session, "after_commit", once=True)
    def _kick(sess):
        sess.info.pop("push_kick_pending", None)
        kick_push()


def kick_push() -> bool:
    """Enqueue the push job unless one is already waiting (a Redis flag the job clears when
    it starts). Without Redis the worker's sweep delivers later."""
    from distweb.queues import get_queue, redis_connection

    try:
        if not redis_connection().set(PUSH_KICK_KEY, 1, nx=True, ex=300):
            return False
        get_queue("default").enqueue("worker.jobs.deliver_push", job_timeout=600, result_ttl=0)
        return True
    except RedisError:
        log.warning("Redis unavailable; push waits for the worker's sweep")
        return False
