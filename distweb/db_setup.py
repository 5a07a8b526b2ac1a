"""Database engine settings that must hold on every connection."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Writers wait for each other instead of failing at once with "database is locked".
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def init_app(app) -> None:
    from distweb.extensions import db

    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
