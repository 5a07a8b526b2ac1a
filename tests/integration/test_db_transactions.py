"""How requests end their transactions on PostgreSQL: a request that only read keeps the
connection's prepared statements (it is committed, which for reads is the same as a rollback),
and anything that wrote is still really rolled back when the request or service fails."""

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
            pytest.skip("psycopg's prepared statements exist only on PostgreSQL")
    return app


def _prepared(conn) -> set[str]:
    return set(conn.execute(text("SELECT name FROM pg_prepared_statements")).scalars())


def test_statements_stay_prepared_across_read_only_transactions(pg):
    with pg.app_context(), db.engine.connect() as conn:  # one connection, several transactions
        count = select(func.count(Brand.id))
        for _ in range(7):  # psycopg prepares on the fifth run; each run is its own transaction
            assert conn.execute(count).scalar() == 0
            conn.rollback()  # what the end of a read-only request does
        names = _prepared(conn)
        conn.rollback()
        assert names, "the SELECT was never prepared: each rollback discarded it"
        assert _prepared(conn) >= names  # still there after the next read-only transaction
        conn.rollback()


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
