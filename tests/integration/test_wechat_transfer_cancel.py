"""撤销转账: a manager cancels a WeChat 商家转账 that waits for the payee's confirmation. WeChat
is asked once (CANCELING); the withdrawal is approved again (已撤销) only on WeChat's
CANCELLED, by notification or by the sweep's query; a payee who confirmed first is paid,
never cancelled; a second click or a retry neither cancels twice nor pays twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from distweb.extensions import db
from distweb.models import Brand, Promoter, ProviderPayout, Withdrawal
from distweb.models.base import utcnow
from distweb.models.payouts import WithdrawalStatus
from distweb.services import online_pay, provider_payouts, wallet
from distweb.services.errors import NotFound, ServiceError
from distweb.services.tx import transaction
from distweb.services.verify import verify
from tests.integration.test_wechat_payee import IN_WECHAT
from tests.support.factories import PASSWORD
from tests.support.payouts import approved

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjCancel1"
CANCEL_PATH = "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{}/cancel"


@pytest.fixture
def world(payout_world):
    return payout_world


def waiting(world, fen, openid=OPENID):
    """An approved WeChat withdrawal whose 商家转账 waits for the payee (WAIT_USER_CONFIRM)."""
    w = approved(world, fen, "wechat", openid)
    payout = provider_payouts.start(w.brand_id, w.id, "http://distweb.test/")
    db.session.commit()
    assert payout.status == "pending" and payout.package_info
    return w, payout


def state(payout_id, withdrawal_id):
    """(the payout's status, 撤销中 while its cancel is asked or else its failure, the withdrawal's)."""
    db.session.expire_all()
    p, w = db.session.get(ProviderPayout, payout_id), db.session.get(Withdrawal, withdrawal_id)
    if p.cancel_requested_at is not None and p.status == "pending":
        assert p.failure is None
        return p.status, "撤销中", w.status
    return p.status, p.failure, w.status


def test_the_manager_cancels_a_waiting_transfer_and_the_withdrawal_is_approved_again_on_cancelled(
        world, browser, wechat, client):
    seller = world["seller"]
    before = wallet.balances(seller.id)
    w, payout = waiting(world, 23456)
    package = payout.package_info
    browser.login("boss@example.com", "secret123")
    page = browser.get("/manage/withdrawals?status=approved").get_data(as_text=True)
    action = f'action="/manage/withdrawals/{w.id}/cancel-payout?status=approved"'
    assert action in page and ">撤销转账</button>" in page and "撤销这笔微信转账？" in page
    assert "等待收款人在微信中确认收款" in page

    # No CSRF token: refused, nothing asked of WeChat.
    refused = browser.client.post(f"/manage/withdrawals/{w.id}/cancel-payout", data={})
    assert refused.status_code == 400
    assert wechat.transfers[payout.out_no]["state"] == "WAIT_USER_CONFIRM" and payout.out_no not in wechat.cancels

    response = browser.post(f"/manage/withdrawals/{w.id}/cancel-payout?status=approved", {},
                            token_from="/manage/withdrawals?status=approved")
    assert response.status_code == 302
    assert wechat.transfers[payout.out_no]["state"] == "CANCELING" and wechat.cancels.count(payout.out_no) == 1
    assert state(payout.id, w.id) == ("pending", "撤销中", WithdrawalStatus.APPROVED)
    assert db.session.get(ProviderPayout, payout.id).package_info is None
    page = browser.get("/manage/withdrawals?status=approved").get_data(as_text=True)
    assert "已申请撤销转账，等待微信支付确认。" in page
    assert 'data-payout-state="canceling">撤销中<' in page and ">查询撤销结果</button>" in page
    assert ">在线打款</button>" not in page and "等待收款人在微信中确认收款" not in page
    # The payee's page no longer offers the confirmation, and WeChat would refuse it.
    view = provider_payouts.payee_view(seller.id, w.id)
    assert (view.state, view.reason, provider_payouts.confirm_params(view)) == ("paying", "撤销中", None)

    assert wechat.confirm_transfer(package, OPENID) is None
    # Nothing moved yet: the money still waits in 提现中.
    assert wallet.balances(seller.id)["pending_withdrawal_fen"] == before["pending_withdrawal_fen"] + 23456

    # A second click only asks WeChat what became of the bill: still one cancel.
    browser.post(f"/manage/withdrawals/{w.id}/cancel-payout?status=approved", {},
                 token_from="/manage/withdrawals?status=approved")
    assert wechat.cancels.count(payout.out_no) == 1
    assert state(payout.id, w.id) == ("pending", "撤销中", WithdrawalStatus.APPROVED)

    # WeChat confirms CANCELLED: approved again, with the reason; delivered twice, applied once.
    headers, body = wechat.cancel_done(payout.out_no)
    assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    assert state(payout.id, w.id) == ("failed", "已撤销", WithdrawalStatus.APPROVED)
    after = wallet.balances(seller.id)
    assert after["pending_withdrawal_fen"] == before["pending_withdrawal_fen"] + 23456
    assert after["withdrawn_fen"] == before["withdrawn_fen"]
    assert provider_payouts.payee_view(seller.id, w.id).state == "approved"
    assert provider_payouts.payee_view(seller.id, w.id).reason == "已撤销"
    page = browser.get("/manage/withdrawals?status=approved").get_data(as_text=True)
    assert "打款失败</span> <span class=\"error\">已撤销</span>" in page
    assert ">撤销转账</button>" not in page and ">在线打款</button>" in page

    # Nothing left to cancel: a third click changes nothing.
    browser.post(f"/manage/withdrawals/{w.id}/cancel-payout?status=approved", {},
                 token_from="/manage/withdrawals?status=approved")
    page = browser.get("/manage/withdrawals?status=approved").get_data(as_text=True)
    assert "该提现没有等待收款人确认的微信转账，无法撤销。" in page
    assert wechat.cancels.count(payout.out_no) == 1
    assert state(payout.id, w.id) == ("failed", "已撤销", WithdrawalStatus.APPROVED)

    # Paid again later: a new bill with its own number, for the same 234.56.
    again = provider_payouts.start(w.brand_id, w.id, "http://distweb.test/")
    assert again.out_no != payout.out_no and again.status == "pending"
    assert wechat.transfers[again.out_no]["transfer_amount"] == 23456
    assert verify().ok


def test_a_payee_who_confirmed_before_the_cancel_is_paid_not_cancelled(world, wechat):
    seller = world["seller"]
    withdrawn = wallet.balances(seller.id)["withdrawn_fen"]
    w, payout = waiting(world, 12345)
    wechat.confirm_transfer(payout.package_info, OPENID)  # confirmed; its notification not here yet
    done = provider_payouts.cancel(w.brand_id, w.id)
    assert done.status == "succeeded" and done.failure is None
    assert payout.out_no not in wechat.cancels and wechat.transfers[payout.out_no]["state"] == "SUCCESS"
    assert state(payout.id, w.id) == ("succeeded", None, WithdrawalStatus.PAID)
    w = db.session.get(Withdrawal, w.id)
    assert w.reference == f"wechat:{wechat.transfers[payout.out_no]['transfer_bill_no']}"
    assert wallet.balances(seller.id)["withdrawn_fen"] == withdrawn + 12345
    with pytest.raises(ServiceError) as err:
        provider_payouts.cancel(w.brand_id, w.id)
    assert err.value.code == "nothing_to_cancel"
    assert wallet.balances(seller.id)["withdrawn_fen"] == withdrawn + 12345
    assert verify().ok


def test_a_confirmation_that_arrives_while_cancelling_pays_once(world, wechat, client):
    seller = world["seller"]
    withdrawn = wallet.balances(seller.id)["withdrawn_fen"]
    w, payout = waiting(world, 9999)
    assert provider_payouts.cancel(w.brand_id, w.id).status == "pending"
    assert state(payout.id, w.id) == ("pending", "撤销中", WithdrawalStatus.APPROVED)
    # The payee's confirmation won the race at WeChat: the bill succeeded after all.
    headers, body = wechat.transfer_done(payout.out_no, "SUCCESS")
    assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    assert state(payout.id, w.id) == ("succeeded", None, WithdrawalStatus.PAID)
    assert wallet.balances(seller.id)["withdrawn_fen"] == withdrawn + 9999
    # A late retry of the cancel, or the sweep, changes nothing more.
    with pytest.raises(ServiceError):
        provider_payouts.cancel(w.brand_id, w.id)
    assert provider_payouts.retry_pending(now=utcnow() + timedelta(minutes=6)) == 0
    assert wechat.cancels.count(payout.out_no) == 1
    assert wallet.balances(seller.id)["withdrawn_fen"] == withdrawn + 9999
    assert verify().ok


def test_a_lost_cancel_answer_and_a_lost_notification_are_settled_by_the_sweep(world, wechat):
    pending = wallet.balances(world["seller"].id)["pending_withdrawal_fen"]
    w, payout = waiting(world, 5001)
    wechat.lose_answers.append(("POST", CANCEL_PATH.format(payout.out_no)))
    # WeChat cancelled but answered 500: the query finds the bill CANCELING.
    assert provider_payouts.cancel(w.brand_id, w.id).status == "pending"
    assert wechat.cancels.count(payout.out_no) == 1
    assert state(payout.id, w.id) == ("pending", "撤销中", WithdrawalStatus.APPROVED)
    wechat.cancel_done(payout.out_no)  # the CANCELLED notification never arrives
    later = utcnow() + timedelta(minutes=6)
    assert provider_payouts.retry_pending(now=later) == 1
    assert provider_payouts.retry_pending(now=later) == 0
    assert state(payout.id, w.id) == ("failed", "已撤销", WithdrawalStatus.APPROVED)
    assert wallet.balances(world["seller"].id)["pending_withdrawal_fen"] == pending + 5001
    assert verify().ok


def test_a_refused_cancel_keeps_the_transfer_waiting_for_the_payee(world, wechat):
    w, payout = waiting(world, 7000)
    package = payout.package_info
    wechat.fail_next(400, "INVALID_REQUEST", "商户号状态异常")
    with pytest.raises(ServiceError) as err:
        provider_payouts.cancel(w.brand_id, w.id)
    assert err.value.code == "cancel_refused" and "商户号状态异常" in str(err.value.message)
    assert state(payout.id, w.id) == ("pending", None, WithdrawalStatus.APPROVED)
    assert db.session.get(ProviderPayout, payout.id).package_info == package
    assert wechat.transfers[payout.out_no]["state"] == "WAIT_USER_CONFIRM"


def test_two_clicks_at_once_send_one_cancel(world, wechat, app):
    w, payout = waiting(world, 4321)
    brand_id, withdrawal_id, payout_id, out_no = w.brand_id, w.id, payout.id, payout.out_no
    db.session.commit()

    def click(_):
        with app.app_context():
            try:
                return provider_payouts.cancel(brand_id, withdrawal_id).status
            except ServiceError as err:
                return err.code

    with ThreadPoolExecutor(2) as pool:
        assert sorted(pool.map(click, range(2))) == ["pending", "pending"]
    assert wechat.cancels.count(out_no) == 1
    assert state(payout_id, withdrawal_id) == ("pending", "撤销中", WithdrawalStatus.APPROVED)


def test_a_bad_or_foreign_withdrawal_is_a_404_and_nothing_changes(world, browser, wechat):
    w, payout = waiting(world, 3000)
    with transaction():
        other = Brand(name="别家", short_name="别家")
        db.session.add(other)
    with pytest.raises(NotFound):
        provider_payouts.cancel(other.id, w.id)
    browser.login("boss@example.com", "secret123")
    for bad in (999999, 0):
        response = browser.post(f"/manage/withdrawals/{bad}/cancel-payout", {},
                                token_from="/manage/withdrawals?status=approved")
        assert response.status_code == 404
    assert browser.post("/manage/withdrawals/abc/cancel-payout", {},
                        token_from="/manage/withdrawals?status=approved").status_code == 404
    assert payout.out_no not in wechat.cancels
    assert state(payout.id, w.id) == ("pending", None, WithdrawalStatus.APPROVED)
    # An Alipay withdrawal paid at once has nothing to cancel.
    paid = approved(world, 2000, "alipay", "13800000001")
    provider_payouts.start(paid.brand_id, paid.id, "http://distweb.test/")
    with pytest.raises(ServiceError) as err:
        provider_payouts.cancel(paid.brand_id, paid.id)
    assert err.value.code == "nothing_to_cancel"
    assert db.session.get(Withdrawal, paid.id).status == WithdrawalStatus.PAID


def test_an_unanswered_cancel_stays_cancelling_and_the_next_click_finds_it_without_a_second_cancel(
        world, wechat, app):
    before = app.config["PAYMENT_HTTP_TIMEOUT"]
    app.config["PAYMENT_HTTP_TIMEOUT"] = 0.5
    try:
        settings, secrets = wechat.settings()  # saved again: a client with the short timeout
        online_pay.save_config(world["brand"].id, "wechat", True, settings, secrets)
        w, payout = waiting(world, 6100)
        wechat.delay = 1.5  # WeChat cancels, its answer comes too late
        try:
            assert provider_payouts.cancel(w.brand_id, w.id).status == "pending"
        finally:
            wechat.delay = 0
        assert state(payout.id, w.id) == ("pending", "撤销中", WithdrawalStatus.APPROVED)
        assert wechat.transfers[payout.out_no]["state"] == "CANCELING"
        assert provider_payouts.cancel(w.brand_id, w.id).status == "pending"  # asks; CANCELING
        cancel_calls = [c for c in wechat.calls if c[:2] == ("POST", CANCEL_PATH.format(payout.out_no))]
        assert len(cancel_calls) == 1 and wechat.cancels.count(payout.out_no) == 1
        wechat.cancel_done(payout.out_no)
        assert provider_payouts.cancel(w.brand_id, w.id).status == "failed"  # the next click settles it
    finally:
        app.config["PAYMENT_HTTP_TIMEOUT"] = before
    assert state(payout.id, w.id) == ("failed", "已撤销", WithdrawalStatus.APPROVED)
    assert verify().ok


def test_the_payee_sees_the_transfer_being_cancelled_and_cannot_confirm_it(world, browser, wechat):
    w, payout = waiting(world, 8800)
    package = payout.package_info
    assert provider_payouts.cancel(w.brand_id, w.id).status == "pending"
    db.session.commit()
    assert browser.login(db.session.get(Promoter, world["seller"].id).user.phone, PASSWORD).status_code == 302
    page = browser.get(f"/promoter/withdrawals/{w.id}", headers={"User-Agent": IN_WECHAT}).get_data(as_text=True)
    assert "品牌正在撤销这笔转账。" in page and "data-transfer=" not in page and "确认收款</button>" not in page
    assert browser.get(f"/promoter/withdrawals/{w.id}/status").get_json() == {"state": "paying", "reason": "撤销中"}
    assert wechat.confirm_transfer(package, OPENID) is None
    wechat.cancel_done(payout.out_no)
    assert provider_payouts.cancel(w.brand_id, w.id).status == "failed"
    db.session.commit()
    assert browser.get(f"/promoter/withdrawals/{w.id}/status").get_json() == {"state": "approved", "reason": "已撤销"}
    page = browser.get(f"/promoter/withdrawals/{w.id}").get_data(as_text=True)
    assert "上次打款失败（已撤销）" in page
