"""The dashboard's figures (docs/API.md "Dashboard"), checked against values computed by hand
from a small network with orders, refunds and cancellations in the past."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from distweb.extensions import db
from distweb.models import Brand, Order, Product
from distweb.services import api_keys, dashboard, network, orders
from distweb.services.tx import transaction

SH = ZoneInfo("Asia/Shanghai")
NOV = dashboard.Period(datetime(2026, 11, 1).date(), datetime(2026, 11, 30).date(), "Asia/Shanghai")


def local(text: str, zone=SH) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


class Net:
    """A brand built through the services: products, promoters with join times, orders."""

    def __init__(self, brand: Brand):
        self.brand = brand
        self.brand_id = brand.id
        self.p = {}
        self.codes = {}
        self.order_seq = 0

    def product(self, key, sku, price_fen, created=None, active=True):
        created = created or local("2026-01-01 00:00")
        with transaction():
            row = Product(brand_id=self.brand.id, sku=sku, name=f"商品{key}", price_fen=price_fen,
                          supply_cost_fen=0, category="tea", created_at=created, active=active)
            db.session.add(row)
        return row

    def promoter(self, key, joined, upline=None):
        self.order_seq += 1
        row = network.import_promoter(self.brand, f"推客{key}", f"1370000{len(self.p):04d}",
                                      self.p[upline].code if upline else None, None, joined_at=joined)
        self.p[key] = row
        self.codes[key] = row.code
        return row

    def order(self, seller, sku, quantity, paid):
        self.order_seq += 1
        return orders.place_order(self.brand, orders.OrderInput(
            external_id=f"D-{self.order_seq}", mode="promotion", promoter_code=self.p[seller].code,
            items=[orders.ItemInput(sku=sku, quantity=quantity)], paid_at=paid))

    def refund(self, order, sku, amount_fen, at, refund_id):
        orders.refund(self.brand.id, order.id, refund_id, [orders.RefundItemInput(sku=sku, amount_fen=amount_fen)],
                      at=at)

    def cancel(self, order, at):
        orders.cancel(self.brand.id, order.id, at=at)


def build_net(brand: Brand) -> Net:
    n = Net(brand)
    n.product("1", "P1", 5900)
    n.product("2", "P2", 10000)
    n.product("3", "P3", 3000)
    n.product("4", "P4", 2000)  # sold in November, taken off sale since
    n.product("5", "P5", 1000, created=local("2026-12-02 09:00"))  # listed after the period
    n.product("6", "P6", 1500)  # on sale, never sold
    old = local("2026-01-01 09:00")
    n.promoter("A", old)
    n.promoter("B", old, upline="A")
    n.promoter("C", local("2026-11-10 10:00"))
    n.promoter("D", local("2026-11-30 23:30"))  # joined on the period's last day
    n.promoter("E", local("2026-12-01 00:10"))  # 30 Nov 16:10 UTC, but 1 Dec at the brand
    n.promoter("F", local("2026-10-31 23:59"))
    n.promoter("H", local("2026-11-02 10:00"))
    n.promoter("I", local("2026-11-05 10:00"))
    for key in "JKLMN":
        n.promoter(key, old)
    # The previous period (2 Oct – 31 Oct): the core is ranked on its commission.
    o4 = n.order("B", "P3", 1, local("2026-10-20 12:00"))  # B 300, A 150; refunded a third in November
    n.order("J", "P2", 1, local("2026-10-05 12:00"))  # J 1000
    n.order("K", "P2", 1, local("2026-10-06 12:00"))  # K 1000
    n.order("L", "P2", 1, local("2026-10-07 12:00"))  # L 1000 (a tie at the cut)
    n.order("M", "P3", 1, local("2026-10-08 12:00"))  # M 300
    n.order("F", "P3", 1, local("2026-10-31 23:59:30"))  # F 300
    o_n = n.order("N", "P1", 1, local("2026-10-09 12:00"))
    n.cancel(o_n, local("2026-10-09 13:00"))  # N keeps 0: not ranked
    # November.
    o1 = n.order("B", "P2", 1, local("2026-11-05 12:00"))  # B 1000, A 500
    n.order("A", "P1", 2, local("2026-11-01 00:00"))  # 31 Oct 16:00 UTC: the first instant of the period; A 1180
    n.order("C", "P1", 1, local("2026-11-20 10:00"))  # C 590; C survives
    o5 = n.order("A", "P2", 1, local("2026-11-10 09:00"))  # A 1000, cancelled within the hour
    n.cancel(o5, local("2026-11-10 10:00"))
    n.order("B", "P1", 1, local("2026-12-01 00:00"))  # 30 Nov 16:00 UTC, but December at the brand
    n.order("B", "P1", 1, local("2026-11-30 23:59:59"))  # B 590, A 295
    n.refund(o1, "P2", 2000, local("2026-11-25 10:00"), "R-o1")  # reverses B 200, A 100
    n.refund(o4, "P3", 1000, local("2026-11-03 10:00"), "R-o4")  # an October order: reverses B 100, A 50
    o9 = n.order("C", "P3", 1, local("2026-11-15 10:00"))  # C 300
    n.refund(o9, "P3", 500, local("2026-11-15 11:00"), "R-o9")  # C −50
    n.cancel(o9, local("2026-11-16 10:00"))  # gives back the 2500 left; C −250
    n.order("D", "P4", 1, local("2026-11-30 23:40"))  # D 200; D survives, ten minutes after joining
    n.order("J", "P3", 1, local("2026-11-12 10:00"))  # J 300: J is core and sold, so not churned
    n.order("M", "P3", 1, local("2026-11-14 10:00"))  # M 300: ties J on gmv and orders
    n.order("H", "P1", 1, local("2026-12-03 10:00"))  # 31 days after H joined: H does not survive
    n.order("I", "P1", 1, local("2026-12-05 09:59"))  # 1 minute inside I's 30 days
    with transaction():
        db.session.execute(update(Product).where(Product.brand_id == brand.id, Product.sku == "P4")
                           .values(active=False))
    return n


@pytest.fixture
def net(app_ctx, make):
    return build_net(db.session.get(Brand, make.brand().id))


def test_period_figures_to_the_fen(net):
    got = dashboard.summary(net.brand_id, NOV)
    # O1 10000 + O2 11800 + O3 5900 + O5 10000 (cancelled, still paid in Nov) + O7 5900 + O9 3000
    # + D 2000 + J 3000 + M 3000
    assert got["gmv_fen"] == 54600
    assert got["orders"] == 9
    # Refunds in Nov: 2000 (O1) + 1000 (O4, paid in Oct) + 500 (O9); cancellations: O5 10000, O9 3000 − 500
    assert got["refunded_fen"] == 16000
    assert got["net_fen"] == 38600
    # O1 1500 − 300, O2 1180, O3 590, O5 0, O7 885, O9 0, D 200, J 300, M 300
    assert got["commission_accrued_fen"] == 4655
    # Joined by 30 Nov (brand time): A B C D F H I J K L M N; E joined on 1 Dec at the brand.
    assert got["promoters"] == {"total": 12, "new": 4, "active": 6}
    # Listed: P1 P2 P3 P6 active at `to`, plus P4 sold; P5 was listed later. Sold: P1 P2 P3 P4.
    assert got["sell_through"] == {"listed": 5, "sold": 4, "rate_bp": 8000}
    # Cohort C D H I; survived C, D, I (H's first sale is 31 days after it joined).
    assert got["new_promoter_survival"] == {"cohort": 4, "survived": 3, "rate_bp": 7500}
    # October earners: J 1000, K 1000, L 1000, M 300, F 300, B 200 (300 − 100 reversed in Nov), A 100;
    # N's order was cancelled. 7 ranked → top ceil(1.4) = 2, the cut is 1000 and L ties it: core J K L.
    # J sold in November; K and L did not.
    assert got["core_churn"] == {"core": 3, "churned": 2, "rate_bp": 6667}


def test_rankings_and_series(net):
    got = dashboard.summary(net.brand_id, NOV)
    p = net.codes
    tied = sorted([p["J"], p["M"]])
    assert got["top_promoters"] == [
        {"code": p["A"], "name": "推客A", "gmv_fen": 21800, "orders": 2},
        {"code": p["B"], "name": "推客B", "gmv_fen": 15900, "orders": 2},
        {"code": p["C"], "name": "推客C", "gmv_fen": 8900, "orders": 2},
        {"code": tied[0], "name": "推客" + ("J" if tied[0] == p["J"] else "M"), "gmv_fen": 3000, "orders": 1},
        {"code": tied[1], "name": "推客" + ("J" if tied[1] == p["J"] else "M"), "gmv_fen": 3000, "orders": 1},
        {"code": p["D"], "name": "推客D", "gmv_fen": 2000, "orders": 1},
    ]
    assert got["top_products"] == [
        {"sku": "P1", "name": "商品1", "gmv_fen": 23600, "quantity": 4},
        {"sku": "P2", "name": "商品2", "gmv_fen": 20000, "quantity": 2},
        {"sku": "P3", "name": "商品3", "gmv_fen": 9000, "quantity": 3},
        {"sku": "P4", "name": "商品4", "gmv_fen": 2000, "quantity": 1},
    ]
    series = {s["date"]: s for s in got["series"]}
    assert len(got["series"]) == 30 and got["series"][0]["date"] == "2026-11-01"
    assert got["series"][-1]["date"] == "2026-11-30"
    assert series["2026-11-01"] == {"date": "2026-11-01", "gmv_fen": 11800, "orders": 1}
    assert series["2026-11-02"] == {"date": "2026-11-02", "gmv_fen": 0, "orders": 0}
    assert series["2026-11-30"] == {"date": "2026-11-30", "gmv_fen": 7900, "orders": 2}
    assert sum(s["gmv_fen"] for s in got["series"]) == 54600


def test_october_and_an_empty_period(net):
    oct_ = dashboard.Period(datetime(2026, 10, 2).date(), datetime(2026, 10, 31).date(), "Asia/Shanghai")
    got = dashboard.summary(net.brand_id, oct_)
    # B 3000, J K L 10000 each, M 3000, F 3000, N 5900 (cancelled the same day: refunded 5900)
    assert (got["gmv_fen"], got["orders"], got["refunded_fen"], got["net_fen"]) == (44900, 7, 5900, 39000)
    # B 300 − 100, A 150 − 50, J K L 1000, M 300, F 300, N 0
    assert got["commission_accrued_fen"] == 3900
    # Joined by 31 Oct: A B F J K L M N (F on the 31st); sellers B J K L M F N.
    assert got["promoters"] == {"total": 8, "new": 1, "active": 7}
    empty = dashboard.summary(net.brand_id, dashboard.Period(datetime(2025, 1, 1).date(),
                                                             datetime(2025, 1, 3).date(), "Asia/Shanghai"))
    assert empty["gmv_fen"] == empty["orders"] == empty["refunded_fen"] == empty["commission_accrued_fen"] == 0
    assert empty["sell_through"] == {"listed": 0, "sold": 0, "rate_bp": 0}
    assert empty["new_promoter_survival"] == {"cohort": 0, "survived": 0, "rate_bp": 0}
    assert empty["core_churn"] == {"core": 0, "churned": 0, "rate_bp": 0}
    assert empty["top_promoters"] == [] and empty["top_products"] == []
    assert empty["series"] == [{"date": d, "gmv_fen": 0, "orders": 0}
                               for d in ("2025-01-01", "2025-01-02", "2025-01-03")]


def test_the_api_returns_the_same_figures(net, client):
    _row, key = api_keys.create_key(net.brand, "看板")
    auth = {"Authorization": f"Bearer {key}"}
    response = client.get("/api/v1/dashboard?from=2026-11-01&to=2026-11-30", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body == dashboard.summary(net.brand_id, NOV)
    assert body["from"] == "2026-11-01" and body["to"] == "2026-11-30" and body["gmv_fen"] == 54600
    assert client.get("/api/v1/dashboard?from=2026-11-01&to=2026-11-30").status_code == 401
    for query, field in (("from=2026-11-30&to=2026-11-01", "to"), ("from=2026-11-01", "to"),
                         ("from=2026-13-01&to=2026-12-01", "from"), ("from=20261101&to=2026-11-30", "from"),
                         ("from=2025-01-01&to=2026-01-02", "to")):
        bad = client.get(f"/api/v1/dashboard?{query}", headers=auth)
        assert bad.status_code == 422, query
        assert bad.get_json()["error"]["field"] == field
        assert set(bad.get_json()["error"]) == {"code", "message", "field"}
    assert client.get("/api/v1/dashboard?from=2025-01-01&to=2026-01-01", headers=auth).status_code == 200


def test_other_brands_do_not_count(net):
    with transaction():
        other = Brand(name="别家", short_name="别家")
        db.session.add(other)
        db.session.flush()
        db.session.add(Order(brand_id=other.id, external_id="X-1", mode="promotion", status="paid",
                             total_paid_fen=99900, paid_at=local("2026-11-11 11:00"), placed_at=local("2026-11-11 11:00")))
    got = dashboard.summary(net.brand_id, NOV)
    assert (got["gmv_fen"], got["orders"]) == (54600, 9)


def test_local_days_across_a_daylight_saving_change(app_ctx, make):
    ny = ZoneInfo("America/New_York")  # 1 Nov 2026, 02:00 EDT → 01:00 EST
    brand = db.session.get(Brand, make.brand().id)
    n = Net(brand)
    n.product("1", "P1", 100)
    n.promoter("A", local("2026-01-01 00:00", ny))
    n.order("A", "P1", 1, local("2026-10-31 23:30", ny))  # 1 Nov 03:30 UTC
    n.order("A", "P1", 2, local("2026-11-01 00:30", ny))  # 1 Nov 04:30 UTC, still EDT
    n.order("A", "P1", 3, local("2026-11-01 23:30", ny))  # 2 Nov 04:30 UTC, EST
    n.order("A", "P1", 4, local("2026-11-02 00:30", ny))  # 2 Nov 05:30 UTC
    period = dashboard.Period(datetime(2026, 10, 31).date(), datetime(2026, 11, 2).date(), "America/New_York")
    got = dashboard.summary(brand.id, period)
    assert got["series"] == [{"date": "2026-10-31", "gmv_fen": 100, "orders": 1},
                             {"date": "2026-11-01", "gmv_fen": 500, "orders": 2},
                             {"date": "2026-11-02", "gmv_fen": 400, "orders": 1}]
    one_day = dashboard.Period(datetime(2026, 11, 1).date(), datetime(2026, 11, 1).date(), "America/New_York")
    assert dashboard.sales(brand.id, one_day)["gmv_fen"] == 500  # 25 hours long


def test_rate_bp_rounds_half_up_in_integers():
    assert dashboard.rate_bp(2, 3) == 6667
    assert dashboard.rate_bp(1, 3) == 3333
    assert dashboard.rate_bp(1, 20000) == 1  # 0.5 bp rounds up
    assert dashboard.rate_bp(1, 20001) == 0
    assert dashboard.rate_bp(0, 0) == 0
    assert dashboard.rate_bp(7, 7) == 10000


def test_core_cut_keeps_every_tie(app_ctx, make):
    """Six earners of 500, 400, 400, 400, 400, 100: the top 20% rounded up is 2, the second
    earns 400, and all four on 400 tie at the cut: the core is 5."""
    brand = db.session.get(Brand, make.brand().id)
    n = Net(brand)
    n.product("1", "P1", 1000)
    for key in "ABCDEF":
        n.promoter(key, local("2026-01-01 00:00"))
    for key, quantity in (("A", 5), ("B", 4), ("C", 4), ("D", 4), ("E", 4), ("F", 1)):
        n.order(key, "P1", quantity, local("2026-10-15 10:00"))
    oct_ = dashboard.Period(datetime(2026, 10, 1).date(), datetime(2026, 10, 31).date(), "Asia/Shanghai")
    assert dashboard.core_cut(brand.id, oct_) == (6, 400)
    n.order("B", "P1", 1, local("2026-11-03 10:00"))  # the period after October's 31 days
    nov = dashboard.Period(datetime(2026, 11, 1).date(), datetime(2026, 12, 1).date(), "Asia/Shanghai")
    assert nov.previous() == oct_
    assert dashboard.core_churn(brand.id, nov) == {"core": 5, "churned": 4, "rate_bp": 8000}


def test_money_cards_follow_the_ledger_by_business_time(app_ctx, make):
    """Frozen and available at a period's end, and paid out in it: an order paid 20 days ago
    (A earns 10000), settled, 6000 withdrawn (requested held, then paid today; no fee)."""
    from datetime import timedelta

    from distweb.models.base import utcnow
    from distweb.services import settlement, withdrawals

    brand = db.session.get(Brand, make.brand().id)
    n = Net(brand)
    n.product("1", "P1", 100000)
    n.promoter("A", local("2026-01-01 00:00"))
    now = utcnow()
    order = n.order("A", "P1", 1, now - timedelta(days=20))
    orders.complete(brand.id, order.id, now - timedelta(days=15))
    settlement.execute_run(settlement.start_run(brand.id, as_of=now - timedelta(days=1)).id)
    w = withdrawals.request(n.p["A"].id, withdrawals.Request(6000, "alipay", "推客A", "a@alipay"))
    withdrawals.approve(brand.id, w.id)
    withdrawals.mark_paid(brand.id, w.id, "TX-1")
    today = dashboard.local_today(brand.timezone)
    this_week = dashboard.Period(today - timedelta(days=6), today, brand.timezone)
    before_settling = dashboard.Period(today - timedelta(days=19), today - timedelta(days=19), brand.timezone)
    assert dashboard.balances(brand.id, this_week) == {"frozen_fen": 0, "available_fen": 4000, "paid_out_fen": 6000}
    # At the end of the day it was paid, the 10000 was frozen and nothing had left.
    assert dashboard.balances(brand.id, before_settling) == {"frozen_fen": 10000, "available_fen": 0,
                                                             "paid_out_fen": 0}
    assert dashboard.wallet_totals(brand.id) == {"frozen_fen": 0, "available_fen": 4000}
