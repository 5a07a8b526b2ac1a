"""The WeChat payee's side of 商家转账 (用户确认模式): a promoter binds, inside WeChat, the
WeChat user payouts go to (OAuth snsapi_base: a one-time code exchanged for the openid at
the stand-in); a payout to that openid waits as 打款中 with the bill's package_info, which the
promoter's own page hands to requestMerchantTransfer; the provider's notification pays the
withdrawal, or returns it to approved with the reason (24 hours unconfirmed: OVERDUE_CLOSE)."""

from __future__ import annotations

import json
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from distweb.extensions import db
from distweb.models import PayoutAccount, Promoter, ProviderPayout, Withdrawal
from distweb.models.payouts import WithdrawalStatus
from distweb.services import provider_payouts, wallet, withdrawals
from distweb.services.verify import verify
from tests.support.factories import PASSWORD

PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36"
IN_WECHAT = PHONE + " MicroMessenger/8.0.50.2701(0x28003252) NetType/WIFI Language/zh_CN"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjPayee1"



@pytest.fixture
def world(payout_world):
    return payout_world

def login_as(browser, promoter) -> None:
    phone = db.session.get(Promoter, promoter.id).user.phone
    assert browser.login(phone, PASSWORD).status_code == 302


def bind(browser, wechat, openid=OPENID, name="张三"):
    token_page = browser.get("/promoter/payout-account", headers={"User-Agent": IN_WECHAT})
    response = browser.post("/promoter/payout-account/wechat", {"account_name": name, "password": PASSWORD},
                            token_from="/promoter/payout-account", headers={"User-Agent": IN_WECHAT})
    page = response.get_data(as_text=True)
    assert token_page.status_code == 200 and response.status_code == 200, page[:300]
    # The page goes on to WeChat itself (a form post may not be redirected off the site).
    oauth = urlsplit(unescape(re.search(r'href="([^"]+)" data-auto-go', page).group(1)))
    assert "/static/js/go" in page and "<script>" not in page
    query = parse_qs(oauth.query)
    assert (oauth.netloc, oauth.path) == ("open.weixin.qq.com", "/connect/oauth2/authorize")
    assert query["scope"] == ["snsapi_base"] and query["appid"] == [wechat.appid]
    back = urlsplit(query["redirect_uri"][0])
    assert back.path == "/promoter/payout-account/wechat/back"
    return back.path, query["state"][0]


def test_a_promoter_binds_wechat_and_confirms_the_payout_on_the_phone(world, browser, wechat, client):
    seller = world["seller"]
    login_as(browser, seller)
    path, state = bind(browser, wechat)
    code = wechat.oauth_code(OPENID)
    done = browser.get(f"{path}?code={code}&state={state}", headers={"User-Agent": IN_WECHAT})
    assert done.status_code == 302 and done.headers["Location"].endswith("/promoter/payout-account")
    account = db.session.get(PayoutAccount, seller.id)
    assert (account.method, account.account_name, account.account_no) == ("wechat", "张三", OPENID)
    assert account.wechat_bound_at is not None
    page = browser.get("/promoter/payout-account", headers={"User-Agent": IN_WECHAT}).get_data(as_text=True)
    assert "已绑定微信收款" in page and "微信收款账户已绑定。" in page and OPENID not in page
    # The code was good once: coming back with it again binds nothing new.
    again = browser.get(f"{path}?code={code}&state={state}", headers={"User-Agent": IN_WECHAT})
    assert again.status_code == 302

    # 提现 to the bound openid, approved and paid online: it waits for the payee.
    browser.post("/promoter/withdraw", {"amount": "123.45"}, token_from="/promoter/withdraw")
    w = db.session.scalars(db.select(Withdrawal).where(Withdrawal.promoter_id == seller.id)).one()
    assert (w.amount_fen, w.method, w.account_no) == (12345, "wechat", OPENID)
    withdrawals.approve(w.brand_id, w.id)
    payout = provider_payouts.start(w.brand_id, w.id, "http://distweb.test/")
    bill = wechat.transfers[payout.out_no]
    assert (payout.status, bill["state"], bill["transfer_amount"], bill["openid"], bill["user_name"]) == (
        "pending", "WAIT_USER_CONFIRM", 12345, OPENID, "张三")
    assert payout.package_info == bill["package_info"]
    db.session.commit()

    inbox = browser.get("/promoter/inbox").get_data(as_text=True)
    assert "提现 ¥123.45 已通过微信打款，请在 24 小时内打开并确认收款。" in inbox
    assert f'href="/promoter/withdrawals/{w.id}"' in inbox
    history = browser.get("/promoter/withdraw").get_data(as_text=True)
    assert f'data-withdrawal="{w.id}" data-state="paying"' in history and "去微信确认收款" in history
    page = browser.get(f"/promoter/withdrawals/{w.id}", headers={"User-Agent": IN_WECHAT}).get_data(as_text=True)
    params = json.loads(unescape(re.search(r'data-transfer="([^"]+)"', page).group(1)))
    assert params == {"mchId": wechat.mchid, "appId": wechat.appid, "package": bill["package_info"]}
    assert "确认收款" in page and "<script>" not in page
    assert re.search(r'data-scripts="/static/js/vendor/jweixin[^" ]+ /static/js/transfer', page)
    outside = browser.get(f"/promoter/withdrawals/{w.id}", headers={"User-Agent": PHONE}).get_data(as_text=True)
    assert "data-transfer=" not in outside and "请在微信中打开本页确认收款。" in outside
    assert browser.get(f"/promoter/withdrawals/{w.id}/status").get_json() == {"state": "paying", "reason": None}

    # Only the bill's own payee can confirm; then WeChat notifies and the withdrawal is paid.
    assert wechat.confirm_transfer(params["package"], "oSomebodyElse0000000000000") is None
    headers, body = wechat.confirm_transfer(params["package"], OPENID)
    assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == WithdrawalStatus.PAID
    assert db.session.get(ProviderPayout, payout.id).package_info is None
    assert browser.get(f"/promoter/withdrawals/{w.id}/status").get_json() == {"state": "paid", "reason": None}
    assert wallet.balances(seller.id)["withdrawn_fen"] == 12345
    assert verify().ok


def test_an_unconfirmed_payout_expires_back_to_approved_with_the_reason(world, browser, wechat, client):
    seller = world["seller"]
    w = withdrawals.request(seller.id, withdrawals.Request(5000, "wechat", "张三", OPENID))
    withdrawals.approve(w.brand_id, w.id)
    payout = provider_payouts.start(w.brand_id, w.id, "http://distweb.test/")
    db.session.commit()
    headers, body = wechat.transfer_done(payout.out_no, "FAIL", "OVERDUE_CLOSE")
    assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == WithdrawalStatus.APPROVED
    reason = "收款人超过 24 小时未确认收款，转账已关闭（OVERDUE_CLOSE）"
    assert db.session.get(ProviderPayout, payout.id).failure == reason
    assert wallet.balances(seller.id)["pending_withdrawal_fen"] == 5000

    login_as(browser, seller)
    assert browser.get(f"/promoter/withdrawals/{w.id}/status").get_json() == {"state": "approved", "reason": reason}
    page = browser.get("/promoter/withdraw").get_data(as_text=True)
    assert reason in page and "去微信确认收款" not in page


def test_another_promoter_sees_none_of_a_payees_payout(world, browser, wechat, make):
    other = make.promoter(name="李四")
    w = withdrawals.request(world["seller"].id, withdrawals.Request(5000, "wechat", "张三", OPENID))
    withdrawals.approve(w.brand_id, w.id)
    payout = provider_payouts.start(w.brand_id, w.id, "http://distweb.test/")
    package = wechat.transfers[payout.out_no]["package_info"]
    db.session.commit()
    login_as(browser, other)
    assert browser.get(f"/promoter/withdrawals/{w.id}", headers={"User-Agent": IN_WECHAT}).status_code == 404
    assert browser.get(f"/promoter/withdrawals/{w.id}/status").status_code == 404
    page = browser.get("/promoter/withdraw").get_data(as_text=True)
    assert package not in page and "去微信确认收款" not in page and f'data-withdrawal="{w.id}"' not in page


def test_bad_bindings_change_nothing(world, browser, wechat):
    seller = world["seller"]
    login_as(browser, seller)
    # Outside WeChat, a wrong password, no name: refused on the page, no OAuth.
    for agent, form, message in ((PHONE, {"account_name": "张三", "password": PASSWORD}, "请在微信中打开本页再绑定。"),
                                 (IN_WECHAT, {"account_name": "张三", "password": "wrong"}, "密码不正确。"),
                                 (IN_WECHAT, {"account_name": " ", "password": PASSWORD}, "请填写微信实名认证的姓名。")):
        response = browser.post("/promoter/payout-account/wechat", form, token_from="/promoter/payout-account",
                                headers={"User-Agent": agent})
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    # A forged state, a missing code, an unknown code: nothing bound.
    path, state = bind(browser, wechat)
    assert browser.get(f"{path}?code={wechat.oauth_code(OPENID)}&state=forged").status_code == 302
    path, state = bind(browser, wechat)
    assert browser.get(f"{path}?state={state}").status_code == 302
    path, state = bind(browser, wechat)
    wechat.used_codes.add("0spent")
    response = browser.get(f"{path}?code=0spent&state={state}")
    assert response.status_code == 302
    page = browser.get("/promoter/payout-account").get_data(as_text=True)
    assert "微信授权失败，请重新绑定。" in page
    assert db.session.get(PayoutAccount, seller.id) is None
    assert browser.client.post("/promoter/payout-account/wechat", data={"account_name": "张三", "password": PASSWORD},
                               headers={"User-Agent": IN_WECHAT}).status_code == 400  # no CSRF token


def _waiting_payout(world, wechat):
    w = withdrawals.request(world["seller"].id, withdrawals.Request(5000, "wechat", "张三", OPENID))
    withdrawals.approve(w.brand_id, w.id)
    payout = provider_payouts.start(w.brand_id, w.id, "http://distweb.test/")
    db.session.commit()
    return w, wechat.transfers[payout.out_no]["package_info"]


def _wx_config(page: str) -> dict | None:
    found = re.search(r'data-wx-config="([^"]+)"', page)
    return json.loads(unescape(found.group(1))) if found else None


def test_the_confirm_page_inside_wechat_carries_a_js_sdk_config_signed_for_its_address(world, browser, wechat):
    """WeChat lets a page call requestMerchantTransfer only after its wx.config: the page
    carries one signed with the official account's jsapi_ticket for its own URL, loads the
    JS-SDK before transfer.js, and WeChat (the stand-in's client) verifies it for that page
    only. The ticket is fetched once and shared by later pages."""
    w, package = _waiting_payout(world, wechat)
    login_as(browser, world["seller"])
    tokens, tickets = wechat.token_calls, wechat.ticket_calls
    url = f"http://distweb.test/promoter/withdrawals/{w.id}"
    page = browser.get(f"/promoter/withdrawals/{w.id}", headers={"User-Agent": IN_WECHAT}).get_data(as_text=True)
    config = _wx_config(page)
    assert config is not None and config["appId"] == wechat.appid and config["debug"] is False
    assert config["jsApiList"] == ["requestMerchantTransfer"]
    assert re.search(r'data-scripts="/static/js/vendor/jweixin-1\.6\.0[^" ]*\.js /static/js/transfer[^"]*"', page)
    verify = {"verifyAppId": config["appId"], "verifyTimestamp": str(config["timestamp"]),
              "verifyNonceStr": config["nonceStr"], "verifySignature": config["signature"],
              "verifyJsApiList": config["jsApiList"]}
    # Signed for this page: WeChat accepts it here (and the transfer may be opened), not elsewhere.
    assert wechat.bridge("preVerifyJSAPI", verify, url + "#top", OPENID) == {"err_msg": "config:ok"}
    other = "http://localhost/promoter/withdraw"
    assert wechat.bridge("preVerifyJSAPI", verify, other, OPENID) == {"err_msg": "config:invalid signature"}
    assert wechat.bridge("requestMerchantTransfer", {"mchId": wechat.mchid, "appId": wechat.appid,
                                                     "package": package}, other, OPENID)["err_msg"] \
        == "requestMerchantTransfer:fail_no permission to execute"
    # A second page view: a new nonce and signature, the same ticket, not fetched again.
    again = _wx_config(browser.get(f"/promoter/withdrawals/{w.id}",
                                   headers={"User-Agent": IN_WECHAT}).get_data(as_text=True))
    assert again["nonceStr"] != config["nonceStr"]
    assert (wechat.token_calls - tokens, wechat.ticket_calls - tickets) == (1, 1)
    # Outside WeChat: no config, no ticket asked for, no JS-SDK loaded.
    outside = browser.get(f"/promoter/withdrawals/{w.id}", headers={"User-Agent": PHONE}).get_data(as_text=True)
    assert _wx_config(outside) is None and "jweixin" not in outside
    assert wechat.ticket_calls - tickets == 1


def test_without_a_ticket_the_confirm_page_still_opens_without_a_config(world, browser, wechat):
    """The brand's AppSecret no longer matches WeChat's (40125): the page still shows the
    payout and its button (WeChat then refuses the call, and the page says so), logs why,
    and caches nothing: the next view asks again."""
    w, _ = _waiting_payout(world, wechat)
    login_as(browser, world["seller"])
    wechat.app_secret = "changed-at-wechat"
    try:
        tokens = wechat.token_calls
        response = browser.get(f"/promoter/withdrawals/{w.id}", headers={"User-Agent": IN_WECHAT})
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and "确认收款" in page and "data-transfer=" in page
        assert _wx_config(page) is None and "jweixin" not in page
    finally:
        wechat.app_secret = "stand-in-app-secret"
    page = browser.get(f"/promoter/withdrawals/{w.id}", headers={"User-Agent": IN_WECHAT}).get_data(as_text=True)
    assert _wx_config(page) is not None and wechat.token_calls == tokens + 1
