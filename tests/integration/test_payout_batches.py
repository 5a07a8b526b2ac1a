"""批量打款 of a settlement run: from the run's page one background job (a real RQ worker)
pays every approved withdrawal of the run through the provider its method names, each with
its own out_no; run again it pays nothing twice; each withdrawal's result and every failure's
reason are on the run's page."""

from __future__ import annotations

import re

import pytest
from rq import SimpleWorker

from distweb.extensions import db
from distweb.models import Job, PayoutBatch, ProviderPayout, SettlementRun, Withdrawal
from distweb.models.job import JobStatus
from distweb.models.payouts import WithdrawalStatus
from distweb.queues import all_queues, redis_connection
from distweb.services import provider_payouts, wallet, withdrawals
from distweb.services.verify import verify
from tests.support.payouts import approved, fund

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjRunPay1"



@pytest.fixture
def world(payout_world):
    return payout_world

def work_off_queues():
    SimpleWorker(all_queues(), connection=redis_connection()).work(burst=True)


def latest_run_id() -> int:
    return db.session.scalar(db.select(SettlementRun.id).order_by(SettlementRun.id.desc()).limit(1))


def rows_by_state(html: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for wid, state in re.findall(r'data-withdrawal="(\d+)" data-state="(\w+)"', html):
        found.setdefault(state, []).append(int(wid))
    return found


def test_a_settlement_runs_withdrawals_are_paid_in_one_job_and_a_second_run_pays_nothing_twice(
        world, browser, alipay, wechat):
    run_id = latest_run_id()
    alipay.unknown_payees.add("nobody@example.com")
    paid = approved(world, 10001, "alipay", "a1@example.com")
    refused = approved(world, 20002, "alipay", "nobody@example.com")
    confirm = approved(world, 30003, "wechat", OPENID)
    bank = approved(world, 14004, "bank", "6222020000000001")
    typed = approved(world, 5005, "wechat", "my-wechat-id")
    waiting = withdrawals.request(world["seller"].id, withdrawals.Request(6006, "alipay", "张三", "a2@example.com"))
    fund(world["brand"], world["seller"], 1000)  # the next run: what is requested after it is its own
    later = approved(world, 7007, "alipay", "a3@example.com")
    db.session.commit()

    browser.login("boss@example.com", "secret123")
    page = browser.get(f"/manage/settlements/{run_id}").get_data(as_text=True)
    states = rows_by_state(page)
    assert states == {"payable": [paid.id, refused.id, confirm.id], "manual": [bank.id, typed.id],
                      "requested": [waiting.id]}, states
    assert later.id not in sum(states.values(), [])
    response = browser.post(f"/manage/settlements/{run_id}/payouts", {}, token_from=f"/manage/settlements/{run_id}")
    assert response.status_code == 302
    batch = db.session.scalars(db.select(PayoutBatch)).one()
    assert db.session.get(Job, batch.job_id).status == JobStatus.QUEUED
    queued = browser.get(f"/manage/settlements/{run_id}").get_data(as_text=True)
    assert f'hx-get="/manage/settlements/{run_id}/payouts"' in queued and "批量打款 · 排队中" in queued
    work_off_queues()
    db.session.expire_all()
    job = db.session.get(Job, batch.job_id)
    assert job.status == JobStatus.SUCCEEDED and job.progress == 100
    assert job.result == {"succeeded": "1", "pending": "1", "failed": "1", "skipped": "2"}

    # Amounts to the fen, at the providers and in distweb.
    first = {p.withdrawal_id: p for p in db.session.scalars(db.select(ProviderPayout))}
    assert set(first) == {paid.id, refused.id, confirm.id} and all(p.batch_id == batch.id for p in first.values())
    assert alipay.transfers[first[paid.id].out_no]["trans_amount"] == "100.01"
    assert wechat.transfers[first[confirm.id].out_no]["transfer_amount"] == 30003
    assert db.session.get(Withdrawal, paid.id).status == WithdrawalStatus.PAID
    assert [db.session.get(Withdrawal, w.id).status for w in (refused, confirm, bank, typed)] == [
        WithdrawalStatus.APPROVED] * 4
    assert wallet.balances(world["seller"].id)["withdrawn_fen"] == 10001

    page = browser.get(f"/manage/settlements/{run_id}").get_data(as_text=True)
    assert rows_by_state(page) == {"paid": [paid.id], "failed": [refused.id], "paying": [confirm.id],
                                   "manual": [bank.id, typed.id], "requested": [waiting.id]}
    assert "收款账号不存在" in page and "等待收款人在微信中确认收款" in page
    assert first[paid.id].out_no in page
    section = browser.get(f"/manage/settlements/{run_id}/payouts").get_data(as_text=True)
    assert section.startswith('<section class="panel" id="run-payouts">')  # done: it polls no more
    assert "批量打款 · 已完成" in section and "<dt>成功</dt><dd>1</dd>" in section
    assert "<dt>失败</dt><dd>1</dd>" in section and "<dt>跳过</dt><dd>2</dd>" in section
    assert browser.get(f"/manage/settlements/{run_id + 99}/payouts").status_code == 404

    # Again: the paid and the paying are left alone; the refused one gets a new attempt.
    transfers_before = dict(alipay.transfers)
    browser.post(f"/manage/settlements/{run_id}/payouts", {}, token_from=f"/manage/settlements/{run_id}")
    work_off_queues()
    db.session.expire_all()
    second = db.session.scalars(db.select(PayoutBatch).order_by(PayoutBatch.id.desc())).first()
    assert db.session.get(Job, second.job_id).result == {"succeeded": "0", "pending": "0", "failed": "1",
                                                         "skipped": "3"}
    assert alipay.transfers == transfers_before and len(wechat.transfers) == 1  # nothing paid twice
    attempts = {}
    for p in db.session.scalars(db.select(ProviderPayout).order_by(ProviderPayout.id)):
        attempts.setdefault(p.withdrawal_id, []).append((p.status, p.out_no))
    assert [s for s, _ in attempts[refused.id]] == ["failed", "failed"]  # a new attempt, its own out_no
    assert len({n for _, n in attempts[refused.id]}) == 2
    assert len(attempts[paid.id]) == 1 and len(attempts[confirm.id]) == 1
    again = provider_payouts.pay_batch(second.job_id)  # the job's work run twice
    assert again == {"succeeded": "0", "pending": "0", "failed": "1", "skipped": "3"}
    assert wallet.balances(world["seller"].id)["withdrawn_fen"] == 10001
    assert verify().ok


def test_bad_batch_requests_change_nothing(world, browser):
    run_id = latest_run_id()
    approved(world, 4000, "bank", "6222020000000002")
    db.session.commit()
    browser.login("boss@example.com", "secret123")
    assert browser.post(f"/manage/settlements/{run_id + 99}/payouts", {},
                        token_from=f"/manage/settlements/{run_id}").status_code == 404
    browser.post(f"/manage/settlements/{run_id}/payouts", {}, token_from=f"/manage/settlements/{run_id}")
    page = browser.get(f"/manage/settlements/{run_id}").get_data(as_text=True)
    assert "本期没有可在线打款的已通过提现。" in page
    no_token = browser.client.post(f"/manage/settlements/{run_id}/payouts")
    assert no_token.status_code == 400
    assert db.session.scalar(db.select(db.func.count(PayoutBatch.id))) == 0
    assert db.session.scalar(db.select(db.func.count(Job.id)).where(Job.kind == "payout_batch")) == 0
