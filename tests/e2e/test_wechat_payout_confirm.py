"""A promoter is paid through WeChat Pay 商家转账 (用户确认模式) on a phone inside WeChat: the
promoter binds the WeChat account payouts go to (OAuth snsapi_base at the stand-in), asks
to withdraw; the manager approves and pays online; the withdrawal waits as 打款中 until the
promoter taps 确认收款 on its page (WeChat's requestMerchantTransfer, played by the
stand-in through a WeixinJSBridge the test puts in the page); WeChat's notification pays it,
and the page shows it arrived."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import PHONE, PageWatch, save_wechat
from tests.e2e.test_withdrawal_statement import PAYOUT_ACCOUNT

pytestmark = pytest.mark.e2e

IN_WECHAT = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 "
             "Mobile Safari/537.36 MicroMessenger/8.0.50.2701(0x28003252) NetType/WIFI Language/zh_CN")
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjE2ePay"
# WeChat's in-app bridge, as the page meets it inside WeChat: its calls go to the stand-in,
# with the page's address (WeChat verifies a page's wx.config against it).
BRIDGE = """window.WeixinJSBridge = { invoke: function (name, params, done) {
  window.wxInvoke(name, JSON.stringify(params), window.location.href).then(function (answer) {
    done(JSON.parse(answer)); }); }, on: function () {} };"""


def test_a_promoter_binds_wechat_and_confirms_a_payout_inside_wechat(desktop, manager_cookies, browser, live_server, promoter_cookies,
                                                                      wechat_pay):
    demo, url = live_server.demo, re.escape(live_server.url)
    settings, secrets = wechat_pay.settings()
    manager = desktop.new_page()
    desktop.add_cookies(manager_cookies)
    manager.goto("/manage/")
    save_wechat(manager, settings, secrets, enabled=True)
    # Requests a service worker makes are not routed: the WeChat pages are, so no service worker.
    context = browser.new_context(base_url=live_server.url, user_agent=IN_WECHAT, service_workers="block", **PHONE)
    context.set_default_timeout(10_000)
    context.add_cookies(promoter_cookies)
    watch = PageWatch(live_server.url)
    watch.attach(context)
    invoked: list[tuple[str, dict]] = []

    def authorize(route):
        if "/sdk/report" in route.request.url:  # the JS-SDK's statistics beacon after wx.config
            route.fulfill(status=204, body="")
            return
        status, headers, body = wechat_pay.authorize(route.request.url, OPENID)
        route.fulfill(status=status, headers={"Content-Type": "text/html; charset=utf-8", **headers}, body=body)

    def invoke(name, params, page_url):
        invoked.append((name, json.loads(params)))
        return json.dumps(wechat_pay.bridge(name, json.loads(params), page_url, OPENID))

    context.route("https://open.weixin.qq.com/**", authorize)
    context.expose_function("wxInvoke", invoke)
    context.add_init_script(BRIDGE)
    phone = context.new_page()
    try:
        # 1. Bind, inside WeChat: the password again, then WeChat's OAuth names the openid.
        phone.goto("/promoter/payout-account")
        binding = phone.locator("#wechat-binding")
        binding.get_by_label("微信实名认证的姓名").fill(demo.promoter_name)
        binding.get_by_label("登录密码（修改收款账户需验证）").fill(demo.password)
        binding.get_by_role("button", name="授权绑定当前微信").click()
        # (the authorize URL's #wechat_redirect stays with the redirects, as browsers keep a fragment)
        expect(phone).to_have_url(re.compile(url + r"/promoter/payout-account(#wechat_redirect)?$"))
        expect(phone.locator("#toasts")).to_contain_text("微信收款账户已绑定。")
        expect(phone.locator("#current-account")).to_contain_text(f"微信 · {demo.promoter_name} · ****{OPENID[-4:]}")
        expect(phone.locator("#current-account")).to_contain_text("已绑定微信收款")

        # 2. Withdraw ¥20.00 to it.
        phone.goto("/promoter/withdraw")
        phone.fill("#amount", "20.00")
        phone.get_by_role("button", name="申请提现").click()
        expect(phone.locator("#toasts")).to_contain_text("提现申请已提交")
        record = phone.locator("li[data-withdrawal]").first
        withdrawal_id = record.get_attribute("data-withdrawal")
        expect(record.locator(".order-main strong")).to_have_text("¥20.00")

        # 3. The manager approves it and pays it online: WeChat waits for the payee.
        def row():
            return manager.locator("tbody tr", has=manager.locator("td:first-child", has_text=re.compile(
                rf"^{withdrawal_id}$")))

        manager.goto("/manage/withdrawals?status=requested")
        row().get_by_role("button", name="通过").click()
        expect(manager.locator("#toasts")).to_contain_text("已保存。")
        manager.goto("/manage/withdrawals?status=approved")
        expect(row()).to_contain_text(OPENID)
        row().get_by_role("button", name="在线打款").click()
        expect(manager.locator("#toasts")).to_contain_text("已提交打款，等待支付平台确认。")
        expect(row()).to_contain_text("等待收款人在微信中确认收款")
        bill = next(b for b in wechat_pay.transfers.values() if b["openid"] == OPENID)
        assert (bill["state"], bill["transfer_amount"], bill["user_name"]) == ("WAIT_USER_CONFIRM", 2000,
                                                                               demo.promoter_name)
        package = bill["package_info"]

        # 4. The promoter confirms on the phone; WeChat's notification pays the withdrawal.
        phone.goto("/promoter/withdraw")
        record = phone.locator(f'li[data-withdrawal="{withdrawal_id}"]')
        expect(record.locator(".badge")).to_have_text("打款中")
        record.get_by_role("link", name="去微信确认收款").click()
        expect(phone).to_have_url(re.compile(url + rf"/promoter/withdrawals/{withdrawal_id}$"))
        state = phone.locator("[data-transfer-state]")
        expect(state).to_have_text("品牌已打款，请确认收款。")
        phone.get_by_role("button", name="确认收款").click()
        expect(state).to_have_text("已到账", timeout=15_000)
        # The page configured the JS-SDK (its signature checked for this page's URL), asked
        # whether WeChat has the API, and only then opened the confirm page with the bill.
        names = [name for name, _ in invoked if name != "getNetworkType"]
        assert names == ["preVerifyJSAPI", "checkJsApi", "requestMerchantTransfer"], invoked
        assert invoked[0][1]["verifyJsApiList"] == ["requestMerchantTransfer"]
        assert live_server.url + f"/promoter/withdrawals/{withdrawal_id}" in wechat_pay.verified_pages
        transfer = next(params for name, params in invoked if name == "requestMerchantTransfer")
        assert transfer == {"mchId": wechat_pay.mchid, "appId": wechat_pay.appid, "package": package}
        assert bill["state"] == "SUCCESS"
        assert not watch.csp and not watch.page_errors and not watch.failed_responses, vars(watch)

        manager.goto("/manage/withdrawals?status=paid")
        expect(row()).to_contain_text(f"wechat:{bill['transfer_bill_no']}")
    finally:
        # Leave the demo promoter's account as the withdrawal e2e test expects it.
        phone.goto("/promoter/payout-account")
        phone.select_option("#method", PAYOUT_ACCOUNT["method"])
        phone.fill("#account_name", demo.promoter_name)
        phone.fill("#account_no", PAYOUT_ACCOUNT["account_no"])
        phone.fill("#password", demo.password)
        phone.get_by_role("button", name="保存").click()
        expect(phone.locator("#toasts")).to_contain_text("收款账户已保存。")
        context.close()
        save_wechat(manager, settings, {}, enabled=False)
