"""The money defects a finance review found, each pinned by what finance would check: who
holds which fen, in which month, and whether the books still verify."""

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Integer, cast, func, literal, null, select, text
from sqlalchemy.exc import IntegrityError

from distweb.extensions import db
from distweb.models import Brand, CommissionLine, LedgerEntry, LedgerTransaction, Order, Promoter
from distweb.models.base import utcnow
from distweb.models.ledger import AccountKind, LineStatus
from distweb.services import (
    catalogue,
    commission,
    ledger,
    orders,
    settlement,
    statements,
    wallet,
    withdrawals,
)
from distweb.services.verify import verify

SHANGHAI = ZoneInfo("Asia/Shanghai")
_ids = itertools.count(1)


def plan(depth=3, funding="supplier", **extra):
    rates = {1: 1000, 2: 500, 3: 200}
    return {"depth": depth, "freeze_days": 7, "rounding": "half_up", "max_total_bp": 3000, "self_purchase": False,
            "consignment_funding": funding, **extra,
            "rules": [{"scope": {}, "level": level, "kind": "percent", "base": "paid", "rate_bp": rates[level]}
                      for level in range(1, depth + 1)]}


@pytest.fixture
def world(app_ctx, make):
    brand_ref = make.brand()
    top = make.promoter(name="合伙人")
    mid = make.promoter(name="导师", upline=top)
    seller = make.promoter(name="分销商甲", upline=mid)
    other = make.promoter(name="推客乙")
    for promoter in (seller, other):
        db.session.get(Promoter, promoter.id).distributor = True
    db.session.commit()
    brand = db.session.get(Brand, brand_ref.id)
    catalogue.upsert_product(brand, "TEA-001", catalogue.ProductInput(
        name="龙井", price_fen=5900, supply_cost_fen=3100, supplier_code="westlake", category="tea",
        modes=("promotion", "consignment", "wholesale")))
    catalogue.upsert_product(brand, "PEN-001", catalogue.ProductInput(
        name="小样", price_fen=100, supply_cost_fen=0, supplier_code="westlake", category="sample",
        modes=("promotion",)))
    commission.save_plan(brand.id, plan())
    return {"brand": brand, "top": top, "mid": mid, "seller": seller, "other": other}


def place(world, mode="promotion", promoter="seller", sku="TEA-001", quantity=2, paid_at=None, phone="13900000000",
          **extra):
    return orders.place_order(world["brand"], orders.OrderInput(
        external_id=f"M-{next(_ids)}", mode=mode, promoter_code=world[promoter].code,
        items=[orders.ItemInput(sku, quantity)], buyer=orders.BuyerInput("李女士", phone, "杭州"),
        paid_at=paid_at or utcnow(), **extra))


def lines_of(order_id):
    return sorted((line.level, line.kind, line.promoter_id, line.amount_fen, line.kept_fen, line.status.value)
                  for line in db.session.query(CommissionLine).filter_by(order_id=order_id))


def supplier_of(order_id):
    return db.session.get(Order, order_id).items[0].product.supplier_id


# ---------------------------------------------------------------- 1. consignment funded by the distributor


def test_consignment_funded_by_the_distributor_reduces_its_margin_by_what_its_uplines_earn(world):
    brand, seller, mid, top = world["brand"], world["seller"], world["mid"], world["top"]
    commission.save_plan(brand.id, plan(funding="distributor"))
    order = place(world, mode="consignment")  # paid 11800, supply cost 6200: margin 5600
    # the uplines earn plan L2/L3 (590, 236), taken out of the distributor's 5600
    assert lines_of(order.id) == [(1, "margin", seller.id, 4774, 4774, "frozen"),
                                  (2, "commission", mid.id, 590, 590, "frozen"),
                                  (3, "commission", top.id, 236, 236, "frozen")]
    report = verify()
    assert report.ok, report.violations  # it failed right after payment ("ledger holds 0")
    assert ledger.balance(brand.id, AccountKind.SUPPLIER_PAYABLE, supplier_of(order.id)) == 6200
    assert wallet.balances(seller.id)["frozen_fen"] == 4774
    # each upline's money is shown leaving the distributor's margin line
    margin_line = db.session.query(CommissionLine).filter_by(order_id=order.id, kind="margin").one()
    tagged = sorted(db.session.scalars(select(LedgerEntry.amount_fen).where(
        LedgerEntry.commission_line_id == margin_line.id)))
    assert tagged == [-590, -236, 5600]
    # settled, the distributor can take out its reduced margin and no more
    orders.complete(brand.id, order.id, utcnow() - timedelta(days=10))
    settlement.execute_run(settlement.start_run(brand.id, enqueue=False).id)
    assert wallet.balances(seller.id)["available_fen"] == 4774
    assert wallet.balances(mid.id)["available_fen"] == 590
    report = verify()
    assert report.ok, report.violations


def test_a_distributor_funded_refund_gives_the_buyer_back_exactly_what_was_refunded(world):
    brand = world["brand"]
    commission.save_plan(brand.id, plan(funding="distributor"))
    order = place(world, mode="consignment", quantity=3)  # 17700 paid, cost 9300, margin 8400
    orders.refund(brand.id, order.id, "R1", [orders.RefundItemInput("TEA-001", 5900)])
    orders.refund(brand.id, order.id, "R2", [orders.RefundItemInput("TEA-001", 1)])
    assert ledger.balance(brand.id, AccountKind.BRAND_CLEARING) == -(17700 - 5901)
    kept = {line[1] + str(line[0]): line[4] for line in lines_of(order.id)}
    # the item's lines keep round(total × 11799/17700) between them, split by largest remainder
    assert sum(kept.values()) == round(8400 * 11799 / 17700)
    report = verify()
    assert report.ok, report.violations
    orders.refund(brand.id, order.id, "R3", [orders.RefundItemInput("TEA-001", 11799)])
    assert {line[5] for line in lines_of(order.id)} == {"reversed"}
    assert ledger.balance(brand.id, AccountKind.BRAND_CLEARING) == 0
    assert ledger.balance(brand.id, AccountKind.SUPPLIER_PAYABLE, supplier_of(order.id)) == 0
    assert ledger.balance(brand.id, AccountKind.BRAND_REVENUE) == 0
    assert verify().ok


def test_uplines_funded_by_the_distributor_are_never_paid_more_than_its_margin(world):
    brand = world["brand"]
    catalogue.upsert_product(brand, "THIN-001", catalogue.ProductInput(
        name="薄利", price_fen=10000, supply_cost_fen=9500, supplier_code="westlake", modes=("consignment",)))
    commission.save_plan(brand.id, plan(funding="distributor"))
    order = place(world, mode="consignment", sku="THIN-001", quantity=1)  # margin 500; L2 500 + L3 200 wanted
    levels = {line[0]: line[3] for line in lines_of(order.id)}
    assert levels == {1: 0, 2: 357, 3: 143}  # 500 shared 5:2 by largest remainder; nothing left for L1
    assert verify().ok


# ---------------------------------------------------------------- 2. the margin is the selling distributor's


def test_a_consignment_margin_goes_to_the_shop_that_sold_not_to_the_buyers_binding(world):
    brand = world["brand"]
    bound = place(world, promoter="other", phone="13911112222")  # the buyer is now bound to 乙
    assert bound.promoter_id == world["other"].id
    sold = place(world, mode="consignment", phone="13911112222")  # …and buys in 甲's shop
    margin = [line for line in lines_of(sold.id) if line[1] == "margin"]
    assert margin == [(1, "margin", world["seller"].id, 5600, 5600, "frozen")]
    assert {line[2] for line in lines_of(sold.id)} == {world["seller"].id, world["mid"].id, world["top"].id}
    # a promotion order of the same buyer is still credited by the binding
    again = place(world, phone="13911112222")
    assert again.promoter_id == world["other"].id
    assert verify().ok
    del brand


# ---------------------------------------------------------------- 4. statements by business time


def test_an_imported_old_order_lands_in_the_month_it_was_paid(world):
    seller = db.session.get(Promoter, world["seller"].id)
    november = datetime(2026, 11, 15, 10, 0, tzinfo=SHANGHAI)
    place(world, paid_at=november)  # loaded today, paid in November
    nov = statements.build(seller, "2026-11")
    assert (nov.opening_fen, nov.earned_fen, nov.closing_fen) == (0, 1180, 1180)
    assert [m.at for m in nov.movements] == [november]
    month_after = statements.build(seller, "2026-12")
    assert month_after.opening_fen == nov.closing_fen and month_after.movements == []
    assert statements.build(seller, "2026-10").closing_fen == 0


def test_a_payment_at_local_midnight_belongs_to_the_brands_calendar_month(world):
    seller = db.session.get(Promoter, world["seller"].id)
    place(world, paid_at=datetime(2026, 11, 30, 16, 30, tzinfo=ZoneInfo("UTC")))  # 1 Dec 00:30 in Shanghai
    assert statements.build(seller, "2026-11").earned_fen == 0
    assert statements.build(seller, "2026-12").earned_fen == 1180


# ---------------------------------------------------------------- 8. paid_out, oldest first


def test_a_paid_withdrawal_consumes_the_oldest_available_lines_first(world):
    brand, seller = world["brand"], world["seller"]
    first = place(world, quantity=2)   # L1 1180
    second = place(world, quantity=4)  # L1 2360
    orders.complete(brand.id, first.id, utcnow() - timedelta(days=12))
    settlement.execute_run(settlement.start_run(brand.id, utcnow() - timedelta(days=3), enqueue=False).id)
    orders.complete(brand.id, second.id, utcnow() - timedelta(days=10))
    settlement.execute_run(settlement.start_run(brand.id, enqueue=False).id)
    w = withdrawals.request(seller.id, withdrawals.Request(1500, "alipay", "甲", "a@b"))
    withdrawals.approve(brand.id, w.id)
    l1 = {order.id: db.session.query(CommissionLine).filter_by(order_id=order.id, level=1).one()
          for order in (first, second)}
    assert {l1[first.id].status, l1[second.id].status} == {LineStatus.AVAILABLE}  # approved is not paid
    withdrawals.mark_paid(brand.id, w.id, "BANK-1")
    db.session.expire_all()
    assert db.session.get(CommissionLine, l1[first.id].id).status == LineStatus.PAID_OUT  # 1180 ≤ 1500
    assert db.session.get(CommissionLine, l1[second.id].id).status == LineStatus.AVAILABLE  # 3540 > 1500
    w2 = withdrawals.request(seller.id, withdrawals.Request(2040, "alipay", "甲", "a@b"))
    withdrawals.approve(brand.id, w2.id)
    withdrawals.mark_paid(brand.id, w2.id, "BANK-2")
    db.session.expire_all()
    assert db.session.get(CommissionLine, l1[second.id].id).status == LineStatus.PAID_OUT
    assert verify().ok


# ---------------------------------------------------------------- 9. freeze windows in calendar days


def test_freeze_days_count_calendar_days_in_the_brands_time_zone(world):
    brand = world["brand"]
    order = place(world, quantity=1)
    orders.complete(brand.id, order.id, datetime(2026, 12, 1, 23, 30, tzinfo=SHANGHAI))
    late_on_the_7th = settlement.execute_run(settlement.start_run(
        brand.id, datetime(2026, 12, 7, 23, 59, tzinfo=SHANGHAI), enqueue=False).id)
    assert late_on_the_7th.settled_count == 0
    # 8 Dec 00:00 local: settleable, though not yet 7 × 24 hours after completion
    midnight = settlement.execute_run(settlement.start_run(
        brand.id, datetime(2026, 12, 8, 0, 0, tzinfo=SHANGHAI), enqueue=False).id)
    assert midnight.settled_count == 3
    assert wallet.balances(world["seller"].id)["available_fen"] == 590
    # the settlement's business time is the run's as_of
    tx = db.session.scalars(select(LedgerTransaction).where(LedgerTransaction.kind == "settlement")).one()
    assert tx.occurred_at == datetime(2026, 12, 8, 0, 0, tzinfo=SHANGHAI)


def test_freeze_cutoff_is_local_midnight(world):
    cutoff = settlement.freeze_cutoff(datetime(2026, 12, 8, 3, 0, tzinfo=ZoneInfo("UTC")), 7, "Asia/Shanghai")
    assert cutoff == datetime(2026, 12, 2, 0, 0, tzinfo=SHANGHAI)  # 8 Dec 11:00 local: completed before 2 Dec
    assert settlement.freeze_cutoff(datetime(2026, 12, 8, 3, 0, tzinfo=ZoneInfo("UTC")), 0, "Asia/Shanghai") \
        == datetime(2026, 12, 9, 0, 0, tzinfo=SHANGHAI)  # no freeze: anything completed so far


# ---------------------------------------------------------------- 12. largest-remainder reversal


def test_a_partial_refund_reverses_the_orders_lines_by_largest_remainder(world):
    brand = world["brand"]
    order = place(world, sku="PEN-001", quantity=1)  # paid 100: L1 10, L2 5, L3 2
    assert [line[3] for line in lines_of(order.id)] == [10, 5, 2]
    orders.refund(brand.id, order.id, "R1", [orders.RefundItemInput("PEN-001", 3)])
    # together they keep round(17 × 97/100) = 16: one fen back, from the largest remainder.
    # Rounded line by line (10→10, 5→5, 2→2) nothing would have been reversed at all.
    assert [line[4] for line in lines_of(order.id)] == [9, 5, 2]
    assert ledger.balance(brand.id, AccountKind.BRAND_COMMISSION_EXPENSE) == -16
    assert verify().ok


# ---------------------------------------------------------------- 5., 6.: the demo's report, the supplier's figure


def test_a_finished_run_without_its_report_has_it_written_by_a_worker(app, make):
    from rq import SimpleWorker

    from distweb.queues import all_queues, redis_connection
    from tests.conftest import Browser
    from tests.support.factories import PASSWORD

    make.brand()
    make.manager()
    with app.app_context():
        brand_id = db.session.query(Brand.id).scalar()
        run = settlement.execute_run(settlement.start_run(brand_id, trigger="demo", enqueue=False).id)
        run_id = run.id
    browser = Browser(app.test_client())
    browser.login("boss@example.com", PASSWORD)
    first = browser.get(f"/manage/settlements/{run_id}/report.pdf")
    assert first.status_code == 302 and first.headers["Location"].endswith(f"/manage/settlements/{run_id}")
    with app.app_context():
        SimpleWorker(all_queues(), connection=redis_connection()).work(burst=True)
    report = browser.get(f"/manage/settlements/{run_id}/report.pdf")
    assert report.status_code == 200 and report.data[:4] == b"%PDF"
    report.close()


def test_the_supplier_portal_shows_the_ledgers_payable(app, make):
    from tests.conftest import Browser
    from tests.support.factories import PASSWORD

    make.brand()
    supplier_user = make.supplier_user(code="westlake")
    seller = make.promoter(name="分销商")
    with app.app_context():
        db.session.get(Promoter, seller.id).distributor = True
        db.session.commit()
        brand = db.session.query(Brand).one()
        catalogue.upsert_product(brand, "TEA-001", catalogue.ProductInput(
            name="龙井", price_fen=5900, supply_cost_fen=3100, supplier_code="westlake", modes=("consignment",)))
        commission.save_plan(brand.id, plan(depth=1))
        order = orders.place_order(brand, orders.OrderInput(
            external_id="C-1", mode="consignment", promoter_code=seller.code, items=[orders.ItemInput("TEA-001", 2)],
            paid_at=utcnow()))
        orders.refund(brand.id, order.id, "R1", [orders.RefundItemInput("TEA-001", 5900)])
        payable = ledger.balance(brand.id, AccountKind.SUPPLIER_PAYABLE, supplier_user.supplier_id)
    assert payable == 3100  # 6200 of costs, half refunded (the purchase orders still say 6200)
    browser = Browser(app.test_client())
    browser.login(supplier_user.email, PASSWORD)
    page = browser.get("/supplier/").get_data(as_text=True)
    assert 'data-testid="supplier-payable">¥31.00<' in page


# ---------------------------------------------------------------- the ledger refuses to be unbalanced


def test_the_ledger_writer_refuses_an_unbalanced_transaction(world):
    place(world, quantity=1)
    draft = ledger.Draft(world["brand"].id, "probe", occurred_at=utcnow()).add(AccountKind.BRAND_REVENUE, 0, 5)
    with pytest.raises(ledger.UnbalancedTransaction):
        ledger.post(draft)
    with pytest.raises(ledger.UnbalancedTransaction):
        ledger.post_from_select(world["brand"].id, "probe", utcnow(),
                                select(func.min(LedgerEntry.account_id).label("a"), literal(7).label("b"),
                                       cast(null(), Integer).label("c")).select_from(LedgerEntry))
    db.session.rollback()
    assert db.session.scalar(select(func.count(LedgerTransaction.id)).where(LedgerTransaction.kind == "probe")) == 0
    assert verify().ok


def test_a_hand_written_unbalanced_entry_is_refused_by_postgresql_and_found_by_verify_on_sqlite(world):
    order = place(world, quantity=1)
    tx_id, account = db.session.execute(
        select(LedgerEntry.transaction_id, LedgerEntry.account_id)
        .join(LedgerTransaction).where(LedgerTransaction.order_id == order.id)).first()
    db.session.execute(text("INSERT INTO ledger_entries (transaction_id, account_id, amount_fen, created_at) "
                            "VALUES (:tx, :account, 1, :now)"), {"tx": tx_id, "account": account, "now": utcnow()})
    if db.engine.dialect.name == "postgresql":
        with pytest.raises(IntegrityError, match="does not balance"):
            db.session.commit()  # the deferred constraint trigger, at commit
        db.session.rollback()
        assert verify().ok
        with pytest.raises(IntegrityError, match="never edited"):
            db.session.execute(text("UPDATE ledger_entries SET amount_fen = amount_fen + 1"))
        db.session.rollback()
    else:
        db.session.commit()
        report = verify()
        assert f"transaction {tx_id} does not balance: 1" in report.violations
