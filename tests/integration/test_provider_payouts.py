"""Approved withdrawals paid through the providers' stand-ins: Alipay 单笔转账 (answer is
final, 公钥证书模式), WeChat Pay 商家转账到零钱 (confirmed later by notification or query);
the withdrawal is paid only on confirmation, a refusal keeps it approved with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from distweb.extensions import db
from distweb.models import ProviderPayout, Withdrawal
from distweb.models.base import utcnow
from distweb.models.payouts import WithdrawalStatus
from distweb.services import (
    provider_payouts,
    wallet,
    withdrawals,
)
from distweb.services.errors import ServiceError
from distweb.services.verify import verify
from tests.support.payouts import approved


@pytest.fixture
def world(payout_world):
    return payout_world

def test_alipay_pays_an_approved_withdrawal_at_once_and_refusals_keep_it_approved(world, alipay):
    w = approved(world, 30000, "alipay", "13800000001")
    payout = provider_payouts.start(w.brand_id, w.id, "https://shop.example.com/")
    assert payout.status == "succeeded"
    transfer = alipay.transfers[payout.out_no]
    assert (transfer["trans_amount"], transfer["payee"], transfer["name"]) == ("300.00", "13800000001", "张三")
    w = db.session.get(Withdrawal, w.id)
    assert w.status == WithdrawalStatus.PAID and w.reference == f"alipay:{transfer['order_id']}"
    assert wallet.balances(world["seller"].id)["withdrawn_fen"] == 30000
    with pytest.raises(ServiceError):
        provider_payouts.start(w.brand_id, w.id, "https://shop.example.com/")  # paid: nothing more to pay

    alipay.unknown_payees.add("nobody@example.com")
    bad = approved(world, 20000, "alipay", "nobody@example.com")
    refused = provider_payouts.start(bad.brand_id, bad.id, "https://shop.example.com/")
    assert refused.status == "failed" and "收款账号不存在" in refused.failure
    assert db.session.get(Withdrawal, bad.id).status == WithdrawalStatus.APPROVED
    assert wallet.balances(world["seller"].id)["pending_withdrawal_fen"] == 20000
    assert verify().ok


def test_wechat_pays_on_the_providers_confirmation_once(world, wechat, client):
    w = approved(world, 25000, "wechat", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    payout = provider_payouts.start(w.brand_id, w.id, "http://distweb.test/")
    assert payout.status == "pending", payout.failure
    bill = wechat.transfers[payout.out_no]
    assert (bill["transfer_amount"], bill["openid"], bill["user_name"]) == (25000, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
                                                                            "张三")
    assert db.session.get(Withdrawal, w.id).status == WithdrawalStatus.APPROVED
    with pytest.raises(ServiceError) as err:
        withdrawals.mark_paid(w.brand_id, w.id, "TX-HAND")  # no paying twice while the provider pays
    assert err.value.code == "payout_in_progress"
    with pytest.raises(ServiceError):
        withdrawals.reject(w.brand_id, w.id, "改主意了")
    db.session.commit()

    headers, body = wechat.transfer_done(payout.out_no)
    assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    db.session.expire_all()
    w = db.session.get(Withdrawal, w.id)
    assert w.status == WithdrawalStatus.PAID and w.reference == f"wechat:{bill['transfer_bill_no']}"
    assert db.session.get(ProviderPayout, payout.id).status == "succeeded"
    assert wallet.balances(world["seller"].id)["withdrawn_fen"] == 25000
    assert verify().ok


def test_a_lost_wechat_confirmation_is_found_by_the_sweep_and_a_failure_returns_to_approved(world, wechat):
    ok = approved(world, 10000, "wechat", "oUpF8uMuAJO_M2pxb1Q9zNjFirst1")
    lost = provider_payouts.start(ok.brand_id, ok.id, "http://distweb.test/")
    wechat.transfer_done(lost.out_no)  # the notification never arrives
    failing = approved(world, 12000, "wechat", "oUpF8uMuAJO_M2pxb1Q9zNSecond")
    declined = provider_payouts.start(failing.brand_id, failing.id, "http://distweb.test/")
    wechat.transfer_done(declined.out_no, "FAIL", "收款用户未确认收款")
    assert provider_payouts.retry_pending() == 0  # not due yet
    later = utcnow() + timedelta(minutes=6)
    assert provider_payouts.retry_pending(now=later) == 2
    assert provider_payouts.retry_pending(now=later) == 0
    db.session.expire_all()
    assert db.session.get(Withdrawal, ok.id).status == WithdrawalStatus.PAID
    assert db.session.get(Withdrawal, failing.id).status == WithdrawalStatus.APPROVED
    assert db.session.get(ProviderPayout, declined.id).failure == "收款用户未确认收款"
    # Paid again after the payee sorted it out: a new attempt with its own number.
    again = provider_payouts.start(failing.brand_id, failing.id, "http://distweb.test/")
    assert again.out_no != declined.out_no and again.status == "pending"
    assert verify().ok


def test_batch_payout_from_the_withdrawals_page(world, app, browser, alipay, wechat):
    ids = [approved(world, 10000 + i, m, a).id for i, (m, a) in enumerate(
        [("alipay", "a1@example.com"), ("alipay", "a2@example.com"), ("wechat", "oUpF8uMuAJO_M2pxb1Q9zNjBatch1"),
         ("bank", "6222"), ("wechat", "my-wechat-id")])]
    db.session.commit()
    browser.login("boss@example.com", "secret123")
    page = browser.get("/manage/withdrawals?status=approved").get_data(as_text=True)
    assert "批量在线打款" in page and page.count(">在线打款</button>") == 3  # not the bank transfer
    response = browser.post("/manage/withdrawals/payout-all", {}, token_from="/manage/withdrawals?status=approved")
    assert response.status_code == 302
    page = browser.get("/manage/withdrawals?status=approved").get_data(as_text=True)
    assert "批量打款：成功 2 笔，处理中 1 笔，失败 0 笔。" in page and "打款中" in page
    db.session.expire_all()
    statuses = [db.session.get(Withdrawal, i).status for i in ids]
    assert statuses == [WithdrawalStatus.PAID, WithdrawalStatus.PAID, WithdrawalStatus.APPROVED,
                        WithdrawalStatus.APPROVED, WithdrawalStatus.APPROVED]
    with pytest.raises(ServiceError) as err:  # a WeChat id is not an openid: paid by hand
        provider_payouts.start(world["brand"].id, ids[4], "http://distweb.test/")
    assert err.value.code == "payee_not_openid"


def test_the_same_payout_confirmation_at_once_from_many_connections_pays_the_withdrawal_once(world, wechat, app):
    from concurrent.futures import ThreadPoolExecutor

    w = approved(world, 15000, "wechat", "oUpF8uMuAJO_M2pxb1Q9zNjTwice1")
    payout = provider_payouts.start(w.brand_id, w.id, "http://distweb.test/")
    db.session.commit()
    headers, body = wechat.transfer_done(payout.out_no)

    def deliver(_):
        return app.test_client().post("/pay/wechat/notify", data=body, headers=headers).status_code

    with ThreadPoolExecutor(5) as pool:
        assert list(pool.map(deliver, range(5))) == [204] * 5
    db.session.commit()
    from distweb.models import PaymentNotice

    outcomes = sorted(n.outcome for n in db.session.query(PaymentNotice))
    assert outcomes == ["duplicate"] * 4 + ["paid_out"], outcomes
    assert db.session.get(Withdrawal, w.id).status == WithdrawalStatus.PAID
    assert wallet.balances(world["seller"].id)["withdrawn_fen"] == 15000
    assert verify().ok
