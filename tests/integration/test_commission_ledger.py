"""Commission lines and the ledger through real orders: amounts to the fen, states,
reversals and clawbacks, and the ledger's invariants under any sequence of events."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distweb.extensions import db
from distweb.models import Brand, CommissionLine, Order
from distweb.models.ledger import AccountKind, LineStatus
from distweb.services import catalogue, commission, ledger, orders, wallet
from distweb.services.errors import ServiceError
from distweb.services.tx import transaction
from distweb.services.verify import verify

_ids = itertools.count(1)


@pytest.fixture
def shop(app_ctx, make):
    brand_ref = make.brand()
    top = make.promoter(name="合伙人")
    mid = make.promoter(name="导师", upline=top)
    seller = make.promoter(name="推客", upline=mid, distributor=True)
    brand = db.session.get(Brand, brand_ref.id)
    catalogue.upsert_product(brand, "TEA-001", catalogue.ProductInput(
        name="龙井", price_fen=5900, supply_cost_fen=3100, supplier_code="westlake", category="tea",
        modes=("promotion", "consignment", "wholesale")))
    catalogue.upsert_product(brand, "CUP-001", catalogue.ProductInput(
        name="杯", price_fen=2000, supply_cost_fen=800, supplier_code="westlake", category="cup",
        modes=("promotion", "consignment")))
    commission.save_plan(brand.id, {
        "depth": 3, "freeze_days": 7, "rounding": "half_up", "max_total_bp": 3000, "self_purchase": False,
        "rules": [
            {"scope": {}, "level": 1, "kind": "percent", "base": "paid", "rate_bp": 1000},
            {"scope": {}, "level": 2, "kind": "percent", "base": "paid", "rate_bp": 500},
            {"scope": {}, "level": 3, "kind": "percent", "base": "paid", "rate_bp": 200},
        ]}, "test plan")
    return {"brand": brand, "top": top, "mid": mid, "seller": seller}


def place(shop, mode="promotion", items=(("TEA-001", 2),), paid=True):
    return orders.place_order(shop["brand"], orders.OrderInput(
        external_id=f"T-{next(_ids)}", mode=mode, promoter_code=shop["seller"].code,
        items=[orders.ItemInput(sku, qty) for sku, qty in items],
        buyer=orders.BuyerInput("李女士", "13900000000", "杭州"),
        paid_at=__import__("distweb.models.base", fromlist=["utcnow"]).utcnow() if paid else None))


def lines_of(order):
    return sorted((line.level, line.kind, line.amount_fen, line.kept_fen, line.status.value)
                  for line in db.session.query(CommissionLine).filter_by(order_id=order.id))


def test_a_paid_promotion_order_freezes_commission_for_three_levels(shop):
    order = place(shop)  # 2 × 59.00 = 118.00
    assert lines_of(order) == [(1, "commission", 1180, 1180, "frozen"), (2, "commission", 590, 590, "frozen"),
                               (3, "commission", 236, 236, "frozen")]
    assert wallet.balances(shop["seller"].id)["frozen_fen"] == 1180
    assert ledger.balance(shop["brand"].id, AccountKind.BRAND_COMMISSION_EXPENSE) == -2006
    assert verify().ok


def test_lines_record_the_plan_version_and_a_new_plan_never_reprices_them(shop):
    first = place(shop)
    commission.save_plan(shop["brand"].id, {"depth": 1, "max_total_bp": 3000, "rules": [
        {"scope": {}, "level": 1, "kind": "percent", "base": "paid", "rate_bp": 2000}]}, "raise L1")
    second = place(shop)
    assert [line[2] for line in lines_of(first)] == [1180, 590, 236]
    assert lines_of(second) == [(1, "commission", 2360, 2360, "frozen")]
    versions = {line.plan_version for line in db.session.query(CommissionLine)}
    assert versions == {1, 2}
    assert verify().ok


def test_replaying_payment_never_doubles_lines(shop):
    order = place(shop, paid=False)
    orders.mark_paid(order.brand_id, order.id)
    orders.mark_paid(order.brand_id, order.id)
    assert len(lines_of(order)) == 3 and verify().ok


def test_pricing_an_order_again_writes_nothing(shop):
    from sqlalchemy import func, select

    from distweb.models import LedgerTransaction

    for mode in ("promotion", "consignment"):
        order = place(shop, mode=mode, items=(("TEA-001", 2), ("CUP-001", 1)))
        before = (lines_of(order), db.session.scalar(select(func.count(LedgerTransaction.id))))
        with transaction():  # a replayed hook: the order's lines are there, nothing more is written
            commission.on_paid(db.session.get(Order, order.id))
        assert (lines_of(order), db.session.scalar(select(func.count(LedgerTransaction.id)))) == before
    assert verify().ok


def test_partial_refund_reverses_in_proportion_and_cancel_reverses_all(shop):
    order = place(shop, items=(("TEA-001", 3),))  # 177.00: L1 1770, L2 885, L3 354
    item = order.items[0]
    orders.refund(order.brand_id, order.id, "R1", [orders.RefundItemInput("TEA-001", 5900)])
    assert [line[3] for line in lines_of(order)] == [1180, 590, 236]
    orders.refund(order.brand_id, order.id, "R2", [orders.RefundItemInput("TEA-001", 5900)])
    assert [line[3] for line in lines_of(order)] == [590, 295, 118]
    orders.refund(order.brand_id, order.id, "R3", [orders.RefundItemInput("TEA-001", 5900)])
    assert {line[4] for line in lines_of(order)} == {"reversed"} and item.refunded_fen == 17700
    assert wallet.balances(shop["seller"].id)["frozen_fen"] == 0
    other = place(shop)
    orders.cancel(other.brand_id, other.id, "不要了")
    assert {line[4] for line in lines_of(other)} == {"reversed"}
    assert verify().ok


def settle_and_withdraw_all(shop, order, promoter_id):
    """The real money path: completed past the freeze window, settled by a run, withdrawn
    and paid out through the withdrawal services."""
    from datetime import timedelta

    from distweb.models.base import utcnow
    from distweb.services import settlement, withdrawals

    orders.complete(order.brand_id, order.id, utcnow() - timedelta(days=10))
    settlement.execute_run(settlement.start_run(order.brand_id, enqueue=False).id)
    available = wallet.balances(promoter_id)["available_fen"]
    w = withdrawals.request(promoter_id, withdrawals.Request(available, "alipay", "推客", "a@b"))
    withdrawals.approve(order.brand_id, w.id)
    withdrawals.mark_paid(order.brand_id, w.id, "T-1")
    return available


def test_a_refund_after_settlement_claws_back_and_may_take_the_wallet_negative(shop):
    order = place(shop)
    seller = shop["seller"].id
    assert settle_and_withdraw_all(shop, order, seller) == 1180
    l1 = db.session.query(CommissionLine).filter_by(order_id=order.id, level=1).one()
    assert l1.status == LineStatus.PAID_OUT  # wholly consumed by the paid withdrawal
    orders.refund(order.brand_id, order.id, "R1", [orders.RefundItemInput("TEA-001", 11800)])
    db.session.expire_all()
    l1 = db.session.query(CommissionLine).filter_by(order_id=order.id, level=1).one()
    assert l1.clawback_fen == 1180 and l1.status == LineStatus.REVERSED
    assert wallet.balances(seller)["available_fen"] == -1180  # recovered from future earnings
    assert verify().ok


def test_consignment_splits_the_buyers_money(shop):
    order = place(shop, mode="consignment")  # paid 11800, supply cost 6200
    brand = order.brand_id
    assert lines_of(order) == [(1, "margin", 5600, 5600, "frozen"), (2, "commission", 590, 590, "frozen"),
                               (3, "commission", 236, 236, "frozen")]
    supplier_id = db.session.get(Order, order.id).items[0].product.supplier_id
    # supplier gets its cost, then funds the uplines' commission
    assert ledger.balance(brand, AccountKind.SUPPLIER_PAYABLE, supplier_id) == 6200 - 590 - 236
    assert ledger.balance(brand, AccountKind.BRAND_CLEARING) == -11800
    orders.refund(brand, order.id, "R1", [orders.RefundItemInput("TEA-001", 5900)])
    assert ledger.balance(brand, AccountKind.BRAND_CLEARING) == -5900
    assert [line[3] for line in lines_of(order)] == [2800, 295, 118]
    assert verify().ok


def test_self_purchase_off_pays_the_upline_as_l1(shop):
    with transaction():
        pass
    order = orders.place_order(shop["brand"], orders.OrderInput(
        external_id="SELF-1", mode="promotion", promoter_code=shop["seller"].code,
        items=[orders.ItemInput("TEA-001", 1)],
        buyer=orders.BuyerInput("推客", db.session.get(__import__("distweb.models", fromlist=["User"]).User,
                                                        shop["seller"].user_id).phone, "杭州"),
        paid_at=__import__("distweb.models.base", fromlist=["utcnow"]).utcnow()))
    got = {(line.level, line.promoter_id) for line in db.session.query(CommissionLine).filter_by(order_id=order.id)}
    assert got == {(1, shop["mid"].id), (2, shop["top"].id)}


def test_a_plan_that_could_pay_too_much_is_refused_and_the_old_one_stays(shop):
    with pytest.raises(ServiceError) as err:
        commission.save_plan(shop["brand"].id, {"depth": 2, "max_total_bp": 1000, "rules": [
            {"scope": {}, "level": 1, "kind": "percent", "rate_bp": 800},
            {"scope": {}, "level": 2, "kind": "percent", "rate_bp": 800}]})
    assert err.value.field == "rules[1]"
    assert commission.current_plan(shop["brand"].id)[0] == 1


EVENTS = st.lists(st.tuples(st.sampled_from(["order", "refund", "cancel", "complete"]),
                            st.sampled_from(["promotion", "consignment", "wholesale"]),
                            st.integers(min_value=1, max_value=4), st.integers(min_value=1, max_value=100)),
                  min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(events=EVENTS)
def test_any_sequence_of_orders_refunds_cancels_and_completions_keeps_the_ledger_balanced(shop, events):
    placed = []
    for action, mode, quantity, percent in events:
        if action == "order" or not placed:
            placed.append(place(shop, mode=mode, items=(("TEA-001", quantity), ("CUP-001", 1))
                                if mode != "wholesale" else (("TEA-001", quantity),)))
            continue
        order = db.session.get(Order, placed[-1].id)
        try:
            if action == "refund":
                item = order.items[0]
                amount = max(1, (item.paid_fen - item.refunded_fen) * percent // 100)
                orders.refund(order.brand_id, order.id, f"R{next(_ids)}", [orders.RefundItemInput(item.sku, amount)])
            elif action == "cancel":
                orders.cancel(order.brand_id, order.id)
            else:
                orders.complete(order.brand_id, order.id)
        except ServiceError:
            pass  # refused transitions change nothing
    report = verify()
    assert report.ok, report.violations
    for line in db.session.query(CommissionLine):
        assert 0 <= line.kept_fen <= line.amount_fen


def test_an_account_created_in_a_rolled_back_transaction_is_not_remembered(shop):
    from distweb.models.base import utcnow

    brand_id, seller = shop["brand"].id, shop["seller"].id
    try:
        with transaction():
            for _ in range(2):  # the second lookup finds the uncommitted account
                ledger.post(ledger.Draft(brand_id, "probe", occurred_at=utcnow()).move(
                    1, (AccountKind.BRAND_COMMISSION_EXPENSE, 0), (AccountKind.PROMOTER_PENDING_WITHDRAWAL, seller)))
            raise RuntimeError("roll it all back")
    except RuntimeError:
        pass
    with transaction():  # would fail on a foreign key if the rolled-back id had been cached
        ledger.post(ledger.Draft(brand_id, "probe", occurred_at=utcnow()).move(
            1, (AccountKind.BRAND_COMMISSION_EXPENSE, 0), (AccountKind.PROMOTER_PENDING_WITHDRAWAL, seller)))
    assert ledger.balance(brand_id, AccountKind.PROMOTER_PENDING_WITHDRAWAL, seller) == 1


def test_accruing_many_orders_at_once_writes_what_paying_them_one_by_one_writes(shop):
    from sqlalchemy import func, select

    from distweb.models import LedgerEntry, LedgerTransaction
    from distweb.models.base import utcnow
    from distweb.models.order import OrderStatus

    def entries_of(order_id):
        return sorted(db.session.execute(
            select(LedgerEntry.amount_fen, CommissionLine.level)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .outerjoin(CommissionLine, CommissionLine.id == LedgerEntry.commission_line_id)
            .where(LedgerTransaction.order_id == order_id)).all(), key=lambda r: (r[1] or 0, r[0]))

    shapes = [("promotion", (("TEA-001", 2), ("CUP-001", 1))), ("consignment", (("TEA-001", 1),)),
              ("promotion", (("CUP-001", 3),))]
    one_by_one, together = [], []
    for mode, items in shapes:
        order = place(shop, mode=mode, items=items, paid=False)
        orders.mark_paid(order.brand_id, order.id)
        one_by_one.append(order.id)
    for mode, items in shapes:
        together.append(place(shop, mode=mode, items=items, paid=False).id)
    with transaction():
        batch = [db.session.get(Order, order_id) for order_id in together]
        for order in batch:  # paid, as mark_paid would mark them, before their commission
            order.status, order.paid_at = OrderStatus.PAID, utcnow()
        assert commission.accrue(batch) == 3
    for single, batched in zip(one_by_one, together, strict=True):
        assert [line[:4] for line in lines_of(db.session.get(Order, single))] == \
            [line[:4] for line in lines_of(db.session.get(Order, batched))]
        assert entries_of(single) == entries_of(batched)
    count = db.session.scalar(select(func.count(LedgerTransaction.id)))
    with transaction():  # a replay of the batch writes nothing
        assert commission.accrue([db.session.get(Order, order_id) for order_id in together]) == 0
    assert db.session.scalar(select(func.count(LedgerTransaction.id))) == count
    assert verify().ok
