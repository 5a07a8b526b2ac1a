"""FastRead, the short way the hot pages run their statements, answers exactly what SQLAlchemy's
own execution answers: the same rows, with the same Python types (enums, aware datetimes,
booleans), on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, literal_column, select

from distweb.extensions import db
from distweb.models import Order
from distweb.models.order import OrderMode, OrderStatus
from distweb.services import accounts, materials, reports
from distweb.services.tx import FastRead, read


def _same(fast: FastRead, params: dict) -> list:
    expected = [tuple(row) for row in read(fast.statement, params)]
    got = fast(params)
    assert [tuple(row) for row in got] == expected
    assert [[type(v) for v in row] for row in got] == [[type(v) for v in row] for row in expected]
    return got


def test_the_home_statements_answer_what_sqlalchemy_answers(app, make):
    me = make.promoter(name="快读")
    product = make.product(price_fen=2590)
    make.order(me, product, quantity=2)
    make.order(me, product, quantity=1, status=OrderStatus.CANCELLED)
    make.order(me, product, quantity=1, days_ago=40, mode=OrderMode.CONSIGNMENT)
    make.promoter(name="下级", upline=me)
    with app.app_context():
        now = datetime.now(UTC)
        periods = {"today": now - timedelta(hours=1), "month": now - timedelta(days=30)}
        rows = _same(reports._PROMOTER_HOME, {
            "promoter_id": me.id, "brand_id": me.brand_id, "user_id": me.user_id, **periods})
        # One row per latest order, each carrying the figures.
        assert {(row.month_orders, row.month_sales_fen, row.team_size) for row in rows} == {(1, 5180, 1)}
        assert [row.order_status for row in rows] == [OrderStatus.PAID, OrderStatus.CANCELLED, OrderStatus.PAID]
        assert [row.order_mode for row in rows] == [OrderMode.CONSIGNMENT, OrderMode.PROMOTION,
                                                    OrderMode.PROMOTION]
        assert all(row.order_placed_at.tzinfo is not None for row in rows)
        assert rows[2].order_placed_at - rows[0].order_placed_at > timedelta(days=39)  # newest id first

        from distweb.models import User

        token = accounts.start_session(db.session.get(User, me.user_id), "pytest")
        db.session.commit()
        signed_in = _same(reports._SIGNED_IN_PROMOTER_HOME, {"token_hash": accounts.token_hash(token), **periods})
        # The same figures and orders, led by the signed-in user's columns.
        leading = len(accounts.SESSION_USER.selected_columns)  # the session user's columns lead
        assert [row[leading:] for row in signed_in] == [row for row in rows]
        assert {(row.name, row.promoter_id) for row in signed_in} == {("快读", me.id)}
        assert _same(reports._SIGNED_IN_PROMOTER_HOME, {"token_hash": "revoked or unknown", **periods}) == []
        db.session.remove()


def test_a_promoter_without_orders_gets_one_row_of_zeros(app, make):
    me = make.promoter(name="新人")
    with app.app_context():
        now = datetime.now(UTC)
        rows = _same(reports._PROMOTER_HOME, {"promoter_id": me.id, "brand_id": me.brand_id, "user_id": me.user_id,
                                              "today": now - timedelta(hours=1), "month": now - timedelta(days=30)})
        assert len(rows) == 1 and rows[0].order_id is None
        home = reports._home_from_rows(rows)
        assert (home.month.orders, home.earned_month_fen, home.frozen_fen, home.recent_orders) == (0, 0, 0, ())
        db.session.remove()


def test_the_signed_in_users_row(app, make):
    me = make.promoter(name="会话用户")
    with app.app_context():
        from distweb.models import User

        user = db.session.get(User, me.user_id)
        token = accounts.start_session(user, "pytest")
        db.session.commit()
        row = _same(accounts._USER_FOR_SESSION, {"token_hash": accounts.token_hash(token)})[0]
        assert (row.name, row.promoter_id, row.is_enabled) == ("会话用户", me.id, True)
        assert accounts._USER_FOR_SESSION.first({"token_hash": "no such token"}) is None
        db.session.remove()


@pytest.mark.parametrize("count", [1, 3, 12])
def test_an_expanding_list_of_any_length(app, make, count):
    with app.app_context():
        ids = list(range(1, count + 1))
        got = _same(materials._PICK_ROWS, {"ids": ids, "now": datetime.now(UTC)})
        assert got == []  # no materials yet: still a valid statement for every length
        db.session.remove()


def test_sees_what_the_session_has_not_committed_yet(app, make):
    me = make.promoter(name="未提交")
    product = make.product(price_fen=100)
    order = make.order(me, product)
    with app.app_context():
        db.session.get(Order, order.id).total_paid_fen = 99  # pending, flushed before the read
        now = datetime.now(UTC)
        row = reports._PROMOTER_HOME({"promoter_id": me.id, "brand_id": me.brand_id, "user_id": me.user_id,
                                      "today": now - timedelta(hours=1), "month": now - timedelta(days=30)})[0]
        assert (row.order_total_paid_fen, row.month_sales_fen) == (99, 99)
        db.session.rollback()
        db.session.remove()


def test_a_constant_in_list_must_be_written_as_sql(app):
    listed = FastRead(select(Order.id).where(Order.status.in_([OrderStatus.PAID, OrderStatus.SHIPPED])))
    written = FastRead(select(Order.id).where(Order.status.in_([literal_column("'paid'")]),
                                              Order.promoter_id == bindparam("promoter_id")))
    with app.app_context():
        with pytest.raises(ValueError, match="IN list"):
            listed({})
        assert written({"promoter_id": 1}) == []
        db.session.remove()


def test_on_the_reader_a_get_request_answers_what_sqlalchemy_answers(app, make):
    """In a GET request without a transaction FastRead runs on the autocommit reader, and on
    PostgreSQL through libpq's PQexecPrepared instead of a psycopg cursor: the same rows and
    Python types all the same."""
    me = make.promoter(name="读者")
    product = make.product(price_fen=990)
    make.order(me, product, quantity=3)
    make.order(me, product, quantity=1, status=OrderStatus.REFUNDED, mode=OrderMode.WHOLESALE)
    now = datetime.now(UTC)
    params = {"promoter_id": me.id, "brand_id": me.brand_id, "user_id": me.user_id,
              "today": now - timedelta(hours=1), "month": now - timedelta(days=30)}
    with app.app_context():
        expected = [tuple(row) for row in read(reports._PROMOTER_HOME.statement, params)]
        expected_types = [[type(v) for v in row] for row in expected]
        db.session.remove()
    with app.test_request_context("/promoter/"):
        for _ in range(3):  # prepared on the first run, then reused
            got = reports._PROMOTER_HOME(params)
            assert [tuple(row) for row in got] == expected
            assert [[type(v) for v in row] for row in got] == expected_types
        assert not db.session.registry.has() or not db.session().in_transaction()  # no ORM session was needed


def test_the_reader_prepares_again_after_a_rollback_deallocated_everything(app, make):
    from distweb.services import tx

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PQexecPrepared is the PostgreSQL reader's")
    me = make.promoter(name="重备")
    statement = FastRead(select(Order.id).where(Order.promoter_id == bindparam("promoter_id")))
    with app.test_request_context("/promoter/"):
        assert statement({"promoter_id": me.id}) == []
        connection, _ = tx._connection_for_fast_read()
        name = statement._plans[("postgresql", None)].pg_name
        assert connection.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = %s",
                                  [name.decode()]).fetchone()[0] == 1
        connection.execute("DEALLOCATE ALL")  # what psycopg sends when a transaction rolls back
        assert statement({"promoter_id": me.id}) == []
        with pytest.raises(Exception, match="invalid input syntax|integer"):
            statement({"promoter_id": "not a number"})
        assert statement({"promoter_id": me.id}) == []  # the failed call left the reader usable
