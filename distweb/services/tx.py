"""The one transaction helper services use."""

from __future__ import annotations

from contextlib import contextmanager

from distweb.extensions import db


@contextmanager
def transaction():
    """Commit what the block did, or roll all of it back; nothing half-written survives."""
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
