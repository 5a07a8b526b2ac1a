"""Database engine settings that must hold on every connection."""

from __future__ import annotations

import select
from contextlib import contextmanager
from contextvars import ContextVar

from flask import current_app, has_request_context, request
from sqlalchemy import event, exc
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
    from distweb.services import versions  # noqa: F401 — its session events

    # Registered after Flask-SQLAlchemy's teardown, so it runs before it (teardowns run in
    # reverse order).
    app.teardown_appcontext(_end_transaction)

    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        if engine.dialect.driver == "psycopg":
            event.listen(engine, "handle_error", _pg_lost_connection)
            event.listen(engine.pool, "checkout", _pg_drop_closed)


def _end_transaction(error: BaseException | None) -> None:
    """Close the session (which rolls back what the request left open) before Flask-SQLAlchemy
    removes it. If the server ended the connection meanwhile (a restart, pg_terminate_backend),
    the rollback fails, SQLAlchemy discards the connection as a disconnect, and the request
    still ends normally: nothing was committed, so nothing is lost, and the next request gets
    a new connection."""
    from distweb.extensions import db

    try:
        db.session.close()
    except exc.DBAPIError as err:
        if not err.connection_invalidated:
            raise


# --- SQLite: writers queue instead of failing -------------------------------------------------
#
# In WAL mode a transaction that began with a plain (deferred) BEGIN reads a snapshot; if it
# then writes after another connection committed, SQLite refuses at once with "database is
# locked" (SQLITE_BUSY_SNAPSHOT), and busy_timeout cannot help: waiting would not make the
# snapshot current. A transaction that takes the write lock when it begins (BEGIN IMMEDIATE)
# waits on busy_timeout for the writer before it instead, then reads the latest data. So the
# transactions that may write begin IMMEDIATE: a web request that is not a GET/HEAD holds the
# lock from its first statement (a few milliseconds), and everywhere else (reading pages,
# jobs, commands) the blocks that write through ``transaction()`` take it (``sqlite_write``).
# Reading stays deferred, so readers never wait for writers, and a job that reads for long
# (a PDF render) never holds up the web's writes.

_write_intent: ContextVar[bool] = ContextVar("distweb_sqlite_write", default=False)
READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _sqlite_begin(conn) -> None:
    immediate = _write_intent.get() or _request_writes()
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
    conn.info["distweb_deferred"] = not immediate


def _request_writes() -> bool:
    """A web request that is not a GET/HEAD, unless its view reads first (``reads_first``)."""
    if not has_request_context() or request.method in READING_METHODS:
        return False
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return not getattr(view, "distweb_reads_first", False)


def reads_first(view):
    """Mark a view whose request reads first and writes only inside ``transaction()`` blocks
    (its before-request hooks too): on SQLite it does not hold the write lock from its first
    statement, as other writing requests do, only for its writing blocks. For a short write
    behind its reads under a burst (the webhook receiver: the key, the duplicate check and
    the order's check are read while the workers write)."""
    view.distweb_reads_first = True
    return view


@contextmanager
def sqlite_write(session):
    """Run a writing block in a transaction that holds SQLite's write lock from its start.

    A deferred transaction the session already has (a reading page that now records a click)
    is ended first, if it only read: its snapshot may be stale by now, and writing on it would
    fail instead of waiting. Pending changes stay where they are: they are part of the write."""
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        if session.connection().info.get("distweb_deferred"):
            session.commit()
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


def connection_lost(err: BaseException, connection=None) -> bool:
    """psycopg's error says the connection to the server is gone: an error of the client
    (no SQLSTATE: "server closed the connection unexpectedly", "the connection is lost"), or
    the server's connection exception / operator intervention classes (08, 57P); or, given
    the psycopg connection, any error after which libpq reports it bad."""
    import psycopg
    from psycopg.pq import ConnStatus

    if not isinstance(err, psycopg.Error):
        return False
    if connection is not None and (connection.closed or connection.pgconn.status == ConnStatus.BAD):
        return True
    if not isinstance(err, psycopg.OperationalError):
        return False
    state = getattr(err, "sqlstate", None)
    return state is None or state.startswith(("08", "57P"))


def _pg_lost_connection(ctx) -> None:
    # SQLAlchemy asks psycopg whether the connection is broken, and when the server ends it
    # in the middle of a query psycopg does not always say so yet: the connection stayed in
    # the pool's hands as if alive, the rollback after the failed query failed in turn, and
    # the 503 the request should get became a 500. Tell SQLAlchemy it is a disconnect, so
    # the connection is discarded and the rollback skipped.
    if not ctx.is_disconnect and connection_lost(ctx.original_exception):
        ctx.is_disconnect = True


# --- PostgreSQL: a pooled connection the server has closed is never handed out -----------------
#
# After a database restart (or an idle timeout, or pg_terminate_backend) every pooled connection
# is dead, and the first query on each would fail: a 503 for a request that did nothing wrong.
# pool_pre_ping prevents that with a SELECT 1 round trip before every request. A server that
# ends a connection says so: it sends its goodbye (an error message) and closes the socket, so
# the socket of an idle connection turns readable. That is checked instead, without a round
# trip; the pool then opens a new connection in its place (DisconnectionError).


def _pg_drop_closed(dbapi_connection, connection_record, connection_proxy) -> None:
    if dbapi_connection.closed or dbapi_connection.broken:
        raise exc.DisconnectionError("the connection is closed")
    readable, _, _ = select.select([dbapi_connection.pgconn.socket], [], [], 0)
    if readable:  # nothing is expected on an idle connection (we never LISTEN)
        raise exc.DisconnectionError("the server closed the connection")
