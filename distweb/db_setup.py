"""Database engine settings that must hold on every connection."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin: the module's
    # legacy mode never opens one before DDL (so a failed migration would be half-applied)
    # and cannot take the write lock up front (BEGIN IMMEDIATE) when we need it.
    dbapi_connection.isolation_level = None
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
            event.listen(engine, "begin", _sqlite_begin)


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql(conn.info.pop("sqlite_begin", "BEGIN"))
