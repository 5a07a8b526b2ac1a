"""The dashboard's rollups (services/rollups.py) always give the figures a full recomputation
from the orders, commission lines and ledger gives (``dashboard.from_source_rows``): with
the deltas unfolded, folded, partly folded, and rebuilt from scratch; after orders, refunds,
partial refunds, cancellations, settlement, withdrawals and promoters joining, across the
brand's day boundary and a daylight-saving change."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from distweb.extensions import db
from distweb.models import (
    Brand,
    DashboardBrandDay,
    DashboardDelta,
    DashboardProductDay,
    DashboardPromoterDay,
    DashboardPromoterTotal,
    Order,
)
from distweb.models.base import utcnow
from distweb.services import dashboard, rollups, settlement, withdrawals
from distweb.services.tx import transaction
from tests.integration.test_dashboard import NOV, Net, build_net, local

SH = "Asia/Shanghai"


def _periods(tz: str, today: date) -> list[dashboard.Period]:
    d = date
    return [dashboard.Period(a, b, tz) for a, b in (
        (d(2026, 11, 1), d(2026, 11, 30)),  # one whole month
        (d(2026, 10, 2), d(2026, 10, 31)),  # the month before, nearly whole
        (d(2026, 10, 15), d(2026, 11, 20)),  # days at both ends of a whole month... none whole: all days
        (d(2026, 9, 20), d(2026, 12, 10)),  # two whole months and days either side
        (d(2026, 12, 1), d(2026, 12, 1)),  # one day, just after the brand's midnight
        (d(2026, 1, 1), d(2026, 12, 31)),  # a year: weekly trend, months
        (today - timedelta(days=29), today),
        (today - timedelta(days=364), today),
        (d(2025, 1, 1), d(2025, 1, 3)),  # nothing in it
    )]


def _everything(brand_id: int, period: dashboard.Period) -> dict:
    tables = {}
    for name, fetch in (("promoters", dashboard.promoter_ranking), ("products", dashboard.product_ranking),
                        ("unsold", dashboard.unsold_products), ("teams", dashboard.team_performance),
                        ("churned", dashboard.churned_core)):
        page = fetch(brand_id, period, limit=None)
        tables[name] = page.rows
    return {"summary": dashboard.summary(brand_id, period), "cards": dashboard.cards(brand_id, period),
            "trend": dashboard.trend(brand_id, period), "wallet": dashboard.wallet_totals(brand_id), **tables}


def assert_rollups_equal_recomputation(brand_id: int, tz: str) -> None:
    today = dashboard.local_today(tz)
    for period in _periods(tz, today):
        rolled = _everything(brand_id, period)
        with dashboard.from_source_rows():
            recomputed = _everything(brand_id, period)
        for key in recomputed:
            assert rolled[key] == recomputed[key], (period, key)


def _waiting() -> int:
    return db.session.scalar(select(func.count()).select_from(DashboardDelta))


def _sums() -> dict:
    """Every row of the three sums tables and the promoters' running totals (what folding and
    rebuilding must agree on)."""
    out = {}
    for model in (DashboardBrandDay, DashboardPromoterDay, DashboardProductDay, DashboardPromoterTotal):
        keys = [c.name for c in model.__table__.primary_key.columns]
        measures = [c.name for c in model.__table__.columns if c.name not in keys]
        rows = {}
        for row in db.session.execute(select(model.__table__)).mappings():
            values = tuple(int(row[m]) for m in measures)
            if any(values):
                rows[tuple(row[k] for k in keys)] = values
        out[model.__tablename__] = rows
    return out


@pytest.fixture
def net(app_ctx, make):
    return build_net(db.session.get(Brand, make.brand().id))


def _settle_and_withdraw(n: Net) -> None:
    """A recent order settled, part of it withdrawn and paid; another withdrawal requested
    and rejected (its money comes back)."""
    now = utcnow()
    order = n.order("A", "P2", 3, now - timedelta(days=20))  # A earns 3000
    from distweb.services import orders

    orders.complete(n.brand_id, order.id, now - timedelta(days=15))
    settlement.execute_run(settlement.start_run(n.brand_id, as_of=now - timedelta(days=1)).id)
    paid = withdrawals.request(n.p["A"].id, withdrawals.Request(1000, "alipay", "推客A", "a@alipay"))
    withdrawals.approve(n.brand_id, paid.id)
    withdrawals.mark_paid(n.brand_id, paid.id, "TX-1")
    back = withdrawals.request(n.p["A"].id, withdrawals.Request(1500, "alipay", "推客A", "a@alipay"))
    withdrawals.reject(n.brand_id, back.id, "信息有误")


def test_unfolded_deltas_give_the_figures_at_once(net):
    """Nothing folded: every figure comes from the deltas the services wrote, and equals the
    recomputation; a new paid order shows in the very next read."""
    assert _waiting() > 0
    assert_rollups_equal_recomputation(net.brand_id, SH)
    before = dashboard.summary(net.brand_id, NOV)
    net.order("K", "P6", 2, local("2026-11-18 08:00"))
    after = dashboard.summary(net.brand_id, NOV)
    assert after["gmv_fen"] == before["gmv_fen"] + 3000 and after["orders"] == before["orders"] + 1
    assert after["sell_through"]["sold"] == before["sell_through"]["sold"] + 1
    assert after["promoters"]["active"] == before["promoters"]["active"] + 1
    assert after["commission_accrued_fen"] == before["commission_accrued_fen"] + 300


def test_folding_keeps_every_figure_and_matches_a_rebuild(net):
    _settle_and_withdraw(net)
    unfolded = {p: _everything(net.brand_id, p) for p in _periods(SH, dashboard.local_today(SH))}
    folded = rollups.fold_all()
    assert folded > 0 and _waiting() == 0
    assert rollups.fold() == 0  # run again: nothing left, nothing counted twice
    for period, figures in unfolded.items():
        assert _everything(net.brand_id, period) == figures, period
    assert_rollups_equal_recomputation(net.brand_id, SH)
    incremental = _sums()
    assert incremental["dashboard_brand_days"] and incremental["dashboard_product_days"]
    # Rebuilt from the source rows, the sums are the very rows the folds made.
    counts = rollups.rebuild(net.brand_id)
    assert counts["brand_days"] > 0 and counts["promoter_days"] > 0 and counts["product_days"] > 0
    assert _sums() == incremental
    assert_rollups_equal_recomputation(net.brand_id, SH)


def test_partly_folded_then_more_refunds_cancellations_and_joins(net):
    """Half the deltas folded in small batches, then a partial refund of a folded order, a
    cancellation, and promoters joining: sums plus the waiting deltas still agree."""
    rollups.fold(limit=7)
    rollups.fold(limit=5)
    assert _waiting() > 0
    o1 = db.session.scalars(select(Order).where(Order.brand_id == net.brand_id, Order.total_paid_fen == 11800)).one()
    net.refund(o1, "P1", 1234, local("2026-12-02 09:00"), "R-late")  # an order paid 1 Nov, refunded in December
    late = net.order("L", "P3", 2, local("2026-11-29 22:00"))
    net.refund(late, "P3", 999, local("2026-11-30 10:00"), "R-part")
    net.cancel(late, local("2026-12-01 00:05"))  # the rest given back on the brand's 1 December
    net.promoter("P", local("2026-11-30 23:59"))
    net.promoter("Q", local("2026-12-01 00:00"), upline="A")
    net.order("Q", "P1", 1, local("2026-12-01 00:01"))
    assert_rollups_equal_recomputation(net.brand_id, SH)
    rollups.fold_all()
    assert_rollups_equal_recomputation(net.brand_id, SH)
    nov = dashboard.summary(net.brand_id, NOV)
    # The partial refund on 30 Nov, not the cancellation on 1 December (brand time).
    assert nov["refunded_fen"] == 16000 + 999
    assert nov["commission_accrued_fen"] == 4655 - 123 + 0  # O2 loses 1180 × 1234/11800 = 123; `late` keeps 0
    assert nov["promoters"]["total"] == 13 and nov["promoters"]["new"] == 5


def test_a_brand_in_new_york_across_the_daylight_saving_change(app_ctx, make):
    """The sums are by the brand's own days: 1 Nov 2026 in New York is 25 hours long."""
    ny = ZoneInfo("America/New_York")
    brand_id = make.brand().id
    with transaction():
        db.session.execute(update(Brand).where(Brand.id == brand_id).values(timezone="America/New_York"))
    brand = db.session.get(Brand, brand_id)
    n = Net(brand)
    n.product("1", "P1", 100)
    n.promoter("A", local("2026-01-01 00:00", ny))
    n.order("A", "P1", 1, local("2026-10-31 23:30", ny))
    n.order("A", "P1", 2, local("2026-11-01 00:30", ny))
    last = n.order("A", "P1", 3, local("2026-11-01 23:30", ny))
    n.order("A", "P1", 4, local("2026-11-02 00:30", ny))
    n.refund(last, "P1", 50, local("2026-11-02 00:10", ny), "R-1")
    period = dashboard.Period(date(2026, 10, 31), date(2026, 11, 2), "America/New_York")
    got = dashboard.summary(brand_id, period)
    assert got["series"] == [{"date": "2026-10-31", "gmv_fen": 100, "orders": 1},
                             {"date": "2026-11-01", "gmv_fen": 500, "orders": 2},
                             {"date": "2026-11-02", "gmv_fen": 400, "orders": 1}]
    one_day = dashboard.Period(date(2026, 11, 1), date(2026, 11, 1), "America/New_York")
    assert dashboard.sales(brand_id, one_day)["gmv_fen"] == 500
    assert dashboard.sales(brand_id, one_day)["refunded_fen"] == 0
    rollups.fold_all()
    assert dashboard.summary(brand_id, period) == got
    assert_rollups_equal_recomputation(brand_id, "America/New_York")
    incremental = _sums()
    rollups.rebuild(brand_id)
    assert _sums() == incremental


def test_a_rolled_back_order_writes_no_delta(net):
    from distweb.services import orders

    waiting = _waiting()

    def give_up(order):  # the order, its commission and ledger are written, not committed
        raise RuntimeError("the caller gives up")

    with pytest.raises(RuntimeError):
        orders.place_order(net.brand, orders.OrderInput(
            external_id="ROLLED-BACK", mode="promotion", promoter_code=net.codes["A"],
            items=[orders.ItemInput(sku="P1", quantity=1)], paid_at=local("2026-11-11 11:00")), before_commit=give_up)
    assert _waiting() == waiting
    net.order("A", "P1", 1, local("2026-11-11 11:00"))  # the next transaction writes only its own
    assert dashboard.summary(net.brand_id, NOV)["gmv_fen"] == 54600 + 5900
    net.brand = db.session.get(Brand, net.brand_id)
    assert_rollups_equal_recomputation(net.brand_id, SH)


def test_the_rebuild_command_and_the_fold_command(net, app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["dashboard", "fold"])
    assert result.exit_code == 0 and "folded" in result.output
    assert _waiting() == 0
    # Sums lost or wrong (a restore, a hand edit): the rebuild puts them right.
    with transaction():
        db.session.execute(update(DashboardBrandDay).values(gmv_fen=0))
    assert dashboard.summary(net.brand_id, NOV)["gmv_fen"] == 0
    result = runner.invoke(args=["dashboard", "rebuild-rollups"])
    assert result.exit_code == 0 and f"brand {net.brand_id}:" in result.output
    db.session.expire_all()
    assert dashboard.summary(net.brand_id, NOV)["gmv_fen"] == 54600
    assert_rollups_equal_recomputation(net.brand_id, SH)


def test_the_migration_backfills_existing_orders(net, app):
    """Upgrading a database that already holds orders fills the sums (migration 0019)."""
    from flask_migrate import downgrade, upgrade

    from tests.integration.test_migrations import MIGRATIONS

    rollups.fold_all()
    folded = _sums()
    db.session.remove()
    downgrade(directory=str(MIGRATIONS), revision="9b4e7d2c1a05")  # the one before the rollups
    upgrade(directory=str(MIGRATIONS))
    db.session.remove()
    assert _sums() == folded
    assert dashboard.summary(net.brand_id, NOV)["gmv_fen"] == 54600


def test_an_idle_worker_folds_the_deltas(net):
    """The worker's frequent upkeep folds what waits; the figures do not change."""
    from worker.main import sweep_jobs

    before = dashboard.summary(net.brand_id, NOV)
    assert _waiting() > 0
    sweep_jobs(quick=True)
    assert _waiting() == 0
    assert dashboard.summary(net.brand_id, NOV) == before
