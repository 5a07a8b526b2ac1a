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


def read(statement, params: dict | None = None):
    """Run a read-only statement that returns plain rows (columns, no ORM entities) on the
    session's connection, inside the session's transaction (the same snapshot as the rest
    of the request). It skips the ORM's per-statement set-up and result processing, which
    cost several times the query itself for the small statements the pages run on every
    request. Pending changes are flushed first, as the session would before a query."""
    session = db.session()
    if session.new or session.dirty or session.deleted:
        session.flush()
    return session.connection().execute(statement, params)
