"""The in-app inbox: every money event a promoter should know about."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, update

from distweb.extensions import db
from distweb.models import Notification, Promoter
from distweb.models.base import utcnow
from distweb.services.tx import transaction


def notify_promoters(events: list[tuple[int, str, dict]]) -> None:
    """[(promoter id, kind, data)] → one notification each, for the promoter's user."""
    if not events:
        return
    users = dict(db.session.execute(select(Promoter.id, Promoter.user_id).where(
        Promoter.id.in_({pid for pid, _k, _d in events}))).all())
    with transaction():
        db.session.add_all([Notification(user_id=users[pid], kind=kind, data=data)
                            for pid, kind, data in events if pid in users])


# Built once: the promoter shell asks on every page (ix_notifications_user_unread).
_UNREAD_COUNT = select(func.count(Notification.id)).where(
    Notification.user_id == bindparam("user_id"), Notification.read_at.is_(None))


def unread_count(user_id: int) -> int:
    return db.session.execute(_UNREAD_COUNT, {"user_id": user_id}).scalar_one()


def inbox(user_id: int, limit: int = 50) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user_id)
                                   .order_by(Notification.id.desc()).limit(limit)))


def mark_all_read(user_id: int) -> None:
    with transaction():
        db.session.execute(update(Notification).where(Notification.user_id == user_id,
                                                      Notification.read_at.is_(None)).values(read_at=utcnow()))
