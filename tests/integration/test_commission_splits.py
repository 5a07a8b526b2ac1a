"""Commission 分账 and 分账回退 through the stand-ins: where the brand enables it, the
promoters' settled commission goes out in the order's one split with the suppliers' shares,
each receiver bound once; a promoter without an account keeps it in the wallet and the page
says why; WeChat's 分账动账通知 settle a split once; a refund after the split takes back
what it takes from each receiver (WeChat return-orders from merchant receivers, Alipay
退分账 inside the refund), reconciled into the ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest

from distweb.extensions import db
from distweb.models import (
    Brand,
    Order,
    PaymentRefund,
    PayoutAccount,
    ProfitSplit,
    Supplier,
)
from distweb.models.base import utcnow
from distweb.models.ledger import AccountKind
from distweb.models.order import OrderMode
from distweb.services import (
    catalogue,
    commission,
    ledger,
    online_pay,
    orders,
    profit_sharing,
    settlement,
)
from distweb.services.verify import verify
from tests.conftest import Browser
from tests.support.shop_payments import paid_order

SELLER_OPENID = "oSellerWestlake00000000001"
SUPPLIER_MCHID = "1900000999"
SUPPLIER_NAME = "杭州西湖龙井茶业有限公司"  # its 商户全称


@pytest.fixture
def shop(app, make, wechat, alipay, trusted):
    """A brand taking both providers with commission 分账 on: a tea sold on promotion and
    consignment (¥59.00, supply cost ¥31.00); a seller (distributor) with an upline; the
    plan pays 10 per cent to the seller's upline level."""
    wechat.failures.clear()
    alipay.failures.clear()
    wechat.split_processing = False
    brand = make.brand()
    top = make.promoter(name="上级", phone="13500000001")
    seller = make.promoter(name="店主", phone="13500000002", upline=top, distributor=True)
    make.supplier_user("westlake")
    with app.app_context():
        brand_row = db.session.get(Brand, brand.id)
        commission.save_plan(brand.id, {"depth": 2, "freeze_days": 7, "max_total_bp": 3000, "rules": [
            {"scope": {}, "level": 1, "kind": "percent", "rate_bp": 1000},
            {"scope": {}, "level": 2, "kind": "percent", "rate_bp": 500}]})
        catalogue.upsert_product(brand_row, "TEA-001", catalogue.ProductInput(
            name="明前龙井", price_fen=5900, supply_cost_fen=3100, supplier_code="westlake",
            modes=("promotion", "consignment")))
        for name, stand_in in (("wechat", wechat), ("alipay", alipay)):
            settings, secrets = stand_in.settings()
            online_pay.save_config(brand.id, name, True, settings, secrets)
        online_pay.save_options(brand.id, None, True)
        supplier_id = db.session.query(Supplier).one().id
        db.session.remove()
    return {"brand": brand, "seller": seller, "top": top, "supplier_id": supplier_id}


def payout_account(app, promoter, method, number):
    with app.app_context():
        db.session.add(PayoutAccount(promoter_id=promoter.id, method=method, account_name=promoter.name,
                                     account_no=number))
        db.session.commit()


def settle(app, brand_id, order_id):
    with app.app_context():
        orders.complete(brand_id, order_id, utcnow() - timedelta(days=10))
        settlement.execute_run(settlement.start_run(brand_id, enqueue=False).id)
        db.session.commit()
        db.session.remove()


SELLER_ACCOUNTS = {"wechat": SELLER_OPENID, "alipay": "seller@example.com"}
SUPPLIER_RECEIVERS = {"wechat": (SUPPLIER_MCHID, SUPPLIER_NAME), "alipay": ("westlake@example.com", "西湖茶农")}


def settled_order(app, client, shop, provider, wechat, alipay, seller_account=True) -> tuple[int, int, str]:
    """The seller's order paid with ``provider`` and settled (its split due): the supplier's
    receiver set for the provider, and the seller's payout account too (``seller_account``).
    Returns (brand_id, order_id, out_trade_no)."""
    brand_id = shop["brand"].id
    if seller_account:
        payout_account(app, shop["seller"], provider, SELLER_ACCOUNTS[provider])
    with app.app_context():
        profit_sharing.save_receiver(brand_id, shop["supplier_id"], provider, *SUPPLIER_RECEIVERS[provider])
    order_id, number = paid_order(app, client, shop["seller"], provider, wechat, alipay)
    settle(app, brand_id, order_id)
    return brand_id, order_id, number


def wallet(brand_id, promoter_id) -> tuple[int, int]:
    return (ledger.balance(brand_id, AccountKind.PROMOTER_AVAILABLE, promoter_id),
            ledger.balance(brand_id, AccountKind.PAID_OUT, promoter_id))


def lines_of(order_id) -> dict[int, int]:
    kept = {}
    for line, _code in commission.lines_for_order(order_id):
        kept[line.promoter_id] = kept.get(line.promoter_id, 0) + line.kept_fen
    return kept


def refund_one_tea(app, browser, order_id) -> PaymentRefund:
    """The manager refunds one of the two teas (¥59.00) through the provider."""
    with app.app_context():
        item_id = db.session.get(Order, order_id).items[0].id
    response = browser.post(f"/manage/orders/{order_id}/refund", {f"amount_{item_id}": "59.00", "reason": "少发一盒"},
                            token_from=f"/manage/orders/{order_id}")
    assert response.status_code == 302
    with app.app_context():
        refund = db.session.query(PaymentRefund).one()
        db.session.expunge(refund)
        return refund


def test_wechat_splits_the_supplier_and_the_sellers_commission_and_returns_the_suppliers_part_on_a_refund(
        app, shop, client, browser, wechat, alipay):
    brand_id = shop["brand"].id
    payout_account(app, shop["seller"], "wechat", SELLER_OPENID)  # the upline has none
    with app.app_context():
        profit_sharing.save_receiver(brand_id, shop["supplier_id"], "wechat", SUPPLIER_MCHID, SUPPLIER_NAME)
    order_id, number = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    assert wechat.transactions[number]["profit_sharing"] is True  # kept frozen for the split
    with app.app_context():
        assert db.session.get(Order, order_id).mode == OrderMode.CONSIGNMENT
        # ¥118.00 paid: supply cost ¥62.00 less the upline's ¥5.90 it funds; the seller's margin ¥56.00.
        assert profit_sharing.supplier_shares(order_id) == {shop["supplier_id"]: 5610}
        assert lines_of(order_id) == {shop["seller"].id: 5600, shop["top"].id: 590}
        assert profit_sharing.run_due() == 0  # frozen: not yet
    settle(app, brand_id, order_id)
    with app.app_context():
        assert profit_sharing.run_due() == 1
        assert profit_sharing.run_due() == 0
        split = db.session.query(ProfitSplit).one()
        assert (split.status, split.amount_fen) == ("succeeded", 5610 + 5600)
        assert profit_sharing.supplier_shares(order_id) == {}
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)  # paid out through the split
        assert wallet(brand_id, shop["top"].id) == (590, 0)  # stays for the manual flow
        assert verify().ok
    sent = wechat.splits[split.out_no]
    assert [(r["account"], r["amount"], r["type"]) for r in sent["receivers"]] == [
        (SUPPLIER_MCHID, 5610, "MERCHANT_ID"), (SELLER_OPENID, 5600, "PERSONAL_OPENID")]
    added = [c for c in wechat.calls if c[1] == "/v3/profitsharing/receivers/add"]
    assert [(c[2]["account"], c[2]["relation_type"]) for c in added] == [(SUPPLIER_MCHID, "SUPPLIER"),
                                                                        (SELLER_OPENID, "DISTRIBUTOR")]
    # The names went encrypted (never in the clear): the merchant's full name, the seller's own.
    assert SUPPLIER_NAME not in str(added) and "店主" not in str(added)
    assert (wechat.receiver_names[SUPPLIER_MCHID], wechat.receiver_names[SELLER_OPENID]) == (SUPPLIER_NAME, "店主")
    browser.login("boss@example.com", "secret123")
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "已分账" in page and "推客未设置该支付方式的收款账户" in page and "上级" in page

    # A second order splits to the same receivers without binding them again.
    second_id, _ = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    settle(app, brand_id, second_id)
    with app.app_context():
        assert profit_sharing.run_due() == 1
    assert len([c for c in wechat.calls if c[1] == "/v3/profitsharing/receivers/add"]) == 2

    # One tea refunded: half of what each receiver got is taken back — the supplier's ¥31.00
    # less the upline's ¥2.95 it funds through WeChat's 分账回退 before the refund; the
    # seller's ¥28.00 cannot be (a person's change): left to finance, and the page says so.
    refund = refund_one_tea(app, browser, order_id)
    returned = list(wechat.split_returns.values())
    assert [(r["return_mchid"], r["amount"], r["out_order_no"], r["result"]) for r in returned] == [
        (SUPPLIER_MCHID, 2805, split.out_no, "SUCCESS")]
    with app.app_context():
        from distweb.models import SplitReturn

        row = db.session.query(SplitReturn).one()
        assert (row.status, row.amount_fen) == ("succeeded", 2805 + 2800)
        assert [(p["kind"], p["amount_fen"], p.get("manual")) for p in row.receivers] == [
            ("supplier", 2805, None), ("promoter", 2800, "personal")]
        assert profit_sharing.supplier_shares(order_id) == {shop["supplier_id"]: 2805}  # until the refund is made
    # WeChat's PROFITSHARING.RETURN for it is acknowledged and changes nothing (it is not a
    # receiver of the split failing; the return's own answer said how it went).
    headers, body = wechat.return_notification(returned[0]["out_return_no"])
    assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    with app.app_context():
        from distweb.models import PaymentNotice

        assert db.session.get(ProfitSplit, split.id).status == "succeeded"
        assert db.session.query(SplitReturn).one().status == "succeeded"
        assert [(n.kind, n.outcome) for n in db.session.query(PaymentNotice).filter(
            PaymentNotice.kind == "split_return")] == [("split_return", "noted")]
        assert wallet(brand_id, shop["seller"].id) == (0, 11200)
        assert profit_sharing.supplier_shares(order_id) == {shop["supplier_id"]: 2805}
        assert verify().ok
    headers, body = wechat.refund_done(refund.out_refund_no)
    assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    with app.app_context():
        assert db.session.get(Order, order_id).refunded_fen == 5900
        assert profit_sharing.supplier_shares(order_id) == {}  # returned exactly what the refund took
        # Both orders' margins went out (2 × ¥56.00); ¥28.00 clawed back, to recover by hand.
        assert wallet(brand_id, shop["seller"].id) == (-2800, 11200)
        assert wallet(brand_id, shop["top"].id) == (590 + 295, 0)
        assert verify().ok
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "分账回退" in page and "已回退" in page and "微信支付不能从个人接收方回退分账" in page


def test_a_merchant_receiver_without_its_full_name_is_not_bound_until_the_manager_gives_it(
        app, shop, client, browser, wechat, alipay):
    """WeChat Pay adds a merchant id as a receiver only with its 商户全称: without it the
    split is not sent (and WeChat not asked) and says why; once the manager saves the name
    on the receivers form, the next try binds and splits."""
    brand_id = shop["brand"].id
    with app.app_context():
        profit_sharing.save_receiver(brand_id, shop["supplier_id"], "wechat", SUPPLIER_MCHID)
    order_id, _ = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    settle(app, brand_id, order_id)
    wechat.calls.clear()
    with app.app_context():
        assert profit_sharing.run_due() == 1
        split = db.session.query(ProfitSplit).one()
        assert (split.status, split.sent_at) == ("pending", None)
        assert "商户全称" in split.failure
    assert [c for c in wechat.calls if c[1].startswith("/v3/profitsharing/")] == []
    browser.login("boss@example.com", "secret123")
    page = browser.get("/manage/settings/payments").get_data(as_text=True)
    assert "收款方名称" in page and "微信商户号须填商户全称" in page
    response = browser.post("/manage/settings/payments/receivers", {
        f"wechat_{shop['supplier_id']}": SUPPLIER_MCHID, f"wechat_name_{shop['supplier_id']}": SUPPLIER_NAME},
        token_from="/manage/settings/payments")
    assert response.status_code == 302
    assert SUPPLIER_NAME in browser.get("/manage/settings/payments").get_data(as_text=True)
    with app.app_context():
        assert profit_sharing.run_due(now=utcnow() + timedelta(hours=1)) == 1
        split = db.session.query(ProfitSplit).one()
        assert (split.status, split.amount_fen, split.failure) == ("succeeded", 5610, None)
    assert wechat.receiver_names[SUPPLIER_MCHID] == SUPPLIER_NAME


def test_alipay_binds_each_receiver_once_and_returns_every_part_inside_the_refund(
        app, shop, client, browser, wechat, alipay):
    brand_id = shop["brand"].id
    payout_account(app, shop["seller"], "alipay", "2088102177846881")
    payout_account(app, shop["top"], "alipay", "top@example.com")
    with app.app_context():
        profit_sharing.save_receiver(brand_id, shop["supplier_id"], "alipay", "westlake@example.com", "西湖茶农")
    order_id, _ = paid_order(app, client, shop["seller"], "alipay", wechat, alipay)
    settle(app, brand_id, order_id)
    binds_before = len([c for c in alipay.calls if c[0] == "alipay.trade.royalty.relation.bind"])
    with app.app_context():
        assert profit_sharing.run_due() == 1
        split = db.session.query(ProfitSplit).one()
        assert (split.status, split.amount_fen) == ("succeeded", 5610 + 590 + 5600)
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)
        assert wallet(brand_id, shop["top"].id) == (0, 590)
        assert verify().ok
    binds = [c[1] for c in alipay.calls if c[0] == "alipay.trade.royalty.relation.bind"][binds_before:]
    assert [(b["receiver_list"][0]["type"], b["receiver_list"][0]["account"], b["receiver_list"][0].get("name"))
            for b in binds] == [("loginName", "westlake@example.com", "西湖茶农"), ("loginName", "top@example.com", "上级"),
                                ("userId", "2088102177846881", "店主")]
    settled = alipay.settles[split.out_no]
    assert settled["parts"] == [("westlake@example.com", 5610), ("top@example.com", 590),
                                ("2088102177846881", 5600)]

    browser.login("boss@example.com", "secret123")
    refund = refund_one_tea(app, browser, order_id)
    assert refund.status == "succeeded"  # Alipay's answer is its confirmation
    assert alipay.royalty_returns[refund.out_refund_no]["parts"] == [
        ("westlake@example.com", 2805), ("top@example.com", 295), ("2088102177846881", 2800)]
    sent = next(c[1] for c in alipay.calls if c[0] == "alipay.trade.refund")
    assert [(p["royalty_type"], p["trans_out_type"], p["amount"]) for p in sent["refund_royalty_parameters"]] == [
        ("transfer", "loginName", "28.05"), ("transfer", "loginName", "2.95"), ("transfer", "userId", "28.00")]
    with app.app_context():
        from distweb.models import SplitReturn

        assert db.session.query(SplitReturn).one().status == "succeeded"
        assert profit_sharing.supplier_shares(order_id) == {}
        assert wallet(brand_id, shop["seller"].id) == (0, 2800)  # what it keeps of the order, paid out
        assert wallet(brand_id, shop["top"].id) == (0, 295)
        assert verify().ok


def test_wechats_profit_sharing_notifications_settle_a_processing_split_once(app, shop, client, wechat, alipay):
    brand_id = shop["brand"].id
    payout_account(app, shop["seller"], "wechat", SELLER_OPENID)
    payout_account(app, shop["top"], "wechat", "oTopWestlake000000000000001")
    order_id, _ = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    settle(app, brand_id, order_id)
    wechat.split_processing = True
    try:
        with app.app_context():
            assert profit_sharing.run_due() == 1
            split = db.session.query(ProfitSplit).one()
            assert (split.status, split.amount_fen) == ("pending", 590 + 5600)
            assert wallet(brand_id, shop["seller"].id) == (0, 0)  # held while the provider works
            assert verify().ok
            out_no = split.out_no
    finally:
        wechat.split_processing = False
    from tests.fakes.keys import rsa_key

    forged = wechat.split_notification(out_no, SELLER_OPENID, sign_key=rsa_key("forger"))
    assert client.post("/pay/wechat/notify", data=forged[1], headers=forged[0]).status_code == 500
    with app.app_context():
        assert db.session.get(ProfitSplit, split.id).status == "pending"
    first = wechat.split_notification(out_no, SELLER_OPENID)
    assert client.post("/pay/wechat/notify", data=first[1], headers=first[0]).status_code == 204
    with app.app_context():
        assert db.session.get(ProfitSplit, split.id).status == "pending"  # the upline's still to come
    last = wechat.split_notification(out_no, "oTopWestlake000000000000001")
    for _ in range(2):
        assert client.post("/pay/wechat/notify", data=last[1], headers=last[0]).status_code == 204
    assert client.post("/pay/wechat/notify", data=first[1], headers=first[0]).status_code == 204
    with app.app_context():
        from distweb.models import PaymentNotice

        assert db.session.get(ProfitSplit, split.id).status == "succeeded"
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)
        assert wallet(brand_id, shop["top"].id) == (0, 590)
        outcomes = [n.outcome for n in db.session.query(PaymentNotice).filter(PaymentNotice.kind == "split")
                    .order_by(PaymentNotice.id)]
        assert outcomes == ["receiver_done", "split", "duplicate", "duplicate"]
        assert verify().ok


def test_commission_withdrawn_before_the_split_stays_with_the_withdrawal_and_the_page_says_why(
        app, shop, client, browser, wechat, alipay):
    from distweb.services import withdrawals

    brand_id = shop["brand"].id
    payout_account(app, shop["seller"], "wechat", SELLER_OPENID)
    order_id, _ = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    settle(app, brand_id, order_id)
    with app.app_context():
        withdrawals.request(shop["seller"].id, withdrawals.Request(5600, "wechat", "店主", SELLER_OPENID))
        assert profit_sharing.run_due() == 0  # nothing left to send: recorded as manual
        split = db.session.query(ProfitSplit).one()
        assert (split.status, split.amount_fen) == ("manual", 0)
        assert [(p["amount_fen"], p["manual"]) for p in split.receivers] == [(590, "no_account"), (5600, "balance")]
        assert wallet(brand_id, shop["seller"].id) == (0, 0)
        assert verify().ok
    assert wechat.splits[split.out_no]["receivers"] == []  # nothing was sent: the payment unfrozen instead
    assert [t for t in wechat.transactions.values() if t.get("unfrozen")] != []
    browser.login("boss@example.com", "secret123")
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "线下结算" in page and "推客钱包余额已提现" in page


def test_a_refused_split_return_is_retried_then_shown_failed(app, shop, client, browser, wechat, alipay):
    brand_id, order_id, _ = settled_order(app, client, shop, "wechat", wechat, alipay, seller_account=False)
    with app.app_context():
        assert profit_sharing.run_due() == 1
    wechat.refusing_returns.add(SUPPLIER_MCHID)
    try:
        browser.login("boss@example.com", "secret123")
        refund = refund_one_tea(app, browser, order_id)
        with app.app_context():
            from distweb.models import SplitReturn

            now = utcnow()
            profit_sharing.run_due(now + timedelta(minutes=11))
            profit_sharing.run_due(now + timedelta(minutes=40))
            row = db.session.query(SplitReturn).one()
            assert (row.status, row.attempts, row.amount_fen) == ("failed", 3, 2805)
            assert "ACCOUNT_ABNORMAL" in row.failure
    finally:
        wechat.refusing_returns.discard(SUPPLIER_MCHID)
    headers, body = wechat.refund_done(refund.out_refund_no)  # the refund itself goes on
    assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    with app.app_context():
        # The supplier still owes the brand what the refund took back from it.
        assert profit_sharing.supplier_shares(order_id) == {shop["supplier_id"]: -2805}
        assert verify().ok
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "回退失败" in page and "ACCOUNT_ABNORMAL" in page


def test_a_failed_commission_split_gives_the_hold_back_and_the_managers_retry_holds_it_again(
        app, shop, client, browser, wechat, alipay):
    brand_id = shop["brand"].id
    payout_account(app, shop["seller"], "alipay", "seller@example.com")
    order_id, _ = paid_order(app, client, shop["seller"], "alipay", wechat, alipay)
    settle(app, brand_id, order_id)
    alipay.unknown_payees.add("seller@example.com")
    try:
        with app.app_context():
            now = utcnow()
            profit_sharing.run_due(now)
            assert wallet(brand_id, shop["seller"].id) == (0, 0)  # held while it is tried
            profit_sharing.run_due(now + timedelta(minutes=11))
            profit_sharing.run_due(now + timedelta(minutes=40))
            split = db.session.query(ProfitSplit).one()
            assert (split.status, split.attempts) == ("failed", 3) and "分账收入方账户不存在" in split.failure
            assert wallet(brand_id, shop["seller"].id) == (5600, 0)  # back in the wallet
            assert verify().ok
            split_id = split.id
    finally:
        alipay.unknown_payees.discard("seller@example.com")
    browser.login("boss@example.com", "secret123")
    browser.post(f"/manage/payments/splits/{split_id}/retry", {}, token_from="/manage/payments/reconciliation")
    with app.app_context():
        assert db.session.get(ProfitSplit, split_id).status == "succeeded"
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)
        assert verify().ok
    assert alipay.settles[split.out_no]["parts"] == [("seller@example.com", 5600)]


def test_a_wechat_split_paid_to_some_receivers_only_moves_theirs_and_cannot_be_retried(
        app, shop, client, browser, wechat, alipay):
    brand_id = shop["brand"].id
    top_openid = "oTopWestlake000000000000001"
    payout_account(app, shop["seller"], "wechat", SELLER_OPENID)
    payout_account(app, shop["top"], "wechat", top_openid)
    with app.app_context():
        profit_sharing.save_receiver(brand_id, shop["supplier_id"], "wechat", SUPPLIER_MCHID, SUPPLIER_NAME)
    order_id, _ = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    settle(app, brand_id, order_id)
    wechat.abnormal_receivers.add(top_openid)
    try:
        with app.app_context():
            assert profit_sharing.run_due() == 1
            split = db.session.query(ProfitSplit).one()
            assert (split.status, split.failure) == ("failed", "ACCOUNT_ABNORMAL")
            assert [(p["amount_fen"], p["result"]) for p in split.receivers] == [
                (5610, "SUCCESS"), (590, "CLOSED"), (5600, "SUCCESS")]
            assert profit_sharing.supplier_shares(order_id) == {}  # the supplier was paid
            assert wallet(brand_id, shop["seller"].id) == (0, 5600)
            assert wallet(brand_id, shop["top"].id) == (590, 0)  # not paid: back in the wallet
            assert verify().ok
            split_id = split.id
    finally:
        wechat.abnormal_receivers.discard(top_openid)
    browser.login("boss@example.com", "secret123")
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "分账失败" in page and "ACCOUNT_ABNORMAL" in page and "重试" not in page.split('id="splits"')[1]
    browser.post(f"/manage/payments/splits/{split_id}/retry", {}, token_from="/manage/payments/reconciliation")
    with app.app_context():
        assert db.session.get(ProfitSplit, split_id).status == "failed"
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)


def split_calls(wechat, method: str) -> int:
    """请求分账 (POST) or 查询分账结果 (GET) calls since the test cleared ``wechat.calls``."""
    return len([c for c in wechat.calls if c[0] == method and c[1].startswith("/v3/profitsharing/orders")
                and not c[1].endswith("/unfreeze")])


def test_commission_paid_by_a_split_is_shown_paid_by_split_to_the_promoter_and_the_manager(
        app, shop, client, browser, wechat, alipay):
    from distweb.models import CommissionLine
    from distweb.models.ledger import LineStatus
    from distweb.services import withdrawals

    brand_id = shop["brand"].id
    payout_account(app, shop["seller"], "wechat", SELLER_OPENID)  # the upline has none
    order_id, _ = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    settle(app, brand_id, order_id)

    def statuses(of_order):
        return {line.promoter_id: (line.status, line.kept_fen) for line in db.session.query(CommissionLine)
                .filter(CommissionLine.order_id == of_order)}

    with app.app_context():
        assert profit_sharing.run_due() == 1
        assert statuses(order_id) == {shop["seller"].id: (LineStatus.SPLIT_PAID, 5600),
                                      shop["top"].id: (LineStatus.AVAILABLE, 590)}
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)
        assert verify().ok
        db.session.query(PayoutAccount).delete()
        db.session.commit()
    # A second order's ¥56.00 stays in the wallet (no account now); the seller withdraws it
    # and is paid: that line is paid out by the withdrawal, the split-paid one is no
    # withdrawal's to cover (it was settled first).
    second_id, _ = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    settle(app, brand_id, second_id)
    with app.app_context():
        assert profit_sharing.run_due() == 0
        assert wallet(brand_id, shop["seller"].id) == (5600, 5600)
        w = withdrawals.request(shop["seller"].id, withdrawals.Request(5600, "wechat", "店主", SELLER_OPENID))
        withdrawals.approve(brand_id, w.id)
        withdrawals.mark_paid(brand_id, w.id, "TRF0001")
        assert statuses(order_id)[shop["seller"].id] == (LineStatus.SPLIT_PAID, 5600)
        assert statuses(second_id)[shop["seller"].id] == (LineStatus.PAID_OUT, 5600)
        assert wallet(brand_id, shop["seller"].id) == (0, 11200)
        assert verify().ok

    seller = Browser(app.test_client())
    seller.login("13500000002", "secret123")
    page = seller.get("/promoter/wallet").get_data(as_text=True)
    assert page.count('line-split_paid">已分账到账<') == 1 and page.count('line-paid_out">已提现<') == 1
    page = seller.get(f"/promoter/orders/{order_id}").get_data(as_text=True)
    assert "已分账到账" in page and "¥56.00" in page

    browser.login("boss@example.com", "secret123")
    page = browser.get(f"/manage/orders/{order_id}").get_data(as_text=True)
    table = page.split('id="commission-lines"')[1].split("</table>")[0]
    rows = sorted(table.split("<tr>")[2:], key=lambda r: "¥5.90" in r)
    assert [("¥56.00" in r, "已分账到账" in r, "¥5.90" in r, "已结算" in r) for r in rows] == [
        (True, True, False, False), (False, False, True, True)]
    assert "已分账" in page.split('id="order-split"')[1]
    # The API keeps its documented statuses: a line the split paid is paid out there.
    with app.app_context():
        from distweb.services.commission_view import lines_json

        assert {c["amount_fen"]: c["status"] for c in lines_json(db.session.get(Order, order_id), api=True)} == {
            5600: "paid_out", 590: "available"}


def test_a_processing_wechat_split_is_queried_not_sent_again_and_its_result_applied_once(
        app, shop, client, wechat, alipay):
    from distweb.models import CommissionLine, PaymentNotice
    from distweb.models.ledger import LineStatus

    wechat.calls.clear()
    brand_id, order_id, _ = settled_order(app, client, shop, "wechat", wechat, alipay)
    wechat.split_processing = True
    try:
        with app.app_context():
            now = utcnow()
            assert profit_sharing.run_due(now) == 1
            split = db.session.query(ProfitSplit).one()
            assert (split.status, split.attempts, split.amount_fen) == ("pending", 0, 5610 + 5600)
            out_no, split_id = split.out_no, split.id
            assert profit_sharing.run_due(now + timedelta(minutes=5)) == 0  # not yet due
            assert profit_sharing.run_due(now + timedelta(minutes=11)) == 1  # asked: still processing
            assert db.session.get(ProfitSplit, split_id).status == "pending"
    finally:
        wechat.split_processing = False
    assert (split_calls(wechat, "POST"), split_calls(wechat, "GET")) == (1, 1)
    wechat.finish_split(out_no)  # done at WeChat, its notifications not (yet) arrived
    with app.app_context():
        assert profit_sharing.run_due(now + timedelta(minutes=22)) == 1
        row = db.session.get(ProfitSplit, split_id)
        assert (row.status, row.out_no) == ("succeeded", out_no)
        assert profit_sharing.run_due(now + timedelta(minutes=33)) == 0
        assert profit_sharing.supplier_shares(order_id) == {}
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)
        assert {line.status for line in db.session.query(CommissionLine).filter(
            CommissionLine.order_id == order_id, CommissionLine.promoter_id == shop["seller"].id)} == {
            LineStatus.SPLIT_PAID}
        assert verify().ok
    assert (split_calls(wechat, "POST"), split_calls(wechat, "GET")) == (1, 2)
    # The notifications come late: nothing moves twice.
    for account in (SUPPLIER_MCHID, SELLER_OPENID):
        headers, body = wechat.split_notification(out_no, account)
        assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    with app.app_context():
        assert [n.outcome for n in db.session.query(PaymentNotice).filter(PaymentNotice.kind == "split")] == [
            "duplicate", "duplicate"]
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)
        assert profit_sharing.supplier_shares(order_id) == {}
        assert verify().ok


def test_a_wechat_split_left_without_an_answer_is_queried_and_sent_again_only_when_wechat_does_not_know_it(
        app, shop, client, wechat, alipay):
    from distweb.models import CommissionLine
    from distweb.models.ledger import LineStatus

    wechat.calls.clear()
    brand_id = shop["brand"].id
    payout_account(app, shop["seller"], "wechat", SELLER_OPENID)
    first_id, _ = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    settle(app, brand_id, first_id)
    # WeChat makes the split but its answer is lost: the next look asks, and applies what it says.
    wechat.lose_answers.append(("POST", "/v3/profitsharing/orders"))
    with app.app_context():
        now = utcnow()
        assert profit_sharing.run_due(now) == 1
        split = db.session.query(ProfitSplit).one()
        assert (split.status, split.attempts) == ("pending", 1) and "SYSTEM_ERROR" in split.failure
        assert wallet(brand_id, shop["seller"].id) == (0, 0)  # held while unknown
        out_no = split.out_no
    assert wechat.splits[out_no]["receivers"][0]["result"] == "SUCCESS"
    with app.app_context():
        assert profit_sharing.run_due(now + timedelta(minutes=11)) == 1
        split = db.session.query(ProfitSplit).one()
        assert (split.status, split.out_no) == ("succeeded", out_no)
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)
        assert db.session.query(CommissionLine).filter(CommissionLine.order_id == first_id,
                                                       CommissionLine.promoter_id == shop["seller"].id).one() \
            .status == LineStatus.SPLIT_PAID
        assert verify().ok
    assert (split_calls(wechat, "POST"), split_calls(wechat, "GET")) == (1, 1)

    # Refused before WeChat made it: the look finds none, and the same number is sent again.
    second_id, _ = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    settle(app, brand_id, second_id)
    wechat.fail_next(500, "SYSTEM_ERROR", "系统繁忙")
    with app.app_context():
        assert profit_sharing.run_due(now) == 1
        split = db.session.query(ProfitSplit).filter(ProfitSplit.order_id == second_id).one()
        assert (split.status, split.attempts) == ("pending", 1)
        second_no = split.out_no
        assert second_no not in wechat.splits
        assert profit_sharing.run_due(now + timedelta(minutes=11)) == 1
        split = db.session.query(ProfitSplit).filter(ProfitSplit.order_id == second_id).one()
        assert (split.status, split.out_no) == ("succeeded", second_no)
        assert wallet(brand_id, shop["seller"].id) == (0, 11200)
        assert verify().ok
    assert (split_calls(wechat, "POST"), split_calls(wechat, "GET")) == (3, 2)


def test_a_wechat_split_whose_receivers_all_closed_fails_at_once_and_the_retry_goes_under_a_new_number(
        app, shop, client, browser, wechat, alipay):
    from distweb.models import CommissionLine, PaymentNotice
    from distweb.models.ledger import LineStatus

    wechat.calls.clear()
    brand_id = shop["brand"].id
    payout_account(app, shop["seller"], "wechat", SELLER_OPENID)
    order_id, _ = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    settle(app, brand_id, order_id)
    wechat.abnormal_receivers.add(SELLER_OPENID)
    try:
        with app.app_context():
            now = utcnow()
            assert profit_sharing.run_due(now) == 1
            split = db.session.query(ProfitSplit).one()
            # WeChat's answer is final: not sent twice more under the same number.
            assert (split.status, split.attempts, split.failure) == ("failed", 1, "ACCOUNT_ABNORMAL")
            assert [(p["amount_fen"], p.get("manual"), p.get("result")) for p in split.receivers] == [
                (590, "no_account", None), (5600, None, "CLOSED")]
            assert wallet(brand_id, shop["seller"].id) == (5600, 0)  # the hold given back
            assert profit_sharing.run_due(now + timedelta(hours=1)) == 0
            assert verify().ok
            first_no, split_id = split.out_no, split.id
    finally:
        wechat.abnormal_receivers.discard(SELLER_OPENID)
    assert split_calls(wechat, "POST") == 1
    browser.login("boss@example.com", "secret123")
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "分账失败" in page and "重试" in page.split('id="splits"')[1]
    # WeChat cannot be asked what became of the old number: nothing is sent, nothing held.
    wechat.fail_next(500, "SYSTEM_ERROR", "系统繁忙")
    response = browser.post(f"/manage/payments/splits/{split_id}/retry", {},
                            token_from="/manage/payments/reconciliation")
    assert "无法向支付平台确认上次分账的结果" in browser.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        row = db.session.get(ProfitSplit, split_id)
        assert (row.status, row.out_no, row.earlier_out_nos) == ("failed", first_no, [])
        assert wallet(brand_id, shop["seller"].id) == (5600, 0)
    assert split_calls(wechat, "POST") == 1
    wechat.calls.clear()
    browser.post(f"/manage/payments/splits/{split_id}/retry", {}, token_from="/manage/payments/reconciliation")
    with app.app_context():
        row = db.session.get(ProfitSplit, split_id)
        assert (row.status, row.out_no, row.earlier_out_nos) == ("succeeded", f"{first_no}_2", [first_no])
        assert [(p["amount_fen"], p.get("result")) for p in row.receivers] == [(590, None), (5600, None)]
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)
        assert {line.status for line in db.session.query(CommissionLine).filter(
            CommissionLine.order_id == order_id, CommissionLine.promoter_id == shop["seller"].id)} == {
            LineStatus.SPLIT_PAID}
        assert verify().ok
    # WeChat asked about the old number first, then got the new one; the old stays closed.
    assert [c[1] for c in wechat.calls if c[1].startswith("/v3/profitsharing/orders/")] == [
        f"/v3/profitsharing/orders/{first_no}"]
    assert wechat.splits[first_no]["receivers"][0]["result"] == "CLOSED"
    assert [(r["account"], r["amount"], r["result"]) for r in wechat.splits[f"{first_no}_2"]["receivers"]] == [
        (SELLER_OPENID, 5600, "SUCCESS")]
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "此前失败的分账单号" in page and first_no in page and f"{first_no}_2" in page

    # The same attempt again changes nothing: a second retry is refused, a resend of the
    # new number is the same split, its late 分账动账通知 is a duplicate (WeChat sends none
    # for the old number's receiver: a CLOSED receiver is only told by the query).
    response = browser.post(f"/manage/payments/splits/{split_id}/retry", {},
                            token_from="/manage/payments/reconciliation")
    assert response.status_code == 302
    with app.app_context():
        row = db.session.get(ProfitSplit, split_id)
        assert profit_sharing.send(row) == "duplicate"
        assert db.session.get(ProfitSplit, split_id).out_no == f"{first_no}_2"
    assert split_calls(wechat, "POST") == 2  # the retry, then its resend (the same number)
    assert sorted(k for k in wechat.splits if k.startswith(first_no)) == [first_no, f"{first_no}_2"]
    headers, body = wechat.split_notification(f"{first_no}_2", SELLER_OPENID)
    assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    with app.app_context():
        assert db.session.query(PaymentNotice).filter(PaymentNotice.kind == "split").one().outcome == "duplicate"
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)
        assert verify().ok


def settle_calls(alipay, method: str, number: str) -> int:
    """Calls of ``method`` (alipay.trade.order.settle or its .query) for request ``number``."""
    return len([c for c in alipay.calls if c[0] == method and c[1].get("out_request_no") == number])


def split_kinds(order_id) -> list[str]:
    """The ledger transactions the order's split made, in order."""
    from distweb.models import LedgerTransaction

    return [t.kind for t in db.session.query(LedgerTransaction).filter(
        LedgerTransaction.order_id == order_id,
        LedgerTransaction.kind.in_(("commission_split_hold", "commission_split_return", "supplier_split")))
        .order_by(LedgerTransaction.id)]


@pytest.fixture
def slow_alipay(app, alipay):
    """Alipay calls time out after half a second; a stalled call is held a second."""
    app.config["PAYMENT_HTTP_TIMEOUT"] = 0.5
    alipay.stall, alipay.stalls[:] = 1.0, []
    yield alipay
    alipay.stalls.clear()
    app.config["PAYMENT_HTTP_TIMEOUT"] = 10.0


def test_an_alipay_split_without_answers_keeps_the_holds_and_the_query_saying_settled_pays_it_once(
        app, shop, client, browser, wechat, slow_alipay):
    alipay = slow_alipay
    brand_id, order_id, _ = settled_order(app, client, shop, "alipay", wechat, alipay)
    # Alipay settles it but its answer is lost; then two queries go unanswered.
    alipay.stall_next("alipay.trade.order.settle", reached=True)
    alipay.stall_next("alipay.trade.order.settle.query", reached=False)
    alipay.stall_next("alipay.trade.order.settle.query", reached=False)
    with app.app_context():
        now = utcnow()
        assert profit_sharing.run_due(now) == 1
        split = db.session.query(ProfitSplit).one()
        out_no, split_id = split.out_no, split.id
        assert (split.status, split.attempts) == ("pending", 1)
        assert alipay.settles[out_no]["parts"] == [("westlake@example.com", 5610), ("seller@example.com", 5600)]
        profit_sharing.run_due(now + timedelta(minutes=11))
        profit_sharing.run_due(now + timedelta(minutes=40))
        split = db.session.get(ProfitSplit, split_id)
        # Failed without Alipay's word: shown failed, but the seller's ¥56.00 stays held and
        # the supplier's ¥56.10 stays owed until Alipay says what became of it.
        assert (split.status, split.attempts, split.completed_at) == ("failed", 3, None)
        assert wallet(brand_id, shop["seller"].id) == (0, 0)
        assert profit_sharing.supplier_shares(order_id) == {shop["supplier_id"]: 5610}
        assert split_kinds(order_id) == ["commission_split_hold"]
        assert verify().ok
    browser.login("boss@example.com", "secret123")
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "分账失败" in page and "支付平台未答复，结果待确认" in page
    with app.app_context():
        assert profit_sharing.run_due(now + timedelta(minutes=41)) == 0  # asked again only when due
        assert profit_sharing.run_due(now + timedelta(hours=2)) == 1
        split = db.session.get(ProfitSplit, split_id)
        assert (split.status, split.out_no, split.earlier_out_nos) == ("succeeded", out_no, [])
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)  # paid out; never given back
        assert profit_sharing.supplier_shares(order_id) == {}
        assert split_kinds(order_id) == ["commission_split_hold", "supplier_split"]
        assert profit_sharing.run_due(now + timedelta(hours=3)) == 0
        assert verify().ok
    # Sent once; asked three times (two unanswered); the manager has nothing to retry.
    assert settle_calls(alipay, "alipay.trade.order.settle", out_no) == 1
    assert settle_calls(alipay, "alipay.trade.order.settle.query", out_no) == 3
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "已分账" in page and "支付平台未答复" not in page
    response = browser.post(f"/manage/payments/splits/{split_id}/retry", {},
                            token_from="/manage/payments/reconciliation")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(ProfitSplit, split_id).status == "succeeded"
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)


def test_an_alipay_split_alipay_never_got_is_sent_again_under_its_number_then_released_and_retried_under_a_new_one(
        app, shop, client, browser, wechat, slow_alipay):
    alipay = slow_alipay
    brand_id = shop["brand"].id
    payout_account(app, shop["seller"], "alipay", "seller@example.com")
    order_id, _ = paid_order(app, client, shop["seller"], "alipay", wechat, alipay)
    settle(app, brand_id, order_id)
    for _ in range(3):  # every settle request lost on its way: Alipay never makes it
        alipay.stall_next("alipay.trade.order.settle", reached=False)
    with app.app_context():
        now = utcnow()
        profit_sharing.run_due(now)
        profit_sharing.run_due(now + timedelta(minutes=11))
        profit_sharing.run_due(now + timedelta(minutes=40))
        split = db.session.query(ProfitSplit).one()
        first_no, split_id = split.out_no, split.id
        assert (split.status, split.attempts, split.completed_at) == ("failed", 3, None)
        assert wallet(brand_id, shop["seller"].id) == (0, 0)  # held: the outcome is unknown
        assert verify().ok
    # Each look asked first, and sent the same number again only because Alipay did not know it.
    assert settle_calls(alipay, "alipay.trade.order.settle", first_no) == 3
    assert settle_calls(alipay, "alipay.trade.order.settle.query", first_no) == 2
    assert first_no not in alipay.settles
    with app.app_context():
        assert profit_sharing.run_due(now + timedelta(hours=2)) == 1  # asked: Alipay does not know it
        split = db.session.get(ProfitSplit, split_id)
        assert split.status == "failed" and split.completed_at is not None
        assert wallet(brand_id, shop["seller"].id) == (5600, 0)  # only now given back
        assert split_kinds(order_id) == ["commission_split_hold", "commission_split_return"]
        assert profit_sharing.run_due(now + timedelta(hours=3)) == 0
        assert verify().ok
    assert settle_calls(alipay, "alipay.trade.order.settle", first_no) == 3  # not sent a fourth time
    # The manager's retry asks once more, then goes under a new number, held again.
    browser.login("boss@example.com", "secret123")
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "分账失败" in page and "支付平台未答复" not in page  # Alipay's word is in
    browser.post(f"/manage/payments/splits/{split_id}/retry", {}, token_from="/manage/payments/reconciliation")
    with app.app_context():
        row = db.session.get(ProfitSplit, split_id)
        assert (row.status, row.out_no, row.earlier_out_nos) == ("succeeded", f"{first_no}_2", [first_no])
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)
        assert split_kinds(order_id) == ["commission_split_hold", "commission_split_return",
                                         "commission_split_hold", "supplier_split"]
        assert verify().ok
    assert alipay.settles[f"{first_no}_2"]["parts"] == [("seller@example.com", 5600)]
    assert first_no not in alipay.settles
    assert settle_calls(alipay, "alipay.trade.order.settle.query", first_no) == 4
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "此前失败的分账单号" in page and first_no in page


def test_a_manager_retry_of_an_alipay_split_left_without_answers_applies_what_alipay_says_and_sends_nothing(
        app, shop, client, browser, wechat, slow_alipay):
    alipay = slow_alipay
    brand_id = shop["brand"].id
    payout_account(app, shop["seller"], "alipay", "seller@example.com")
    order_id, _ = paid_order(app, client, shop["seller"], "alipay", wechat, alipay)
    settle(app, brand_id, order_id)
    now, split_id = alipay_split_left_unresolved(app, alipay)
    with app.app_context():
        out_no = db.session.get(ProfitSplit, split_id).out_no
    # Alipay cannot be asked: the retry changes nothing.
    alipay.stall_next("alipay.trade.order.settle.query", reached=False)
    browser.login("boss@example.com", "secret123")
    response = browser.post(f"/manage/payments/splits/{split_id}/retry", {},
                            token_from="/manage/payments/reconciliation")
    assert "无法向支付平台确认上次分账的结果" in browser.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        row = db.session.get(ProfitSplit, split_id)
        assert (row.status, row.out_no, row.completed_at) == ("failed", out_no, None)
        assert wallet(brand_id, shop["seller"].id) == (0, 0)
    browser.post(f"/manage/payments/splits/{split_id}/retry", {}, token_from="/manage/payments/reconciliation")
    with app.app_context():
        row = db.session.get(ProfitSplit, split_id)
        assert (row.status, row.out_no, row.earlier_out_nos) == ("succeeded", out_no, [])
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)  # held once, paid once
        assert split_kinds(order_id) == ["commission_split_hold", "supplier_split"]
        assert verify().ok
    assert settle_calls(alipay, "alipay.trade.order.settle", out_no) == 1


def test_an_alipay_split_left_without_an_answer_that_paid_only_the_supplier_moves_its_share_and_gives_the_hold_back(
        app, shop, client, browser, wechat, slow_alipay):
    alipay = slow_alipay
    brand_id, order_id, _ = settled_order(app, client, shop, "alipay", wechat, alipay)
    alipay.stall_next("alipay.trade.order.settle", reached=True)
    alipay.failing_receivers.add("seller@example.com")
    try:
        with app.app_context():
            now = utcnow()
            profit_sharing.run_due(now)
            assert wallet(brand_id, shop["seller"].id) == (0, 0)
            assert profit_sharing.run_due(now + timedelta(minutes=11)) == 1  # asked: final, one receiver failed
            split = db.session.query(ProfitSplit).one()
            assert (split.status, split.failure) == ("failed", "分账收款方账户状态异常")
            assert [(p["amount_fen"], p.get("result")) for p in split.receivers] == [
                (5610, "SUCCESS"), (590, None), (5600, "CLOSED")]  # the upline has no account: manual
            assert profit_sharing.supplier_shares(order_id) == {}  # the supplier was paid
            assert wallet(brand_id, shop["seller"].id) == (5600, 0)  # not paid: back in the wallet
            assert split_kinds(order_id) == ["commission_split_hold", "supplier_split", "commission_split_return"]
            assert verify().ok
            out_no = split.out_no
    finally:
        alipay.failing_receivers.discard("seller@example.com")
    assert settle_calls(alipay, "alipay.trade.order.settle", out_no) == 1
    browser.login("boss@example.com", "secret123")
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "分账失败" in page and "分账收款方账户状态异常" in page and "重试" not in page.split('id="splits"')[1]


def test_a_wechat_split_failed_without_answers_keeps_the_hold_and_wechats_notification_settles_it_once(
        app, shop, client, wechat, alipay):
    from distweb.models import PaymentNotice

    brand_id = shop["brand"].id
    payout_account(app, shop["seller"], "wechat", SELLER_OPENID)
    order_id, _ = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    settle(app, brand_id, order_id)
    wechat.lose_answers.append(("POST", "/v3/profitsharing/orders"))  # made at WeChat, the answer lost
    with app.app_context():
        now = utcnow()
        profit_sharing.run_due(now)
        wechat.fail_next(500, "SYSTEM_ERROR", "系统繁忙")
        profit_sharing.run_due(now + timedelta(minutes=11))
        wechat.fail_next(500, "SYSTEM_ERROR", "系统繁忙")
        profit_sharing.run_due(now + timedelta(minutes=40))
        split = db.session.query(ProfitSplit).one()
        assert (split.status, split.attempts, split.completed_at) == ("failed", 3, None)
        assert wallet(brand_id, shop["seller"].id) == (0, 0)  # held: WeChat may have made it
        assert verify().ok
        out_no, split_id = split.out_no, split.id
    headers, body = wechat.split_notification(out_no, SELLER_OPENID)
    for _ in range(2):
        assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    with app.app_context():
        assert db.session.get(ProfitSplit, split_id).status == "succeeded"
        assert wallet(brand_id, shop["seller"].id) == (0, 5600)
        assert split_kinds(order_id) == ["commission_split_hold", "supplier_split"]
        assert [n.outcome for n in db.session.query(PaymentNotice).filter(PaymentNotice.kind == "split")
                .order_by(PaymentNotice.id)] == ["split", "duplicate"]
        assert profit_sharing.run_due(now + timedelta(hours=3)) == 0
        assert verify().ok


# ---------------------------------------------------------------- refunds while the split's outcome is open


def split_return_rows(order_id):
    from distweb.models import SplitReturn

    return db.session.query(SplitReturn).join(ProfitSplit, ProfitSplit.id == SplitReturn.split_id).filter(
        ProfitSplit.order_id == order_id).order_by(SplitReturn.id).all()


def returned_parts(row) -> list[tuple]:
    return [(p["kind"], p["amount_fen"], p.get("manual")) for p in row.receivers]


def returns_at(wechat, since: set[str]) -> list[dict]:
    """WeChat's return-orders made since ``since`` (the stand-in serves every test)."""
    return [r for no, r in wechat.split_returns.items() if no not in since]


def refund_done(client, wechat, refund) -> None:
    headers, body = wechat.refund_done(refund.out_refund_no)
    assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204


def test_a_refund_while_a_wechat_split_is_unresolved_is_returned_once_the_query_says_it_paid(
        app, shop, client, browser, wechat, alipay):
    brand_id, order_id, _ = settled_order(app, client, shop, "wechat", wechat, alipay)
    before = set(wechat.split_returns)
    # WeChat makes the split, its answer is lost, and the next two looks go unanswered.
    wechat.lose_answers.append(("POST", "/v3/profitsharing/orders"))
    with app.app_context():
        now = utcnow()
        profit_sharing.run_due(now)
        wechat.fail_next(500, "SYSTEM_ERROR", "系统繁忙")
        profit_sharing.run_due(now + timedelta(minutes=11))
        wechat.fail_next(500, "SYSTEM_ERROR", "系统繁忙")
        profit_sharing.run_due(now + timedelta(minutes=40))
        split = db.session.query(ProfitSplit).one()
        assert (split.status, split.completed_at) == ("failed", None)  # unresolved, holds kept
        split_id, out_no = split.id, split.out_no
    assert wechat.splits[out_no]["receivers"][0]["result"] == "SUCCESS"
    # One tea refunded; the refund's own query about the split goes unanswered too.
    browser.login("boss@example.com", "secret123")
    asked = split_calls(wechat, "GET")
    wechat.fail_next(500, "SYSTEM_ERROR", "系统繁忙")
    refund = refund_one_tea(app, browser, order_id)
    assert split_calls(wechat, "GET") == asked + 1  # asked once before the refund
    assert returns_at(wechat, before) == []  # nothing to take back from a split not known paid
    refund_done(client, wechat, refund)
    with app.app_context():
        assert db.session.get(Order, order_id).refunded_fen == 5900
        row = split_return_rows(order_id)[0]
        # What the refund took from each receiver: the supplier's ¥31.00 less the upline's
        # ¥2.95 it funds, and half the seller's margin.
        assert (row.status, row.amount_fen) == ("awaiting", 2805 + 2800)
        assert profit_sharing.supplier_shares(order_id) == {shop["supplier_id"]: 2805}
        assert verify().ok
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "等待分账结果" in page and "退款时分账结果未知" in page
    # The next look: WeChat says paid. The supplier's part goes back through 分账回退 (after
    # the refund, which WeChat allows); the seller's change cannot, left to finance.
    with app.app_context():
        profit_sharing.run_due(now + timedelta(hours=2))
        assert db.session.get(ProfitSplit, split_id).status == "succeeded"
        row = split_return_rows(order_id)[0]
        assert (row.status, row.amount_fen) == ("succeeded", 2805 + 2800)
        assert returned_parts(row) == [("supplier", 2805, None), ("promoter", 2800, "personal")]
        assert profit_sharing.supplier_shares(order_id) == {}  # returned exactly what the refund took
        assert wallet(brand_id, shop["seller"].id) == (-2800, 5600)  # ¥28.00 to recover by hand
        assert wallet(brand_id, shop["top"].id) == (295, 0)
        assert verify().ok
    assert [(r["return_mchid"], r["amount"], r["out_order_no"], r["result"]) for r in returns_at(wechat, before)] \
        == [(SUPPLIER_MCHID, 2805, out_no, "SUCCESS")]
    # Run again (the sweep, the recovery itself): still the one return.
    with app.app_context():
        from distweb.services import split_returns

        assert profit_sharing.run_due(now + timedelta(hours=5)) == 0
        assert split_returns.after_split(split_id) == []
        assert len(split_return_rows(order_id)) == 1
        assert verify().ok
    assert len(returns_at(wechat, before)) == 1
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "已回退" in page and "微信支付不能从个人接收方回退分账" in page and "等待分账结果" not in page


@pytest.mark.parametrize("refund_confirmed_first", [True, False])
def test_a_refund_while_a_wechat_split_is_processing_is_returned_when_its_notifications_arrive_once(
        app, shop, client, browser, wechat, alipay, refund_confirmed_first):
    brand_id, order_id, _ = settled_order(app, client, shop, "wechat", wechat, alipay)
    before = set(wechat.split_returns)
    wechat.split_processing = True
    try:
        with app.app_context():
            profit_sharing.run_due()
            split = db.session.query(ProfitSplit).one()
            assert split.status == "pending"
            split_id, out_no = split.id, split.out_no
        browser.login("boss@example.com", "secret123")
        refund = refund_one_tea(app, browser, order_id)  # its query: still PROCESSING
    finally:
        wechat.split_processing = False
    if refund_confirmed_first:
        refund_done(client, wechat, refund)
    with app.app_context():
        assert db.session.get(ProfitSplit, split_id).status == "pending"
        assert split_return_rows(order_id)[0].status == "awaiting"
    first = wechat.split_notification(out_no, SUPPLIER_MCHID)
    assert client.post("/pay/wechat/notify", data=first[1], headers=first[0]).status_code == 204
    assert returns_at(wechat, before) == []  # not before the split is settled
    last = wechat.split_notification(out_no, SELLER_OPENID)
    for _ in range(2):
        assert client.post("/pay/wechat/notify", data=last[1], headers=last[0]).status_code == 204
    if not refund_confirmed_first:
        with app.app_context():
            assert db.session.get(ProfitSplit, split_id).status == "succeeded"
            # A return is made for a refund made: this one waits for the refund's confirmation.
            assert split_return_rows(order_id)[0].status == "awaiting"
            assert profit_sharing.run_due(utcnow() + timedelta(hours=1)) == 0
        assert returns_at(wechat, before) == []
        refund_done(client, wechat, refund)
    with app.app_context():
        assert db.session.get(ProfitSplit, split_id).status == "succeeded"
        rows = split_return_rows(order_id)
        assert [(r.status, r.amount_fen) for r in rows] == [("succeeded", 2805 + 2800)]
        assert returned_parts(rows[0]) == [("supplier", 2805, None), ("promoter", 2800, "personal")]
        assert profit_sharing.supplier_shares(order_id) == {}
        assert wallet(brand_id, shop["seller"].id) == (-2800, 5600)
        assert profit_sharing.run_due(utcnow() + timedelta(hours=1)) == 0
        assert verify().ok
    assert [(r["return_mchid"], r["amount"]) for r in returns_at(wechat, before)] == [(SUPPLIER_MCHID, 2805)]
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "已回退" in page


def test_a_refund_asks_wechat_about_a_split_without_an_answer_first_and_returns_before_the_refund(
        app, shop, client, browser, wechat, alipay):
    brand_id, order_id, _ = settled_order(app, client, shop, "wechat", wechat, alipay, seller_account=False)
    before = set(wechat.split_returns)
    wechat.lose_answers.append(("POST", "/v3/profitsharing/orders"))
    with app.app_context():
        profit_sharing.run_due()
        split = db.session.query(ProfitSplit).one()
        assert split.status == "pending"
        split_id, out_no = split.id, split.out_no
    browser.login("boss@example.com", "secret123")
    refund_one_tea(app, browser, order_id)  # its query finds the split paid
    with app.app_context():
        assert db.session.get(ProfitSplit, split_id).status == "succeeded"
        row = split_return_rows(order_id)[0]
        # Returned before the refund is even confirmed, as for any split known paid.
        assert (row.status, returned_parts(row)) == ("succeeded", [("supplier", 2805, None)])
        assert verify().ok
    assert [(r["return_mchid"], r["amount"], r["out_order_no"]) for r in returns_at(wechat, before)] == [
        (SUPPLIER_MCHID, 2805, out_no)]


def alipay_split_left_unresolved(app, alipay):
    """Alipay settles the order's split but its answer is lost, and the two queries after it
    go unanswered: the split is failed without Alipay's word (holds kept). Returns (the time
    the split was first sent, its id)."""
    alipay.stall_next("alipay.trade.order.settle", reached=True)
    alipay.stall_next("alipay.trade.order.settle.query", reached=False)
    alipay.stall_next("alipay.trade.order.settle.query", reached=False)
    with app.app_context():
        now = utcnow()
        profit_sharing.run_due(now)
        profit_sharing.run_due(now + timedelta(minutes=11))
        profit_sharing.run_due(now + timedelta(minutes=40))
        split = db.session.query(ProfitSplit).one()
        assert (split.status, split.completed_at) == ("failed", None)
        return now, split.id


def test_a_refund_while_an_alipay_split_is_unresolved_is_left_to_finance_with_why_once_it_turns_out_paid(
        app, shop, client, browser, wechat, slow_alipay):
    alipay = slow_alipay
    brand_id, order_id, _ = settled_order(app, client, shop, "alipay", wechat, alipay)
    now, split_id = alipay_split_left_unresolved(app, alipay)
    alipay.stall_next("alipay.trade.order.settle.query", reached=False)  # the refund's query too
    browser.login("boss@example.com", "secret123")
    refund = refund_one_tea(app, browser, order_id)
    assert refund.status == "succeeded"
    sent = [c[1] for c in alipay.calls if c[0] == "alipay.trade.refund"][-1]
    assert not sent.get("refund_royalty_parameters")  # nothing known to take back when it went
    with app.app_context():
        assert split_return_rows(order_id)[0].status == "awaiting"
        profit_sharing.run_due(now + timedelta(hours=2))  # Alipay: settled
        assert db.session.get(ProfitSplit, split_id).status == "succeeded"
        row = split_return_rows(order_id)[0]
        # Alipay's 退分账 rides only inside a refund, and this one has gone: each part the
        # refund took is left for finance to recover, and the ledger keeps it owed.
        assert (row.status, row.amount_fen) == ("manual", 2805 + 2800)
        assert returned_parts(row) == [("supplier", 2805, "after_refund"), ("promoter", 2800, "after_refund")]
        assert profit_sharing.supplier_shares(order_id) == {shop["supplier_id"]: -2805}
        assert wallet(brand_id, shop["seller"].id) == (-2800, 5600)
        assert profit_sharing.run_due(now + timedelta(hours=5)) == 0
        assert len(split_return_rows(order_id)) == 1
        assert verify().ok
    assert refund.out_refund_no not in alipay.royalty_returns
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "线下结算" in page and "支付宝的退分账只能随退款一起发起" in page


def test_a_refund_asks_alipay_about_an_unresolved_split_first_so_its_return_rides_inside_the_refund(
        app, shop, client, browser, wechat, slow_alipay):
    alipay = slow_alipay
    brand_id, order_id, _ = settled_order(app, client, shop, "alipay", wechat, alipay, seller_account=False)
    now, split_id = alipay_split_left_unresolved(app, alipay)
    browser.login("boss@example.com", "secret123")
    refund = refund_one_tea(app, browser, order_id)  # its query: Alipay settled it
    assert refund.status == "succeeded"
    assert alipay.royalty_returns[refund.out_refund_no]["parts"] == [("westlake@example.com", 2805)]
    with app.app_context():
        assert db.session.get(ProfitSplit, split_id).status == "succeeded"
        row = split_return_rows(order_id)[0]
        assert (row.status, returned_parts(row)) == ("succeeded", [("supplier", 2805, None)])
        assert profit_sharing.supplier_shares(order_id) == {}
        assert verify().ok


def test_a_refund_while_a_split_is_open_returns_nothing_when_the_split_fails_and_the_hold_goes_back(
        app, shop, client, browser, wechat, alipay):
    brand_id, order_id, _ = settled_order(app, client, shop, "wechat", wechat, alipay)
    before = set(wechat.split_returns)
    # WeChat closes every receiver (their accounts abnormal), and its answer is lost.
    wechat.abnormal_receivers.update({SUPPLIER_MCHID, SELLER_OPENID})
    wechat.lose_answers.append(("POST", "/v3/profitsharing/orders"))
    try:
        with app.app_context():
            now = utcnow()
            profit_sharing.run_due(now)
            split = db.session.query(ProfitSplit).one()
            assert split.status == "pending"
            split_id = split.id
        browser.login("boss@example.com", "secret123")
        wechat.fail_next(500, "SYSTEM_ERROR", "系统繁忙")  # the refund's query unanswered
        refund = refund_one_tea(app, browser, order_id)
        refund_done(client, wechat, refund)
        with app.app_context():
            assert split_return_rows(order_id)[0].status == "awaiting"
            assert wallet(brand_id, shop["seller"].id) == (-2800, 0)  # clawed back; ¥56.00 still held
            profit_sharing.run_due(now + timedelta(minutes=11))  # the look: every receiver CLOSED
            split = db.session.get(ProfitSplit, split_id)
            assert split.status == "failed" and split.completed_at is not None
            row = split_return_rows(order_id)[0]
            assert (row.status, row.failure) == ("void", "split_failed")
            assert wallet(brand_id, shop["seller"].id) == (2800, 0)  # the hold back, less what the refund took
            assert profit_sharing.supplier_shares(order_id) == {shop["supplier_id"]: 2805}  # still owed to it
            assert verify().ok
    finally:
        wechat.abnormal_receivers.difference_update({SUPPLIER_MCHID, SELLER_OPENID})
    assert returns_at(wechat, before) == []
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "无需回退" in page and "分账未成功，接收方未收到款项" in page


def test_a_managers_retry_after_a_refund_sends_only_what_is_still_owed(
        app, shop, client, browser, wechat, alipay):
    # The seller has no WeChat account: only the supplier's share goes.
    brand_id, order_id, _ = settled_order(app, client, shop, "wechat", wechat, alipay, seller_account=False)
    before = set(wechat.split_returns)
    wechat.abnormal_receivers.add(SUPPLIER_MCHID)
    wechat.lose_answers.append(("POST", "/v3/profitsharing/orders"))
    try:
        with app.app_context():
            now = utcnow()
            profit_sharing.run_due(now)
            split_id = db.session.query(ProfitSplit).one().id
        browser.login("boss@example.com", "secret123")
        wechat.fail_next(500, "SYSTEM_ERROR", "系统繁忙")
        refund = refund_one_tea(app, browser, order_id)
        refund_done(client, wechat, refund)
        with app.app_context():
            profit_sharing.run_due(now + timedelta(minutes=11))
            assert split_return_rows(order_id)[0].status == "void"
    finally:
        wechat.abnormal_receivers.discard(SUPPLIER_MCHID)
    # The retry works the split out afresh: the supplier is owed ¥28.05 after the refund took
    # back the other half of ¥56.10, so that is what goes, under a new number, and the
    # refund's return stays void — nothing to take back, nobody asked for it.
    browser.post(f"/manage/payments/splits/{split_id}/retry", {}, token_from="/manage/payments/reconciliation")
    with app.app_context():
        split = db.session.get(ProfitSplit, split_id)
        assert (split.status, split.amount_fen, len(split.earlier_out_nos)) == ("succeeded", 2805, 1)
        assert [(p["kind"], p["amount_fen"]) for p in split.receivers if not p.get("manual")] == [("supplier", 2805)]
        rows = split_return_rows(order_id)
        assert [(r.status, r.failure) for r in rows] == [("void", "covered_by_retry")]
        assert profit_sharing.supplier_shares(order_id) == {}
        assert verify().ok
    assert wechat.splits[split.out_no]["receivers"][0]["amount"] == 2805
    assert returns_at(wechat, before) == []
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "分账重试时已扣除本次退款的部分，无需回退" in page


def test_a_managers_retry_goes_to_the_receiver_corrected_after_the_failure(app, shop, client, browser, wechat,
                                                                           alipay):
    """The supplier's receiver was wrong (WeChat closed it: ACCOUNT_ABNORMAL); the manager
    sets the right merchant id on the receivers form and retries: the new attempt binds and
    pays that one, not the old."""
    brand_id, supplier_id, right = shop["brand"].id, shop["supplier_id"], "1900000888"
    with app.app_context():
        profit_sharing.save_receiver(brand_id, supplier_id, "wechat", SUPPLIER_MCHID, SUPPLIER_NAME)
    order_id, _ = paid_order(app, client, shop["seller"], "wechat", wechat, alipay)
    settle(app, brand_id, order_id)
    wechat.abnormal_receivers.add(SUPPLIER_MCHID)
    try:
        with app.app_context():
            profit_sharing.run_due(utcnow())
            split = db.session.query(ProfitSplit).one()
            assert (split.status, split.failure) == ("failed", "ACCOUNT_ABNORMAL")
            first_no, split_id = split.out_no, split.id
    finally:
        wechat.abnormal_receivers.discard(SUPPLIER_MCHID)
    browser.login("boss@example.com", "secret123")
    response = browser.post("/manage/settings/payments/receivers", {
        f"wechat_{supplier_id}": right, f"wechat_name_{supplier_id}": SUPPLIER_NAME},
        token_from="/manage/settings/payments")
    assert response.status_code == 302
    browser.post(f"/manage/payments/splits/{split_id}/retry", {}, token_from="/manage/payments/reconciliation")
    with app.app_context():
        row = db.session.get(ProfitSplit, split_id)
        assert (row.status, row.out_no) == ("succeeded", f"{first_no}_2")
        assert [(p["account"], p["amount_fen"]) for p in row.receivers if not p.get("manual")] == [(right, 5610)]
        assert profit_sharing.supplier_shares(order_id) == {}
        assert verify().ok
    assert [(r["account"], r["amount"], r["result"]) for r in wechat.splits[f"{first_no}_2"]["receivers"]] == [
        (right, 5610, "SUCCESS")]
    assert right in wechat.split_receivers
