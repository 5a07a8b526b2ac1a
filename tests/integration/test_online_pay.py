"""Buyers pay shop orders with WeChat Pay and Alipay, against stand-in providers on loopback
(tests/fakes) that check distweb's signed requests and send signed, encrypted notifications
made with keys generated here: payment once whatever the notifications do, forged ones
changing nothing, provider errors and timeouts as messages, closing unpaid orders, and
refunds (partial) that complete on the provider's word."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from distweb.extensions import db
from distweb.models import (
    Order,
    OrderEvent,
    Payment,
    PaymentNotice,
    PaymentProviderConfig,
    PaymentRefund,
    PurchaseOrder,
)
from distweb.models.base import utcnow
from distweb.models.order import OrderStatus
from distweb.services import catalogue, online_pay, verify
from tests.conftest import Browser, csrf_token_from
from tests.fakes.keys import rsa_key

DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"
PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/130.0 Mobile Safari/537.36"
IN_WECHAT = PHONE + " MicroMessenger/8.0.50.2701(0x28003252) NetType/WIFI Language/zh_CN"


@pytest.fixture
def shop(app, make, wechat, alipay, trusted):
    """A brand taking both providers (settings saved as a manager would), a distributor's
    shop selling a consignment tea at ¥59.00."""
    wechat.failures.clear()
    alipay.failures.clear()
    wechat.delay = alipay.delay = 0
    brand = make.brand()
    top = make.promoter(name="上级", phone="13500000001")
    seller = make.promoter(name="店主", phone="13500000002", upline=top, distributor=True)
    make.supplier_user("westlake")
    with app.app_context():
        from distweb.models import Brand

        brand_row = db.session.get(Brand, brand.id)
        catalogue.upsert_product(brand_row, "TEA-001", catalogue.ProductInput(
            name="明前龙井", price_fen=5900, supply_cost_fen=3100, supplier_code="westlake",
            modes=("promotion", "consignment")))
        catalogue.upsert_product(brand_row, "CUP-001", catalogue.ProductInput(
            name="茶杯", price_fen=2000, modes=("promotion",)))
        settings, secrets = wechat.settings()
        online_pay.save_config(brand.id, "wechat", True, settings, secrets)
        settings, secrets = alipay.settings()
        online_pay.save_config(brand.id, "alipay", True, settings, secrets)
        db.session.remove()
    before = app.config["PAYMENT_HTTP_TIMEOUT"]
    yield {"brand": brand, "seller": seller}
    app.config["PAYMENT_HTTP_TIMEOUT"] = before


def place(client, seller, ua=DESKTOP, quantity="2"):
    browser = Browser(client)
    response = browser.post(f"/s/{seller.code}/p/TEA-001", {
        "quantity": quantity, "name": "李女士", "phone": "13912341234", "address": "杭州市西湖区"},
        headers={"User-Agent": ua})
    assert response.status_code == 302
    return response.headers["Location"].rsplit("/", 1)[1]


def start_paying(client, token, provider, ua=DESKTOP, htmx=False):
    page = client.get(f"/s/o/{token}", headers={"User-Agent": ua}).get_data(as_text=True)
    headers = {"User-Agent": ua, **({"HX-Request": "true"} if htmx else {})}
    return client.post(f"/s/o/{token}/pay", data={"provider": provider, "csrf_token": csrf_token_from(page)},
                       headers=headers)


def the_order(app) -> Order:
    with app.app_context():
        order = db.session.query(Order).one()
        db.session.expunge(order)
        return order


def the_payment(app) -> Payment:
    with app.app_context():
        payment = db.session.query(Payment).order_by(Payment.id.desc()).first()
        db.session.expunge(payment)
        return payment


def paid_events(app) -> int:
    with app.app_context():
        return db.session.query(OrderEvent).filter(OrderEvent.kind == "paid").count()


def notify_wechat(client, headers, body):
    return client.post("/pay/wechat/notify", data=body, headers=headers)


def notify_alipay(client, body):
    return client.post("/pay/alipay/notify", data=body, content_type="application/x-www-form-urlencoded")


# ---------------------------------------------------------------- WeChat Pay


def test_wechat_native_on_a_desktop_pays_the_order_once_however_often_notified(app, shop, client, wechat):
    token = place(client, shop["seller"])
    assert "微信支付" in client.get(f"/s/o/{token}").get_data(as_text=True)
    response = start_paying(client, token, "wechat")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page and "请用微信扫一扫付款" in page and "¥118.00" in page
    payment = the_payment(app)
    assert (payment.provider, payment.channel, payment.amount_fen, payment.status) == ("wechat", "native", 11800,
                                                                                      "pending")
    sent = wechat.transactions[payment.out_trade_no]
    assert sent["total"] == 11800 and sent["notify_url"] == "http://distweb.test/pay/wechat/notify"
    assert client.get(f"/s/o/{token}/status").get_json() == {"status": "pending", "order_status": "created",
                                                            "payment": payment.out_trade_no}
    assert "继续支付" in client.get(f"/s/o/{token}").get_data(as_text=True)

    headers, body = wechat.pay(payment.out_trade_no)
    assert notify_wechat(client, headers, body).status_code == 204
    order = the_order(app)
    assert order.status == OrderStatus.PAID and order.total_paid_fen == 11800
    assert client.get(f"/s/o/{token}/status").get_json()["status"] == "paid"
    # Again, and once more out of order with a fresh signature: nothing more happens.
    assert notify_wechat(client, headers, body).status_code == 204
    assert notify_wechat(client, *wechat.notification("TRANSACTION.SUCCESS",
                                                      wechat._trade_view(sent))).status_code == 204
    assert paid_events(app) == 1
    with app.app_context():
        assert db.session.query(PurchaseOrder).one().total_cost_fen == 6200  # the supplier's 2 × ¥31.00
        payment = db.session.query(Payment).one()
        assert payment.status == "paid" and payment.provider_txn_id == sent["transaction_id"]
        outcomes = [n.outcome for n in db.session.query(PaymentNotice).order_by(PaymentNotice.id)]
        assert outcomes == ["paid", "duplicate", "duplicate"]
        assert verify.verify(reprice=False).ok


@pytest.mark.parametrize("forgery", ["other_key", "wrong_apiv3_key", "stale_timestamp", "tampered_body"])
def test_an_unverifiable_wechat_notification_changes_nothing_and_is_logged(app, shop, client, wechat, forgery, caplog):
    token = place(client, shop["seller"])
    start_paying(client, token, "wechat")
    payment = the_payment(app)
    trade = wechat.transactions[payment.out_trade_no]
    trade.update(trade_state="SUCCESS", transaction_id="4200forged", success_time="2026-12-06T12:00:00+08:00")
    resource = wechat._trade_view(trade)
    if forgery == "other_key":
        headers, body = wechat.notification("TRANSACTION.SUCCESS", resource, sign_key=rsa_key("attacker"))
    elif forgery == "wrong_apiv3_key":
        headers, body = wechat.notification("TRANSACTION.SUCCESS", resource, apiv3_key="x" * 32)
    elif forgery == "stale_timestamp":
        import time

        headers, body = wechat.notification("TRANSACTION.SUCCESS", resource, timestamp=int(time.time()) - 3600)
    else:
        headers, body = wechat.notification("TRANSACTION.SUCCESS", resource)
        body = body.replace(b"encrypt-resource", b"encrypt-resourcE")
    with caplog.at_level(logging.WARNING):
        response = notify_wechat(client, headers, body)
    assert response.status_code == 500 and response.get_json()["code"] == "FAIL"
    assert the_order(app).status == OrderStatus.CREATED and paid_events(app) == 0
    assert the_payment(app).status == "pending"
    with app.app_context():
        notice = db.session.query(PaymentNotice).one()
        assert notice.verified is False and notice.outcome == "rejected"
    assert "unverifiable wechat notification refused" in caplog.text


def test_wechat_h5_in_a_phone_browser_sends_the_buyer_to_wechat_and_back(app, shop, client, wechat):
    token = place(client, shop["seller"], ua=PHONE)
    page = client.get(start_paying(client, token, "wechat", ua=PHONE).headers["Location"]).get_data(as_text=True)
    go = re.search(r'data-pay-go="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert go.startswith("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx")
    assert parse_qs(urlsplit(go).query)["redirect_url"] == [f"http://distweb.test/s/o/{token}"]
    assert the_payment(app).channel == "h5"


def test_wechat_jsapi_inside_wechat_takes_the_openid_from_oauth(app, shop, client, wechat):
    token = place(client, shop["seller"], ua=IN_WECHAT)
    # A plain form post answers with a page that goes on to WeChat by itself (a redirect of the
    # post off the site would break the CSP's form-action 'self'); htmx is sent there directly.
    first = start_paying(client, token, "wechat", ua=IN_WECHAT)
    page = first.get_data(as_text=True)
    assert first.status_code == 200 and "<script>" not in page and "/static/js/go" in page
    assert re.search(rf'href="/s/o/{token}/wechat" data-auto-go', page)
    boosted = start_paying(client, token, "wechat", ua=IN_WECHAT, htmx=True)
    assert boosted.headers["HX-Redirect"].endswith(f"/s/o/{token}/wechat")
    oauth = client.get(f"/s/o/{token}/wechat").headers["Location"]
    assert oauth.startswith("https://open.weixin.qq.com/connect/oauth2/authorize?") and "snsapi_base" in oauth
    back = client.get(f"/s/wechat/back?code=CODE123&state={token}", headers={"User-Agent": IN_WECHAT})
    assert back.status_code == 302
    page = client.get(start_paying(client, token, "wechat", ua=IN_WECHAT).headers["Location"]).get_data(as_text=True)
    assert "data-pay-jsapi=" in page and "prepay_id=wx" in page and "paySign" in page
    payment = the_payment(app)
    assert payment.channel == "jsapi" and wechat.transactions[payment.out_trade_no]["openid"] == "o-CODE123"


def test_a_provider_refusal_or_timeout_is_a_message_and_the_order_stays_unpaid(app, shop, client, wechat, alipay):
    token = place(client, shop["seller"])
    wechat.fail_next(500, "SYSTEM_ERROR", "系统错误")
    response = start_paying(client, token, "wechat")
    assert response.headers["Location"].endswith(f"/s/o/{token}")
    page = client.get(f"/s/o/{token}").get_data(as_text=True)
    assert "暂时无法发起支付" in page and "支付失败，请重试或换一种支付方式" in page
    failed = the_payment(app)
    assert failed.status == "failed" and "SYSTEM_ERROR" in failed.failure
    assert client.get(f"/s/o/{token}/status").get_json()["status"] == "failed"

    app.config["PAYMENT_HTTP_TIMEOUT"] = 0.5
    alipay.delay = 1.5
    response = start_paying(client, token, "alipay")  # page pay needs no call: it is a signed URL
    assert "/pay/" in response.headers["Location"]
    with app.app_context():
        online_pay.close_expired(now=utcnow() + timedelta(hours=2))  # the query times out: left for later
    assert the_order(app).status == OrderStatus.CREATED
    alipay.delay = 0
    wechat.delay = 1.5
    wechat.fail_next(400, "PARAM_ERROR", "参数错误")
    try:
        response = start_paying(client, token, "wechat")
    finally:
        wechat.delay = 0
    assert "暂时无法发起支付" in client.get(f"/s/o/{token}").get_data(as_text=True)
    assert the_order(app).status == OrderStatus.CREATED and paid_events(app) == 0
    with app.app_context():
        statuses = [p.status for p in db.session.query(Payment).order_by(Payment.id)]
    assert statuses == ["failed", "pending", "failed"]


def test_a_partial_wechat_refund_completes_on_the_providers_notification_once(app, shop, client, browser, wechat):
    token = place(client, shop["seller"])
    start_paying(client, token, "wechat")
    payment = the_payment(app)
    notify_wechat(client, *wechat.pay(payment.out_trade_no))
    order = the_order(app)
    browser.login("boss@example.com", "secret123")
    with app.app_context():
        item_id = db.session.query(Order).one().items[0].id
    response = browser.post(f"/manage/orders/{order.id}/refund", {f"amount_{item_id}": "59.00", "reason": "少发一盒"},
                            token_from=f"/manage/orders/{order.id}")
    assert response.status_code == 302
    with app.app_context():
        refund = db.session.query(PaymentRefund).one()
        assert (refund.status, refund.amount_fen) == ("pending", 5900)
    assert the_order(app).refunded_fen == 0  # not before the provider says so
    assert wechat.refunds[refund.out_refund_no]["refund"] == 5900
    page = browser.get(f"/manage/orders/{order.id}").get_data(as_text=True)
    assert "原路退款" in page and "退款中" in page

    headers, body = wechat.refund_done(refund.out_refund_no)
    assert notify_wechat(client, headers, body).status_code == 204
    assert notify_wechat(client, headers, body).status_code == 204
    order = the_order(app)
    assert order.refunded_fen == 5900 and order.status == OrderStatus.PAID
    with app.app_context():
        assert db.session.query(PaymentRefund).one().status == "succeeded"
        assert db.session.query(OrderEvent).filter(OrderEvent.kind == "refunded").count() == 1
        assert verify.verify(reprice=False).ok
    # More than is left (¥59.00 paid back of ¥118.00) is refused before anything is sent.
    response = browser.post(f"/manage/orders/{order.id}/refund", {f"amount_{item_id}": "59.01"},
                            token_from=f"/manage/orders/{order.id}")
    assert "退款金额超过了该商品的实付金额" in browser.get(f"/manage/orders/{order.id}").get_data(as_text=True)
    assert len(wechat.refunds) == 1


# ---------------------------------------------------------------- Alipay


def test_alipay_wap_on_a_phone_pays_once_and_refuses_forgeries(app, shop, client, alipay):
    token = place(client, shop["seller"], ua=PHONE)
    page = client.get(start_paying(client, token, "alipay", ua=PHONE).headers["Location"]).get_data(as_text=True)
    go = re.search(r'data-pay-go="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert go.startswith(alipay.gateway + "?")
    cashier = requests.get(go, timeout=5)  # the stand-in checks our RSA2 signature on the URL
    assert cashier.status_code == 200 and "¥118.00" in cashier.text
    payment = the_payment(app)
    assert payment.channel == "wap" and alipay.calls[-1][1]["product_code"] == "QUICK_WAP_WAY"

    forged = alipay.notification({**parse_qs_flat(alipay.pay(payment.out_trade_no))}, sign_key=rsa_key("attacker"))
    assert notify_alipay(client, forged).get_data(as_text=True) == "fail"
    cheap = parse_qs_flat(alipay.pay(payment.out_trade_no))
    cheap.pop("sign"), cheap.pop("sign_type")
    cheap["total_amount"] = "0.01"
    assert notify_alipay(client, alipay.notification(cheap)).get_data(as_text=True) == "fail"
    assert the_order(app).status == OrderStatus.CREATED

    body = alipay.pay(payment.out_trade_no)
    assert notify_alipay(client, body).get_data(as_text=True) == "success"
    assert notify_alipay(client, body).get_data(as_text=True) == "success"
    assert the_order(app).status == OrderStatus.PAID and paid_events(app) == 1
    with app.app_context():
        outcomes = [(n.verified, n.outcome) for n in db.session.query(PaymentNotice).order_by(PaymentNotice.id)]
    assert outcomes == [(False, "rejected"), (True, "refused:amount_mismatch"), (True, "paid"), (True, "duplicate")]


def parse_qs_flat(body: bytes) -> dict:
    return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


def test_alipay_page_pay_on_a_desktop_and_refunds_confirmed_by_the_answer(app, shop, client, browser, alipay):
    token = place(client, shop["seller"])
    page = client.get(start_paying(client, token, "alipay").headers["Location"]).get_data(as_text=True)
    go = re.search(r'data-pay-go="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert requests.get(go, timeout=5).status_code == 200
    payment = the_payment(app)
    assert payment.channel == "page"
    notify_alipay(client, alipay.pay(payment.out_trade_no))
    order = the_order(app)
    browser.login("boss@example.com", "secret123")
    with app.app_context():
        item_id = db.session.query(Order).one().items[0].id
    alipay.fail_next("ACQ.SYSTEM_ERROR", "系统繁忙")
    browser.post(f"/manage/orders/{order.id}/refund", {f"amount_{item_id}": "20.00"},
                 token_from=f"/manage/orders/{order.id}")
    assert "支付平台拒绝了退款" in browser.get(f"/manage/orders/{order.id}").get_data(as_text=True)
    assert the_order(app).refunded_fen == 0
    browser.post(f"/manage/orders/{order.id}/refund", {f"amount_{item_id}": "20.00"},
                 token_from=f"/manage/orders/{order.id}")
    order = the_order(app)
    assert order.refunded_fen == 2000 and order.status == OrderStatus.PAID
    with app.app_context():
        assert [r.status for r in db.session.query(PaymentRefund).order_by(PaymentRefund.id)] == ["failed", "succeeded"]
        assert verify.verify(reprice=False).ok


# ---------------------------------------------------------------- closing unpaid orders


def test_unpaid_orders_close_after_the_configured_time_unless_the_provider_says_paid(app, shop, client, wechat,
                                                                                     make):
    lost = place(client, shop["seller"])
    start_paying(client, lost, "wechat")
    lost_payment = the_payment(app)
    wechat.pay(lost_payment.out_trade_no)  # paid, but the notification never arrives
    left = place(client, shop["seller"])
    start_paying(client, left, "wechat")
    left_payment = the_payment(app)
    with app.app_context():
        assert online_pay.close_expired() == 0  # not yet due
        later = utcnow() + timedelta(minutes=app.config["PAYMENT_CLOSE_MINUTES"] + 1)
        assert online_pay.close_expired(now=later) == 1
        assert online_pay.close_expired(now=later) == 0  # twice is the same as once
        by_token = {o.public_token: o for o in db.session.query(Order)}
        assert by_token[lost].status == OrderStatus.PAID
        assert by_token[left].status == OrderStatus.CANCELLED
        assert db.session.get(Payment, left_payment.id).status == "closed"
    assert wechat.transactions[left_payment.out_trade_no]["trade_state"] == "CLOSED"
    assert client.get(f"/s/o/{left}/status").get_json()["status"] == "closed"
    assert "已取消" in client.get(f"/s/o/{left}").get_data(as_text=True)
    assert start_paying(client, left, "wechat").status_code == 302
    assert paid_events(app) == 1


# ---------------------------------------------------------------- settings


def test_provider_secrets_are_stored_encrypted_and_never_shown_again(app, make, browser, wechat, caplog):
    make.brand()
    browser.login("boss@example.com", "secret123")
    settings, secrets = wechat.settings()
    form = {f"wechat-{k}": v for k, v in {**settings, **secrets}.items()}
    form["provider"] = "wechat"
    page = browser.get("/manage/settings/payments").get_data(as_text=True)
    token = re.search(r'name="wechat-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    missing = browser.client.post("/manage/settings/payments", data={
        **{k: v for k, v in form.items() if k != "wechat-apiv3_key"}, "wechat-csrf_token": token,
        "wechat-enabled": "y"})
    assert missing.status_code == 422 and "启用前请填写此项" in missing.get_data(as_text=True)
    with caplog.at_level(logging.DEBUG):
        saved = browser.client.post("/manage/settings/payments", data={**form, "wechat-csrf_token": token,
                                                                         "wechat-enabled": "y"})
    assert saved.status_code == 302
    page = browser.get("/manage/settings/payments").get_data(as_text=True)
    key_body = secrets["private_key"].splitlines()[1]
    assert settings["mchid"] in page and "已设置，留空不修改" in page
    assert key_body not in page and secrets["apiv3_key"] not in page
    assert key_body not in caplog.text and secrets["apiv3_key"] not in caplog.text
    with app.app_context():
        config = db.session.query(PaymentProviderConfig).one()
        assert config.enabled and key_body.encode() not in config.secret_box
        assert secrets["apiv3_key"].encode() not in config.secret_box
        # Saving again with the secrets left empty keeps them.
    browser.client.post("/manage/settings/payments", data={
        **{k: v for k, v in form.items() if k not in ("wechat-private_key", "wechat-apiv3_key")},
        "wechat-csrf_token": token, "wechat-enabled": "y"})
    with app.app_context():
        from distweb.services import secret_box

        stored = secret_box.open_box(db.session.query(PaymentProviderConfig).one().secret_box)
        assert stored["apiv3_key"] == secrets["apiv3_key"] and "PRIVATE KEY" in stored["private_key"]


def test_a_brand_without_a_provider_keeps_the_manual_flow(app, make, client):
    make.brand()
    seller = make.promoter(name="店主", phone="13500000002", distributor=True)
    with app.app_context():
        from distweb.models import Brand

        catalogue.upsert_product(db.session.query(Brand).one(), "TEA-001", catalogue.ProductInput(
            name="明前龙井", price_fen=5900, supply_cost_fen=3100, modes=("promotion",)))
    token = place(client, seller)
    page = client.get(f"/s/o/{token}").get_data(as_text=True)
    assert "请联系推客或品牌完成付款" in page and "微信支付" not in page
    with app.app_context():
        assert online_pay.close_expired(now=utcnow() + timedelta(days=1)) == 0
    assert the_order(app).status == OrderStatus.CREATED


def test_a_refund_without_an_answer_stays_pending_and_the_sweep_settles_it_once(app, shop, client, browser, alipay):
    token = place(client, shop["seller"])
    start_paying(client, token, "alipay")
    payment = the_payment(app)
    assert requests.get(payment.action["url"], timeout=5).status_code == 200  # the buyer opens Alipay's page
    notify_alipay(client, alipay.pay(payment.out_trade_no))
    order = the_order(app)
    browser.login("boss@example.com", "secret123")
    with app.app_context():
        item_id = db.session.query(Order).one().items[0].id
    app.config["PAYMENT_HTTP_TIMEOUT"] = 0.5
    alipay.delay = 1.5
    try:
        browser.post(f"/manage/orders/{order.id}/refund", {f"amount_{item_id}": "10.00"},
                     token_from=f"/manage/orders/{order.id}")
    finally:
        alipay.delay = 0
    assert the_order(app).refunded_fen == 0
    with app.app_context():
        assert db.session.query(PaymentRefund).one().status == "pending"
        assert online_pay.retry_refunds() == 0  # not due yet
        later = utcnow() + timedelta(minutes=6)
        assert online_pay.retry_refunds(now=later) == 1
        assert online_pay.retry_refunds(now=later) == 0
        assert db.session.query(PaymentRefund).one().status == "succeeded"
    assert the_order(app).refunded_fen == 1000
    # The same out_request_no both times: one refund at Alipay.
    assert [r["amount"] for r in alipay.refunds.values() if r["out_trade_no"] == payment.out_trade_no] == [1000]


# ---------------------------------------------------------------- reconciliation


def beijing_today():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def test_the_daily_reconciliation_lists_every_difference_with_the_providers_bills(app, shop, client, browser, wechat,
                                                                                  alipay):
    from distweb.services import reconciliation

    for records in (wechat.transactions, wechat.refunds, alipay.trades, alipay.refunds):
        records.clear()  # the stand-ins live for the module: only this test's money on their bills
    numbers = []
    for _ in range(3):
        token = place(client, shop["seller"])
        start_paying(client, token, "wechat")
        numbers.append(the_payment(app).out_trade_no)
        notify_wechat(client, *wechat.pay(numbers[-1]))
    browser.login("boss@example.com", "secret123")
    with app.app_context():
        order = db.session.query(Order).join(Payment, Payment.order_id == Order.id).filter(
            Payment.out_trade_no == numbers[0]).one()
        order_id, item_id = order.id, order.items[0].id
    browser.post(f"/manage/orders/{order_id}/refund", {f"amount_{item_id}": "59.00"},
                 token_from=f"/manage/orders/{order_id}")
    with app.app_context():
        refund_no = db.session.query(PaymentRefund).one().out_refund_no
    notify_wechat(client, *wechat.refund_done(refund_no))
    wechat.transactions[numbers[2]]["success_time"] = "1999-01-01T00:00:00+08:00"  # not on the provider's bill
    wechat.extra_bill_rows[:] = [("payment", "DSTRANGER01", 100)]  # money distweb never asked for
    token = place(client, shop["seller"])
    start_paying(client, token, "alipay")
    requests.get(the_payment(app).action["url"], timeout=5)
    notify_alipay(client, alipay.pay(the_payment(app).out_trade_no))
    day = beijing_today()  # the providers' bills are by Beijing calendar day
    try:
        with app.app_context():
            report = reconciliation.reconcile(shop["brand"].id, "wechat", day)
            assert report.status == "differences"
            assert report.counts["distweb_payment_fen"] == 3 * 11800 and report.counts["provider_payment_fen"] == 2 * 11800 + 100
            assert report.counts["distweb_refund_fen"] == report.counts["provider_refund_fen"] == 5900
            assert {(d["kind"], d["reference"]) for d in report.differences} == {
                ("missing_in_distweb", "DSTRANGER01"), ("missing_at_provider", numbers[2])}
            assert reconciliation.reconcile(shop["brand"].id, "alipay", day).status == "matched"
    finally:
        wechat.extra_bill_rows.clear()
    page = browser.get("/manage/payments/reconciliation").get_data(as_text=True)
    assert "有差异" in page and "系统无记录" in page and "平台无记录" in page and "DSTRANGER01" in page and "一致" in page
    with app.app_context():
        # The sweep makes yesterday's reports once the bills are out, once (the day above has
        # them already; the next one is made for both providers).
        from datetime import datetime

        morning = datetime.combine(day + timedelta(days=1), reconciliation.BILL_READY, tzinfo=reconciliation.BILL_TIME)
        assert reconciliation.schedule_due(morning - timedelta(hours=1)) == 0  # bills not out yet
        assert reconciliation.schedule_due(morning) == 0
        assert reconciliation.schedule_due(morning + timedelta(days=1)) == 2
        assert reconciliation.schedule_due(morning + timedelta(days=1)) == 0


def test_the_wechat_bill_is_read_as_wechat_writes_it(app, shop, client, browser, wechat, alipay):
    """WeChat's 交易账单: its hash is the unzipped file's; a payment is compared by 订单金额
    (a merchant-funded coupon lowers only 应结订单金额) and a refund by 申请退款金额 (the
    coupon's share leaves 退款金额), on the day WeChat accepted the refund, not the day it
    was confirmed; a file that does not match its hash is not read."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from distweb.services import reconciliation

    for records in (wechat.transactions, wechat.refunds, alipay.trades, alipay.refunds):
        records.clear()
    token = place(client, shop["seller"])
    start_paying(client, token, "wechat")
    number = the_payment(app).out_trade_no
    notify_wechat(client, *wechat.pay(number))
    wechat.transactions[number]["coupon"] = 1000  # ¥10 of the ¥118 paid with the brand's own coupon
    browser.login("boss@example.com", "secret123")
    with app.app_context():
        order = db.session.query(Order).join(Payment, Payment.order_id == Order.id).filter(
            Payment.out_trade_no == number).one()
        order_id, item_id = order.id, order.items[0].id
    browser.post(f"/manage/orders/{order_id}/refund", {f"amount_{item_id}": "59.00"},
                 token_from=f"/manage/orders/{order_id}")
    with app.app_context():
        refund_no = db.session.query(PaymentRefund).one().out_refund_no
    notify_wechat(client, *wechat.refund_done(refund_no))
    wechat.refunds[refund_no]["coupon_refund"] = 500
    day = beijing_today()
    # The refund was asked for a moment before midnight and confirmed after it.
    beijing = ZoneInfo("Asia/Shanghai")
    asked = datetime.combine(day, datetime.min.time(), tzinfo=beijing) + timedelta(hours=23, minutes=59, seconds=58)
    wechat.refunds[refund_no]["create_time"] = asked.strftime("%Y-%m-%d %H:%M:%S")
    with app.app_context():
        refund = db.session.query(PaymentRefund).one()
        refund.created_at, refund.completed_at = asked, asked + timedelta(seconds=5)
        db.session.commit()
    bill = wechat.trade_bill(day.isoformat())
    assert "`108.00,`10.00," in bill and "`54.00," in bill and ",`118.00,`0.00,`" in bill and ",`0.00,`59.00,`" in bill
    with app.app_context():
        report = reconciliation.reconcile(shop["brand"].id, "wechat", day)
        assert (report.status, report.differences) == ("matched", [])
        assert (report.counts["provider_payment_fen"], report.counts["provider_refund_fen"]) == (11800, 5900)
        assert reconciliation.reconcile(shop["brand"].id, "wechat", day + timedelta(days=1)).counts[
            "distweb_refund_fen"] == 0
    wechat.bill_tampered = True
    try:
        with app.app_context():
            report = reconciliation.reconcile(shop["brand"].id, "wechat", day)
            assert (report.status, report.error) == ("failed", "bill hash mismatch")
    finally:
        wechat.bill_tampered = False


def test_the_alipay_bill_is_read_as_alipay_writes_it(app, shop, client, browser, wechat, alipay):
    """Alipay's bill: a zip whose entries are named in GBK (no UTF-8 flag), a GBK 业务明细
    with tab-ended cells; a partial refund's row is negative and matches what was refunded."""
    import io
    import zipfile

    from distweb.services import reconciliation

    for records in (wechat.transactions, wechat.refunds, alipay.trades, alipay.refunds):
        records.clear()
    token = place(client, shop["seller"])
    start_paying(client, token, "alipay")
    requests.get(the_payment(app).action["url"], timeout=5)
    notify_alipay(client, alipay.pay(the_payment(app).out_trade_no))
    browser.login("boss@example.com", "secret123")
    with app.app_context():
        order = db.session.query(Order).join(Payment, Payment.order_id == Order.id).filter(
            Payment.out_trade_no == the_payment(app).out_trade_no).one()
        order_id, item_id = order.id, order.items[0].id
    browser.post(f"/manage/orders/{order_id}/refund", {f"amount_{item_id}": "59.00"},
                 token_from=f"/manage/orders/{order_id}")
    with app.app_context():
        refund_no = db.session.query(PaymentRefund).one().out_refund_no
    day = beijing_today()
    archive = zipfile.ZipFile(io.BytesIO(alipay.bill_zip(day.isoformat())))
    assert [info.flag_bits & 0x800 for info in archive.infolist()] == [0, 0]
    assert archive.infolist()[0].filename.encode("cp437").decode("gbk").endswith("_业务明细.csv")
    with app.app_context():
        report = reconciliation.reconcile(shop["brand"].id, "alipay", day)
        assert (report.status, report.differences) == ("matched", [])
        assert (report.counts["provider_payment_fen"], report.counts["provider_refunds"],
                report.counts["provider_refund_fen"]) == (11800, 1, 5900)
        assert report.counts["distweb_refund_fen"] == 5900
    assert alipay.refunds[refund_no]["amount"] == 5900


def test_a_second_payment_of_a_paid_order_goes_back_to_the_buyer_and_the_order_is_paid_once(app, shop, client,
                                                                                           wechat, alipay):
    token = place(client, shop["seller"])
    start_paying(client, token, "wechat")
    first = the_payment(app)
    start_paying(client, token, "alipay")
    second = the_payment(app)
    requests.get(second.action["url"], timeout=5)
    notify_wechat(client, *wechat.pay(first.out_trade_no))
    assert notify_alipay(client, alipay.pay(second.out_trade_no)).get_data(as_text=True) == "success"
    order = the_order(app)
    assert order.status == OrderStatus.PAID and order.refunded_fen == 0 and paid_events(app) == 1
    with app.app_context():
        extra = db.session.get(Payment, second.id)
        assert extra.status == "paid" and "原路退回" in extra.failure
        refund = db.session.query(PaymentRefund).one()
        assert (refund.payment_id, refund.amount_fen, refund.status, refund.lines) == (second.id, 11800, "succeeded", [])
        assert verify.verify(reprice=False).ok
    assert alipay.refunds[refund.out_refund_no]["amount"] == 11800
    assert notify_alipay(client, alipay.pay(second.out_trade_no)).get_data(as_text=True) == "success"
    with app.app_context():
        assert db.session.query(PaymentRefund).count() == 1  # returned once


def test_the_same_notification_arriving_at_once_from_many_connections_pays_once(app, shop, client, wechat, alipay):
    from concurrent.futures import ThreadPoolExecutor

    token = place(client, shop["seller"])
    start_paying(client, token, "wechat")
    payment = the_payment(app)
    headers, body = wechat.pay(payment.out_trade_no)

    def deliver(_):
        return app.test_client().post("/pay/wechat/notify", data=body, headers=headers).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(deliver, range(6)))
    assert statuses == [204] * 6
    assert the_order(app).status == OrderStatus.PAID and paid_events(app) == 1
    with app.app_context():
        outcomes = sorted(n.outcome for n in db.session.query(PaymentNotice))
        assert outcomes == ["duplicate"] * 5 + ["paid"]
        assert db.session.query(PaymentRefund).count() == 0  # not mistaken for a second payment
        assert verify.verify(reprice=False).ok
