"""The in-app inbox: every money event a promoter should know about."""

from __future__ import annotations

from sqlalchemy import func, insert, literal, select, update

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


def insert_from(rows) -> None:
    """One notification per row of ``rows``, a SELECT of (user id, kind, data, created_at),
    written by one INSERT … SELECT in the caller's transaction (for events about thousands
    of promoters at once, such as a settlement run)."""
    db.session.execute(insert(Notification).from_select(["user_id", "kind", "data", "created_at"], rows))


def json_object(**fields):
    """A JSON object built in SQL from named column expressions, for ``insert_from``'s data."""
    name = "json_build_object" if db.engine.dialect.name == "postgresql" else "json_object"
    return getattr(func, name)(*(part for key, value in fields.items() for part in (literal(key), value)))


def unread_count(user_id: int) -> int:
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)))


def inbox(user_id: int, limit: int = 50) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user_id)
                                   .order_by(Notification.id.desc()).limit(limit)))


def mark_all_read(user_id: int) -> None:
    with transaction():
        db.session.execute(update(Notification).where(Notification.user_id == user_id,
                                                      Notification.read_at.is_(None)).values(read_at=utcnow()))
