"""A buyer pays a shop order on a phone through Alipay (the stand-in gateway on loopback):
the manager enters the Alipay settings on the desktop, the buyer orders, taps 支付宝, is
taken to the cashier page, pays, comes back to an order that is paid."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import PHONE, PageWatch, save_wechat
from tests.fakes.alipay import AlipayStandIn

pytestmark = pytest.mark.e2e

PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0 Mobile Safari/537.36")


@pytest.fixture
def alipay_gateway():
    stand_in = AlipayStandIn().start()
    yield stand_in
    stand_in.stop()


def save_alipay(manager, settings: dict, secrets: dict, enabled: bool) -> None:
    manager.goto("/manage/settings/payments")
    form = manager.locator("form#pay-alipay")
    form.get_by_label("支付宝应用 APPID").fill(settings["app_id"])
    form.get_by_label("网关地址（留空为正式环境）").fill(settings["gateway"])
    form.get_by_label("应用私钥（RSA2）").fill(secrets["app_private_key"])
    form.get_by_label("支付宝公钥（或支付宝公钥证书）").fill(secrets["alipay_public_key"])
    form.get_by_label("启用").set_checked(enabled)
    form.get_by_role("button", name="保存").click()
    expect(manager.locator("#toasts")).to_contain_text("支付设置已保存。")


def test_a_buyer_pays_a_shop_order_with_alipay_on_a_phone(desktop, manager_cookies, promoter_phone, browser, live_server,
                                                          alipay_gateway):
    promoter = promoter_phone.new_page()
    promoter.goto("/promoter/")
    promoter.get_by_role("navigation", name="主导航").get_by_role("link", name="我的", exact=True).tap()
    promoter.get_by_role("link", name="我的小店").click()
    expect(promoter).to_have_url(re.compile(re.escape(live_server.url) + r"/s/[A-Z2-9]{8}$"))
    shop_path = "/s/" + promoter.url.rsplit("/", 1)[1]
    settings, secrets = alipay_gateway.settings()
    manager = desktop.new_page()
    desktop.add_cookies(manager_cookies)
    manager.goto("/manage/")
    save_alipay(manager, settings, secrets, enabled=True)
    page = manager.content()
    assert secrets["app_private_key"].splitlines()[1] not in page  # never shown again
    expect(manager.locator("form#pay-alipay")).to_contain_text("已启用")
    try:
        buyer_context = browser.new_context(base_url=live_server.url, user_agent=PHONE_UA, **PHONE)
        buyer_context.set_default_timeout(10_000)
        watch = PageWatch(live_server.url)
        watch.attach(buyer_context)
        buyer = buyer_context.new_page()
        buyer.goto(shop_path)
        buyer.locator(".product-card a").first.click()
        buyer.get_by_label("数量").fill("1")
        buyer.get_by_label("收货人").fill("周先生")
        buyer.get_by_label("手机号").fill("13912340009")
        buyer.get_by_label("收货地址").fill("杭州市西湖区文三路 1 号")
        buyer.get_by_role("button", name="提交订单").click()
        expect(buyer).to_have_url(re.compile(re.escape(live_server.url) + r"/s/o/[A-Za-z0-9_-]{10,40}$"))
        order_url = buyer.url
        expect(buyer.locator("#buyer-order .badge")).to_have_text("待付款")
        buyer.get_by_role("button", name="支付宝").click()
        # The payment page sends the phone on to Alipay's 手机网站支付 cashier (the stand-in).
        expect(buyer).to_have_url(re.compile(re.escape(alipay_gateway.gateway) + r"\?"))
        expect(buyer.get_by_role("heading", name="支付宝收银台")).to_be_visible()
        buyer.get_by_role("button", name="确认付款").click()
        expect(buyer).to_have_url(order_url)
        expect(buyer.locator("#buyer-order .badge")).to_have_text("已付款")
        method, biz = alipay_gateway.calls[0]
        assert method == "alipay.trade.wap.pay" and biz["product_code"] == "QUICK_WAP_WAY"
        assert not watch.csp and not watch.page_errors and not watch.failed_responses, vars(watch)
        buyer_context.close()
    finally:
        save_alipay(manager, settings, {"app_private_key": "", "alipay_public_key": ""}, enabled=False)


def test_a_buyer_pays_a_shop_order_through_wechat_h5_on_a_phone(desktop, manager_cookies, promoter_phone, browser, live_server,
                                                               wechat_pay):
    """In a phone browser (not WeChat) 微信支付 is H5: the payment page sends the phone to
    WeChat's H5 cashier (the stand-in's page, wx.tenpay.com routed to it), the buyer pays,
    WeChat notifies distweb and returns the phone to the order, which is paid; the manager
    sees it paid."""
    settings, secrets = wechat_pay.settings()
    manager = desktop.new_page()
    desktop.add_cookies(manager_cookies)
    manager.goto("/manage/")
    save_wechat(manager, settings, secrets, enabled=True)
    expect(manager.locator("form#pay-wechat")).to_contain_text("已启用")
    assert secrets["apiv3_key"] not in manager.content()  # never shown again
    try:
        buyer_context = browser.new_context(base_url=live_server.url, user_agent=PHONE_UA, **PHONE)
        buyer_context.set_default_timeout(10_000)
        watch = PageWatch(live_server.url)
        watch.attach(buyer_context)
        cashier_pages: list[str] = []

        def cashier(route):
            status, headers, body = wechat_pay.h5(route.request.method, route.request.url)
            cashier_pages.append(route.request.url)
            route.fulfill(status=status, headers={"Content-Type": "text/html; charset=utf-8", **headers}, body=body)

        buyer_context.route("https://wx.tenpay.com/**", cashier)
        buyer = buyer_context.new_page()
        buyer.goto(shop_path(live_server, promoter_phone))
        buyer.locator(".product-card a").first.click()
        buyer.get_by_label("数量").fill("2")
        buyer.get_by_label("收货人").fill("吴女士")
        buyer.get_by_label("手机号").fill("13912340019")
        buyer.get_by_label("收货地址").fill("杭州市西湖区文三路 9 号")
        buyer.get_by_role("button", name="提交订单").click()
        expect(buyer).to_have_url(re.compile(re.escape(live_server.url) + r"/s/o/[A-Za-z0-9_-]{10,40}$"))
        order_url = buyer.url
        card = buyer.locator("#buyer-order")
        expect(card.locator(".badge")).to_have_text("待付款")
        order_no = card.locator("h3").inner_text().strip()
        buyer.get_by_role("button", name="微信支付").click()
        # The payment page sends the phone on to WeChat's H5 cashier (the stand-in's page).
        expect(buyer).to_have_url(re.compile(r"^https://wx\.tenpay\.com/cgi-bin/mmpayweb-bin/checkmweb\?prepay_id="))
        expect(buyer.get_by_role("heading", name="微信支付")).to_be_visible()
        trade = next(t for t in wechat_pay.transactions.values() if t["trade_type"] == "H5")
        yuan = f"¥{trade['total'] // 100}.{trade['total'] % 100:02d}"
        expect(buyer.locator(".amount")).to_have_text(yuan)
        method, path, body = next(c for c in wechat_pay.calls if c[1] == "/v3/pay/transactions/h5")
        assert body["amount"] == {"total": trade["total"], "currency": "CNY"} and body["scene_info"]["payer_client_ip"]
        buyer.get_by_role("button", name="确认支付").click()
        expect(buyer).to_have_url(order_url)
        expect(card.locator(".badge")).to_have_text("已付款")
        assert trade["trade_state"] == "SUCCESS" and len(cashier_pages) == 2
        assert not watch.csp and not watch.page_errors and not watch.failed_responses, vars(watch)
        buyer_context.close()

        # The manager's view: the order is paid, for the amount WeChat took.
        manager.get_by_role("navigation", name="管理导航").get_by_role("link", name="订单", exact=True).click()
        manager.get_by_role("searchbox", name="搜索").fill(order_no)
        manager.get_by_role("button", name="筛选").click()
        expect(manager.locator("#order-rows tr")).to_have_count(1)
        row = manager.locator("#order-rows tr").first
        expect(row.locator(".badge")).to_have_text("已付款")
        expect(row).to_contain_text(yuan.lstrip("¥"))
    finally:
        save_wechat(manager, settings, {}, enabled=False)



def shop_path(live_server, promoter_phone) -> str:
    """The demo promoter's shop: its link on the promoter's 我的 tab."""
    promoter = promoter_phone.new_page()
    promoter.goto("/promoter/")
    promoter.get_by_role("navigation", name="主导航").get_by_role("link", name="我的", exact=True).tap()
    promoter.get_by_role("link", name="我的小店").click()
    expect(promoter).to_have_url(re.compile(re.escape(live_server.url) + r"/s/[A-Z2-9]{8}$"))
    return "/s/" + promoter.url.rsplit("/", 1)[1]
