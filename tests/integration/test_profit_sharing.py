"""实时分账: a consignment order paid online sends the supplier's share the ledger computed
to the provider's 分账 after the freeze window, once; the confirmation moves it out of what
the brand owes the supplier; refusals are retried, then shown to the manager to retry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from distweb.extensions import db
from distweb.models import Brand, Order, ProfitSplit, Supplier
from distweb.models.base import utcnow
from distweb.services import catalogue, commission, online_pay, orders, profit_sharing, settlement
from distweb.services.verify import verify
from tests.support.shop_payments import paid_order

OPENID = "oSupplierWestlake0000000001"


@pytest.fixture
def shop(app, make, wechat, alipay, trusted):
    wechat.failures.clear()
    alipay.failures.clear()
    brand = make.brand()
    seller = make.promoter(name="店主", phone="13500000002", distributor=True)
    make.supplier_user("westlake")
    with app.app_context():
        brand_row = db.session.get(Brand, brand.id)
        commission.save_plan(brand.id, {"depth": 1, "freeze_days": 7, "max_total_bp": 3000, "rules": [
            {"scope": {}, "level": 1, "kind": "percent", "rate_bp": 1000}]})
        catalogue.upsert_product(brand_row, "TEA-001", catalogue.ProductInput(
            name="明前龙井", price_fen=5900, supply_cost_fen=3100, supplier_code="westlake",
            modes=("promotion", "consignment")))
        for name, stand_in in (("wechat", wechat), ("alipay", alipay)):
            settings, secrets = stand_in.settings()
            online_pay.save_config(brand.id, name, True, settings, secrets)
        supplier = db.session.query(Supplier).one()
        profit_sharing.save_receiver(brand.id, supplier.id, "wechat", OPENID)
        profit_sharing.save_receiver(brand.id, supplier.id, "alipay", "westlake@example.com", "西湖茶农")
        supplier_id = supplier.id
        db.session.remove()
    return {"brand": brand, "seller": seller, "supplier_id": supplier_id}


def complete_and_settle(app, brand_id, order_id, days_ago=10):
    with app.app_context():
        orders.complete(brand_id, order_id, utcnow() - timedelta(days=days_ago))
        settlement.execute_run(settlement.start_run(brand_id, enqueue=False).id)
        db.session.commit()
        db.session.remove()


def test_the_suppliers_share_is_split_through_wechat_after_the_freeze_window_once(app, shop, client, wechat, alipay):
    order_id, number = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    assert wechat.transactions[number]["profit_sharing"] is True  # paid so that it can be split
    with app.app_context():
        assert profit_sharing.supplier_shares(order_id) == {shop["supplier_id"]: 6200}  # 2 × ¥31.00
        assert profit_sharing.run_due() == 0  # not completed: still in its return window
    complete_and_settle(app, shop["brand"].id, order_id, days_ago=2)
    with app.app_context():
        assert profit_sharing.run_due() == 0  # completed 2 days ago: its commission is still frozen
    with app.app_context():
        db.session.query(Order).filter(Order.id == order_id).update({"completed_at": utcnow() - timedelta(days=10)})
        db.session.commit()
        settlement.execute_run(settlement.start_run(shop["brand"].id, enqueue=False).id)
        db.session.commit()
        assert profit_sharing.run_due() == 1
        assert profit_sharing.run_due() == 0
        split = db.session.query(ProfitSplit).one()
        assert (split.status, split.amount_fen, split.provider) == ("succeeded", 6200, "wechat")
        assert profit_sharing.supplier_shares(order_id) == {}  # the brand owes the supplier nothing more for it
        assert verify().ok
    sent = wechat.splits[split.out_no]
    assert [(r["account"], r["amount"], r["type"]) for r in sent["receivers"]] == [(OPENID, 6200, "PERSONAL_OPENID")]


def test_a_refused_split_is_retried_then_shown_failed_and_the_manager_retries_it(app, shop, client, browser, wechat,
                                                                                alipay):
    order_id, _ = paid_order(app, client, shop["seller"], "alipay", wechat, alipay)
    complete_and_settle(app, shop["brand"].id, order_id, days_ago=10)
    alipay.unknown_payees.add("westlake@example.com")
    try:
        with app.app_context():
            now = utcnow()
            assert profit_sharing.run_due(now) == 1
            assert profit_sharing.run_due(now) == 0  # spaced: not again at once
            profit_sharing.run_due(now + timedelta(minutes=11))
            profit_sharing.run_due(now + timedelta(minutes=40))
            split = db.session.query(ProfitSplit).one()
            assert (split.status, split.attempts) == ("failed", 3) and "分账收入方账户不存在" in split.failure
            assert profit_sharing.supplier_shares(order_id) == {shop["supplier_id"]: 6200}  # still owed
            split_id = split.id
        browser.login("boss@example.com", "secret123")
        page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
        assert "分账失败" in page and "重试" in page
    finally:
        alipay.unknown_payees.discard("westlake@example.com")
    browser.post(f"/manage/payments/splits/{split_id}/retry", {}, token_from="/manage/payments/reconciliation")
    with app.app_context():
        assert db.session.get(ProfitSplit, split_id).status == "succeeded"
        assert profit_sharing.supplier_shares(order_id) == {}
        assert verify().ok
    assert "已分账" in browser.get("/manage/payments/reconciliation").get_data(as_text=True)
