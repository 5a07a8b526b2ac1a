"""Promoters' figures over long periods, read from the running totals at month ends
(dashboard_promoter_totals: a period's whole months are the difference of two snapshots):
checked against hand-computed values on a small network, with ties, a 0-fen seller, an
upline whose commission was all reversed, periods with nothing in them, orders folded out
of month order and a month past the latest snapshot."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, select

from distweb.extensions import db
from distweb.models import Brand, DashboardPromoterTotal
from distweb.services import dashboard, rollups
from tests.integration.test_dashboard import Net, local

SH = "Asia/Shanghai"
YEAR = dashboard.Period(date(2026, 1, 1), date(2026, 12, 31), SH)  # twelve whole months
MIDDLE = dashboard.Period(date(2026, 2, 15), date(2026, 9, 30), SH)  # Feb 15–28, then March to September
SECOND_HALF = dashboard.Period(date(2026, 7, 1), date(2026, 12, 31), SH)  # previous: 29 Dec 2025 – 30 Jun 2026
BEFORE = dashboard.Period(date(2025, 1, 1), date(2025, 11, 30), SH)  # before any figure
AFTER = dashboard.Period(date(2027, 1, 1), date(2027, 6, 30), SH)  # after the latest snapshot


@pytest.fixture(params=["snapshots", "month sums"])
def n(request, app_ctx, make, monkeypatch):
    """Read both ways: whole months from two snapshots, and from the month sums (which of
    the two a period uses depends on how many rows each would read)."""
    monkeypatch.setattr(rollups, "snapshots_pay", lambda _brand_id, _months: request.param == "snapshots")
    return _net(make)


def _net(make):
    """Commission on the default plan: 10% to the seller, 5% to its upline."""
    n = Net(db.session.get(Brand, make.brand().id))
    n.product("1", "P1", 1000)
    n.product("2", "P2", 3000)
    n.product("0", "P0", 0)
    joined = local("2025-12-01 09:00")
    for key, upline in (("A", None), ("B", "A"), ("C", None), ("D", None), ("Z", None)):
        n.promoter(key, joined, upline=upline)
    n.order("B", "P1", 1, local("2026-01-10 12:00"))  # B 1000 (commission 100), A 50
    n.order("A", "P1", 1, local("2026-02-28 12:00"))  # A 1000 (100)
    n.order("B", "P2", 1, local("2026-03-05 12:00"))  # B 3000 (300), A 150
    n.order("C", "P1", 3, local("2026-03-20 12:00"))  # C 3000 (300)
    n.order("Z", "P0", 1, local("2026-04-01 12:00"))  # Z 0 fen: a sale, no commission
    n.order("D", "P2", 1, local("2026-06-15 12:00"))  # D 3000 (300)
    n.order("D", "P1", 1, local("2026-07-01 12:00"))  # D 1000 (100)
    n.order("C", "P1", 1, local("2026-09-30 23:59"))  # C 1000 (100), on the brand's 30 September
    cancelled = n.order("B", "P1", 1, local("2026-10-02 12:00"))  # B 1000 (100), A 50 ...
    n.cancel(cancelled, local("2026-10-03 12:00"))  # ... both reversed; B's GMV and order stay
    return n


def _ranking(n, period) -> list[tuple]:
    return [(row["code"], row["gmv_fen"], row["orders"], row["commission_fen"])
            for row in dashboard.promoter_ranking(n.brand_id, period, limit=None).rows]


def _by_gmv(n, rows: list[tuple]) -> list[tuple]:
    """Keyed by promoter, in the ranking's order: GMV down, then code (the tie-break)."""
    return sorted([(n.codes[key], *figures) for key, *figures in rows], key=lambda r: (-r[1], r[0]))


def _top(n, rows: list[tuple]) -> list[dict]:
    ordered = sorted([(n.codes[key], gmv, orders) for key, gmv, orders, _kept in rows],
                     key=lambda r: (-r[1], -r[2], r[0]))
    return [{"code": code, "name": f"推客{code_key(n, code)}", "gmv_fen": gmv, "orders": orders}
            for code, gmv, orders in ordered]


def code_key(n, code: str) -> str:
    return next(key for key, value in n.codes.items() if value == code)


EXPECTED = {
    # key, GMV, orders, commission kept (all levels, less reversals)
    YEAR: [("B", 5000, 3, 400), ("C", 4000, 2, 400), ("D", 4000, 2, 400), ("A", 1000, 1, 300), ("Z", 0, 1, 0)],
    MIDDLE: [("B", 3000, 1, 300), ("C", 4000, 2, 400), ("D", 4000, 2, 400), ("A", 1000, 1, 250), ("Z", 0, 1, 0)],
    SECOND_HALF: [("B", 1000, 1, 0), ("C", 1000, 1, 100), ("D", 1000, 1, 100)],
    BEFORE: [],
    AFTER: [],
}


def _check(n) -> None:
    for period, rows in EXPECTED.items():
        assert _ranking(n, period) == _by_gmv(n, rows), period
        assert dashboard.top_promoters(n.brand_id, period) == _top(n, rows), period
        assert dashboard.sales(n.brand_id, period)["active"] == len(rows), period
    # C and D tie on GMV and orders in the year and in the middle months: the code decides.
    # Last half-year's core (29 Dec 2025 – 30 Jun 2026): earners B 400, A 300, C 300, D 300;
    # ceil(4 / 5) = 1 place, B alone at 400; B sold in October (cancelled since: still a
    # sale of the period), so nobody churned.
    assert dashboard.core_churn(n.brand_id, SECOND_HALF) == {"core": 1, "churned": 0, "rate_bp": 0}
    # The year after: last year's core is B, C and D (400 each: the tie at the cut all in),
    # and none of them sold in 2027.
    whole_2027 = dashboard.Period(date(2027, 1, 1), date(2027, 12, 31), SH)
    assert dashboard.core_churn(n.brand_id, whole_2027) == {"core": 3, "churned": 3, "rate_bp": 10000}


def _same_from_source_rows(n) -> None:
    for period in EXPECTED:
        rolled = (_ranking(n, period), dashboard.summary(n.brand_id, period))
        with dashboard.from_source_rows():
            assert (_ranking(n, period), dashboard.summary(n.brand_id, period)) == rolled, period


def _snapshot_sizes(brand_id: int) -> dict[str, int]:
    t = DashboardPromoterTotal
    return dict(db.session.execute(select(t.month, func.count()).where(t.brand_id == brand_id).group_by(t.month)).all())


def test_long_periods_by_hand_unfolded_folded_and_rebuilt(n):
    _check(n)  # nothing folded yet: day deltas only
    _same_from_source_rows(n)
    rollups.fold_all()
    sizes = _snapshot_sizes(n.brand_id)
    # Dense from each promoter's first figure to the latest month: B and A from January,
    # then C in March, Z in April, D in June; every later month keeps all of them.
    assert sizes == {"2026-01": 2, "2026-02": 2, "2026-03": 3, "2026-04": 4, "2026-05": 4, "2026-06": 5,
                     "2026-07": 5, "2026-08": 5, "2026-09": 5, "2026-10": 5}
    _check(n)
    _same_from_source_rows(n)
    rollups.rebuild(n.brand_id)
    assert _snapshot_sizes(n.brand_id) == sizes
    _check(n)


def test_a_change_in_an_old_month_and_a_month_past_the_latest_snapshot(n):
    rollups.fold_all()
    folded = {row.month + "/" + str(row.promoter_id): (row.gmv_fen, row.orders, row.commission_fen)
              for row in db.session.scalars(select(DashboardPromoterTotal))}
    n.order("Z", "P1", 1, local("2026-02-10 12:00"))  # Z 1000 (100) in February: before its first figure
    n.order("A", "P2", 2, local("2026-12-01 00:30"))  # A 6000 (600) in December: past the latest month
    rollups.fold_all()
    sizes = _snapshot_sizes(n.brand_id)
    assert sizes["2026-02"] == 3 and sizes["2026-11"] == 5 and sizes["2026-12"] == 5  # November carried over
    z = n.p["Z"].id
    totals = {row.month: (row.gmv_fen, row.orders, row.commission_fen)
              for row in db.session.scalars(select(DashboardPromoterTotal)
                                            .where(DashboardPromoterTotal.promoter_id == z))}
    assert totals["2026-02"] == (1000, 1, 100) and totals["2026-03"] == (1000, 1, 100)
    assert totals["2026-04"] == totals["2026-12"] == (1000, 2, 100)
    assert folded[f"2026-10/{z}"] == (0, 1, 0)
    year = EXPECTED[YEAR]
    expected = [("B", 5000, 3, 400), ("A", 7000, 2, 900), ("C", 4000, 2, 400), ("D", 4000, 2, 400),
                ("Z", 1000, 2, 100)]
    assert {row[0] for row in expected} == {row[0] for row in year}
    assert _ranking(n, YEAR) == _by_gmv(n, expected)
    with dashboard.from_source_rows():
        assert _ranking(n, YEAR) == _by_gmv(n, expected)
    # Folded, then rebuilt from the orders: the very same running totals.
    before = Counter({(row.month, row.promoter_id): (row.gmv_fen, row.orders, row.commission_fen)
                      for row in db.session.scalars(select(DashboardPromoterTotal))})
    rollups.rebuild(n.brand_id)
    after = Counter({(row.month, row.promoter_id): (row.gmv_fen, row.orders, row.commission_fen)
                     for row in db.session.scalars(select(DashboardPromoterTotal))})
    assert after == before


def test_an_empty_brand_has_no_snapshots(app_ctx, make):
    brand = make.brand()
    assert rollups.fold_all() == 0
    assert _snapshot_sizes(brand.id) == {}
    assert dashboard.promoter_ranking(brand.id, YEAR, limit=None).rows == []
    assert dashboard.top_promoters(brand.id, YEAR) == []
    assert dashboard.core_churn(brand.id, YEAR) == {"core": 0, "churned": 0, "rate_bp": 0}


def test_a_tie_at_the_tenth_place_is_broken_by_code(app_ctx, make):
    """Twelve sellers over a year: eight with more GMV, then four tied at ¥10 with one order
    each (places 9 to 12). The top ten are the eight and the two of the four with the
    lowest codes; from the rollups, folded or not, as from the orders."""
    n = Net(db.session.get(Brand, make.brand().id))
    n.product("1", "P1", 1000)
    for i in range(8):
        n.product(f"x{i}", f"X{i}", 2000 + 100 * i)
    for i in range(12):
        n.promoter(f"S{i}", local("2025-12-01 09:00"))
    for i in range(8):
        n.order(f"S{i}", f"X{i}", 1, local(f"2026-{i + 2:02d}-10 12:00"))
    for i in range(8, 12):
        n.order(f"S{i}", "P1", 1, local(f"2026-{i - 6:02d}-11 12:00"))
    tied = sorted(n.codes[f"S{i}"] for i in range(8, 12))
    expected = ([{"code": n.codes[f"S{i}"], "name": f"推客S{i}", "gmv_fen": 2000 + 100 * i, "orders": 1}
                 for i in reversed(range(8))]
                + [{"code": code, "name": f"推客{code_key(n, code)}", "gmv_fen": 1000, "orders": 1}
                   for code in tied[:2]])
    assert dashboard.top_promoters(n.brand_id, YEAR) == expected
    rollups.fold_all()
    assert dashboard.top_promoters(n.brand_id, YEAR) == expected
    assert dashboard.top_promoters(n.brand_id, YEAR, limit=9)[-1]["code"] == tied[0]
    with dashboard.from_source_rows():
        assert dashboard.top_promoters(n.brand_id, YEAR) == expected
