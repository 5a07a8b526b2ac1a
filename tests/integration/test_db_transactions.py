"""How requests end their transactions on PostgreSQL: a request that only read rolls back (it
commits nothing), anything that wrote is really rolled back when the request or service fails,
and a connection the server cut off is a 503 and is replaced, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError

from distweb.extensions import db
from distweb.models import Brand


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("about psycopg's connections to PostgreSQL (prepared statements, cut connections)")
    return app


def _prepared(conn) -> set[str]:
    return set(conn.execute(text("SELECT name FROM pg_prepared_statements")).scalars())


def test_a_page_that_only_reads_commits_nothing(pg, make):
    from sqlalchemy import event

    from tests.conftest import Browser
    from tests.support.factories import PASSWORD

    make.promoter(name="只读", phone="13700000009")
    browser = Browser(pg.test_client())
    assert browser.login("13700000009", PASSWORD).status_code == 302
    ends = []
    with pg.app_context():
        engine = db.engine
    listeners = [(name, lambda conn, name=name: ends.append(name)) for name in ("commit", "rollback")]
    for name, fn in listeners:
        event.listen(engine, name, fn)
    try:
        assert browser.get("/promoter/").status_code == 200
    finally:
        for name, fn in listeners:
            event.remove(engine, name, fn)
    assert "commit" not in ends and "rollback" in ends


def test_a_rolled_back_write_is_not_kept(pg):
    with pg.app_context():
        session = db.session()
        session.execute(select(func.count(Brand.id))).scalar()  # a read first: the transaction started clean
        session.execute(insert(Brand).values(name="回滚品牌", short_name="回滚", timezone="Asia/Shanghai",
                                             theme_color="#d9363e"))
        session.rollback()
        assert session.execute(select(func.count(Brand.id))).scalar() == 0
        db.session.remove()


def test_a_write_through_a_cte_counts_as_a_write(pg):
    with pg.app_context():
        session = db.session()
        session.execute(text(
            "WITH b AS (INSERT INTO brands (name, short_name, timezone, theme_color, created_at, updated_at) "
            "VALUES ('CTE品牌', 'CTE', 'Asia/Shanghai', '#d9363e', now(), now()) RETURNING id) SELECT id FROM b"))
        session.rollback()
        assert session.execute(select(func.count(Brand.id))).scalar() == 0
        db.session.remove()


def test_a_failed_read_only_transaction_is_rolled_back_and_the_connection_works(pg):
    with pg.app_context():
        session = db.session()
        with pytest.raises(DBAPIError, match="division by zero"):
            session.execute(text("SELECT 1 / 0"))
        session.rollback()
        assert session.execute(text("SELECT 2")).scalar() == 2
        db.session.remove()


def test_a_service_that_wrote_and_failed_leaves_nothing(pg):
    """The services' transaction(): a read, a write, then a failure is a real rollback."""
    from distweb.services.tx import transaction

    with pg.app_context():
        with pytest.raises(RuntimeError), transaction() as session:
            session.execute(select(func.count(Brand.id))).scalar()
            session.execute(insert(Brand).values(name="半截品牌", short_name="半截", timezone="Asia/Shanghai",
                                                 theme_color="#d9363e"))
            raise RuntimeError("crash after the write")
        assert db.session.execute(select(func.count(Brand.id))).scalar() == 0
        db.session.remove()


def test_after_the_server_ends_every_connection_the_next_requests_still_work(pg, client, make):
    """What a database restart does to the pool: each pooled connection's backend is gone. The
    next requests get fresh connections (none is a 503), without a ping before each request."""
    make.brand()
    with pg.app_context():
        pool = db.engine.pool
        held = [db.engine.connect() for _ in range(3)]  # three connections into the pool
        pids = [conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() for conn in held]
        for conn in held:
            conn.rollback()
            conn.close()
        assert pool.checkedin() >= 3
        import psycopg

        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as admin:  # from outside the pool
            admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
    import time

    time.sleep(0.2)  # the goodbye reaches the sockets
    for _ in range(5):
        assert client.get("/auth/login").status_code == 200
        assert client.get("/healthz").status_code == 200


def _terminate(pid: int, url: str | None = None) -> None:
    import psycopg

    url = url or db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_read_only_transaction_whose_backend_was_terminated_ends_quietly(pg):
    """pg_terminate_backend between a request's last read and its end: the request's
    teardown must not fail (it was a 500), and the next request gets a live connection."""
    with pg.app_context():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
        _terminate(pid)
    # Leaving the context was the end of the request: its rollback found the connection gone.
    with pg.app_context():
        assert db.session.execute(text("SELECT pg_backend_pid()")).scalar() != pid


def test_a_query_on_a_terminated_backend_fails_and_the_rollback_does_not(pg):
    """The query fails (the error handler answers 503), and the rollback after it must not
    raise again (PendingRollbackError from the read-only check made it a 500)."""
    with pg.app_context():
        session = db.session()
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
        _terminate(pid)
        with pytest.raises(DBAPIError):
            session.execute(select(func.count(Brand.id)))
        session.rollback()
        assert session.execute(select(func.count(Brand.id))).scalar() == 0
        db.session.remove()


def test_a_query_cut_off_mid_flight_leaves_a_usable_session(pg):
    import threading
    import time

    with pg.app_context():
        session = db.session()
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        killer = threading.Timer(0.3, _terminate, (pid, url))
        killer.start()
        started = time.monotonic()
        with pytest.raises(DBAPIError) as caught:
            session.execute(text("SELECT pg_sleep(5)"))
        killer.join()
        assert time.monotonic() - started < 4 and caught.value.connection_invalidated
        session.rollback()
        assert session.execute(select(func.count(Brand.id))).scalar() == 0
        db.session.remove()


@pytest.mark.parametrize(("message", "sqlstate", "lost"), [
    ("consuming input failed: server closed the connection unexpectedly", None, True),
    ("the connection is lost", None, True),
    ("terminating connection due to administrator command", "57P01", True),
    ("could not serialize access due to concurrent update", "40001", False),
])
def test_which_psycopg_errors_mean_the_connection_is_gone(message, sqlstate, lost):
    import psycopg

    from distweb.db_setup import connection_lost

    err = psycopg.OperationalError(message)
    if sqlstate:
        err = type("E", (psycopg.OperationalError,), {"sqlstate": sqlstate})(message)
    assert connection_lost(err) is lost
    assert connection_lost(ValueError(message)) is False


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_read_on_a_terminated_backend_is_an_operational_error_and_the_next_one_works(pg, method):
    """The API key check on a connection the server ended: SQLAlchemy's OperationalError (the
    app answers 503), the session's rollback does not fail, and the next read gets a live
    connection. The same under GET and POST: one way to read."""
    from sqlalchemy.exc import OperationalError

    from distweb.services import api_keys

    with pg.test_request_context("/api/v1/orders", method=method):
        pid = db.session.connection().connection.dbapi_connection.info.backend_pid
        _terminate(pid)
        with pytest.raises(OperationalError) as caught:
            api_keys.key_and_brand_for(api_keys.KEY_PREFIX + "no-such-key")
        assert caught.value.connection_invalidated
        db.session.rollback()
        assert api_keys.key_and_brand_for(api_keys.KEY_PREFIX + "no-such-key") is None  # a live connection again
        db.session.remove()
