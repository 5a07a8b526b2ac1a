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
        figures = _same(reports._HOME_FIGURES, {
            "promoter_id": me.id, "brand_id": me.brand_id, "user_id": me.user_id, "today": now - timedelta(hours=1),
            "month": now - timedelta(days=30), "since": now - timedelta(days=30)})
        assert figures[0][:2] == (1, 5180)  # the paid order only: the cancelled one is no sale
        assert figures[0][4] == 1  # the direct team
        recent = _same(reports._RECENT_ORDERS, {"promoter_id": me.id, "limit": 5})
        assert [row.status for row in recent] == [OrderStatus.PAID, OrderStatus.CANCELLED, OrderStatus.PAID]
        assert [row.mode for row in recent] == [OrderMode.CONSIGNMENT, OrderMode.PROMOTION, OrderMode.PROMOTION]
        assert all(row.placed_at.tzinfo is not None for row in recent)
        assert recent[2].placed_at - recent[0].placed_at > timedelta(days=39)  # newest id first
        db.session.remove()


def test_the_signed_in_users_row(app, make):
    me = make.promoter(name="会话用户")
    with app.app_context():
        from distweb.models import User

        user = db.session.get(User, me.user_id)
        token = accounts.start_session(user, "pytest")
        db.session.commit()
        row = _same(accounts._USER_FOR_SESSION, {"token_hash": accounts._token_hash(token)})[0]
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
        row = reports._RECENT_ORDERS({"promoter_id": me.id, "limit": 1})[0]
        assert row.total_paid_fen == 99
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
