"""The one transaction helper services use."""

from __future__ import annotations

from contextlib import contextmanager

from distweb.db_setup import sqlite_write
from distweb.extensions import db


@contextmanager
def transaction():
    """Commit what the block did, or roll all of it back; nothing half-written survives.
    On SQLite the block holds the write lock from its start (``db_setup.sqlite_write``)."""
    session = db.session()
    if session.get_bind().dialect.name == "sqlite":
        with sqlite_write(session):
            yield from _committed(session)
    else:
        yield from _committed(session)


def _committed(session):
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
