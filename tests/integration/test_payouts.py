"""Settlement runs and withdrawals against a real database and Redis."""

import itertools
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from rq import SimpleWorker

from distweb.extensions import db
from distweb.models import Brand, CommissionLine, Notification, SettlementRun, Withdrawal
from distweb.models.base import utcnow
from distweb.models.ledger import AccountKind, LineStatus
from distweb.models.payouts import RunStatus, WithdrawalStatus
from distweb.queues import all_queues, redis_connection
from distweb.services import catalogue, commission, ledger, orders, settlement, wallet, withdrawals
from distweb.services.errors import ServiceError
from distweb.services.verify import verify

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(app_ctx, make):
    brand_ref = make.brand()
    top = make.promoter(name="上级")
    seller = make.promoter(name="卖家", upline=top)
    brand = db.session.get(Brand, brand_ref.id)
    catalogue.upsert_product(brand, "TEA-001", catalogue.ProductInput(name="龙井", price_fen=10000))
    commission.save_plan(brand.id, {"depth": 2, "freeze_days": 7, "max_total_bp": 3000, "rules": [
        {"scope": {}, "level": 1, "kind": "percent", "rate_bp": 1000},
        {"scope": {}, "level": 2, "kind": "percent", "rate_bp": 500}]})
    return {"brand": brand, "seller": seller, "top": top}


def completed_order(world, n, days_ago):
    order = orders.place_order(world["brand"], orders.OrderInput(
        external_id=f"S-{n}", mode="promotion", promoter_code=world["seller"].code,
        items=[orders.ItemInput("TEA-001", 1)], paid_at=utcnow() - timedelta(days=days_ago + 1)))
    orders.complete(order.brand_id, order.id, utcnow() - timedelta(days=days_ago))
    return order


def run_now(world, as_of=None):
    run = settlement.start_run(world["brand"].id, as_of or utcnow())
    SimpleWorker(all_queues(), connection=redis_connection()).work(burst=True)
    db.session.expire_all()
    return db.session.get(SettlementRun, run.id)


def test_a_run_settles_exactly_the_eligible_lines_and_a_rerun_settles_nothing(world):
    old = completed_order(world, 1, days_ago=8)     # past the 7-day window
    fresh = completed_order(world, 2, days_ago=3)   # still frozen
    unpaid_done = orders.place_order(world["brand"], orders.OrderInput(
        external_id="S-3", mode="promotion", promoter_code=world["seller"].code,
        items=[orders.ItemInput("TEA-001", 1)], paid_at=utcnow()))  # not completed: frozen
    run = run_now(world)
    assert run.status == RunStatus.SUCCEEDED and run.settled_count == 2 and run.settled_fen == 1500
    statuses = {(line.order_id, line.status) for line in db.session.query(CommissionLine)}
    assert statuses == {(old.id, LineStatus.AVAILABLE), (fresh.id, LineStatus.FROZEN),
                        (unpaid_done.id, LineStatus.FROZEN)}
    assert wallet.balances(world["seller"].id) == {"frozen_fen": 2000, "available_fen": 1000,
                                                   "pending_withdrawal_fen": 0, "withdrawn_fen": 0}
    again = run_now(world)
    assert again.settled_count == 0 and again.settled_fen == 0
    assert verify().ok


def test_a_crash_mid_run_then_a_restart_ends_like_one_uninterrupted_run(world, monkeypatch):
    for n in range(7):
        completed_order(world, n, days_ago=10)
    monkeypatch.setattr(settlement, "BATCH", 3)
    real = settlement.settle_batch
    calls = {"n": 0}

    def crash_on_second(run, now, *batch_args):
        calls["n"] += 1
        if calls["n"] == 2:
            real(run, now, *batch_args)  # the work of the batch is done…
            raise KeyboardInterrupt("worker killed")  # …and the process dies before commit
        return real(run, now, *batch_args)

    monkeypatch.setattr(settlement, "settle_batch", crash_on_second)
    run = settlement.start_run(world["brand"].id, utcnow())
    with pytest.raises(KeyboardInterrupt):
        settlement.execute_run(run.id)
    db.session.rollback()
    half = db.session.query(CommissionLine).filter_by(status=LineStatus.AVAILABLE).count()
    assert half == 3  # only the first batch committed; the killed one left nothing half-done
    monkeypatch.setattr(settlement, "settle_batch", real)
    db.session.get(SettlementRun, run.id).status = RunStatus.QUEUED
    db.session.commit()
    settlement.execute_run(run.id)
    assert db.session.query(CommissionLine).filter_by(status=LineStatus.AVAILABLE).count() == 14
    assert wallet.balances(world["seller"].id)["available_fen"] == 7000
    assert verify().ok
    # Each promoter is told once, about everything the run settled in both attempts.
    told = {(n.user_id, n.data["amount_fen"], n.data["run"])
            for n in db.session.query(Notification).filter_by(kind="commission_unfrozen")}
    assert told == {(world["seller"].user_id, 7000, run.id), (world["top"].user_id, 3500, run.id)}
    assert db.session.query(Notification).filter_by(kind="commission_unfrozen").count() == 2


def test_a_crash_while_telling_promoters_leaves_the_run_to_finish_and_tell_once(world, monkeypatch):
    from distweb.services import notifications

    completed_order(world, 1, days_ago=10)
    real = notifications.insert_from

    def killed(brand_id, rows):
        real(brand_id, rows)
        raise KeyboardInterrupt("worker killed")  # before the run is marked done

    monkeypatch.setattr(notifications, "insert_from", killed)
    run = settlement.start_run(world["brand"].id, utcnow())
    with pytest.raises(KeyboardInterrupt):
        settlement.execute_run(run.id)
    db.session.rollback()
    assert db.session.get(SettlementRun, run.id).status == RunStatus.RUNNING
    unfrozen = db.session.query(Notification).filter(Notification.kind == "commission_unfrozen")
    assert unfrozen.count() == 0
    monkeypatch.setattr(notifications, "insert_from", real)
    run = settlement.execute_run(run.id)
    assert run.status == RunStatus.SUCCEEDED and run.settled_count == 2 and run.settled_fen == 1500
    assert sorted((n.user_id, n.data["amount_fen"]) for n in unfrozen) == sorted(
        [(world["seller"].user_id, 1000), (world["top"].user_id, 500)])


def test_a_real_worker_process_runs_a_settlement(world, app):
    completed_order(world, 1, days_ago=9)
    run = settlement.start_run(world["brand"].id, utcnow())
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", ""),
               REDIS_URL=app.config["REDIS_URL"], DISTWEB_QUEUE_PREFIX=app.config.get("RQ_QUEUE_PREFIX", ""))
    subprocess.run([sys.executable, "-m", "distweb", "worker", "--burst"], cwd=ROOT, env=env, check=True,
                   timeout=120, capture_output=True)
    db.session.expire_all()
    assert db.session.get(SettlementRun, run.id).settled_count == 2


def fund(world, fen):
    """Give the seller ``fen`` of available money the way money gets there: a sale whose L1
    commission (10 %) is ``fen``, completed past its freeze window and settled by a run."""
    n = next(_funding)
    catalogue.upsert_product(world["brand"], f"FUND-{n}", catalogue.ProductInput(name="充值", price_fen=fen * 10))
    order = orders.place_order(world["brand"], orders.OrderInput(
        external_id=f"F-{n}", mode="promotion", promoter_code=world["seller"].code,
        items=[orders.ItemInput(f"FUND-{n}", 1)], paid_at=utcnow() - timedelta(days=12)))
    orders.complete(order.brand_id, order.id, utcnow() - timedelta(days=10))
    settlement.execute_run(settlement.start_run(world["brand"].id, enqueue=False).id)
    db.session.commit()


_funding = itertools.count(1)


def test_fifty_concurrent_withdrawals_never_overdraw(world, app):
    fund(world, 10 * 5000)
    results = []

    def attempt():
        with app.app_context():
            try:
                withdrawals.request(world["seller"].id, withdrawals.Request(5000, "alipay", "卖家", "seller@alipay"))
                results.append("ok")
            except ServiceError as err:
                results.append(err.code)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results.count("ok") == 10 and results.count("insufficient_balance") == 40
    db.session.expire_all()
    balances = wallet.balances(world["seller"].id)
    assert balances["available_fen"] == 0 and balances["pending_withdrawal_fen"] == 50000
    assert verify().ok


def test_withdrawal_flow_with_fee_reject_returns_money_and_rules(world):
    from distweb.services import network

    settings = network.get_settings(world["brand"].id)
    # Keys left out (methods, auto_approve_below_fen) read as their defaults.
    settings.withdrawal = {"min_fen": 2000, "fee_bp": 60, "fee_min_fen": 100, "daily_limit_fen": 30000}
    db.session.commit()
    fund(world, 50000)
    seller = world["seller"].id
    with pytest.raises(ServiceError) as err:
        withdrawals.request(seller, withdrawals.Request(1999, "bank", "卖家", "6222"))
    assert err.value.code == "below_minimum"
    with pytest.raises(ServiceError) as err:
        withdrawals.request(seller, withdrawals.Request(60000, "bank", "卖家", "6222"))
    assert err.value.code == "insufficient_balance"
    with pytest.raises(ServiceError) as err:
        withdrawals.request(seller, withdrawals.Request(50.0, "bank", "卖家", "6222"))
    assert err.value.code == "invalid_amount"
    w = withdrawals.request(seller, withdrawals.Request(20000, "bank", "卖家", "6222 0000"))
    assert (w.fee_fen, w.net_fen, w.status) == (120, 19880, WithdrawalStatus.REQUESTED)  # 0.6 %, at least ¥1
    with pytest.raises(ServiceError) as err:
        withdrawals.request(seller, withdrawals.Request(15000, "bank", "卖家", "6222"))
    assert err.value.code == "over_daily_limit"
    rejected = withdrawals.reject(w.brand_id, w.id, "账户名不符")
    assert rejected.status == WithdrawalStatus.REJECTED
    assert wallet.balances(seller)["available_fen"] == 50000
    w2 = withdrawals.request(seller, withdrawals.Request(10000, "wechat", "卖家", "wx-seller"))
    with pytest.raises(ServiceError):
        withdrawals.mark_paid(w2.brand_id, w2.id, "TX-1")  # must be approved first
    withdrawals.approve(w2.brand_id, w2.id)
    paid = withdrawals.mark_paid(w2.brand_id, w2.id, "TX-1")
    assert paid.status == WithdrawalStatus.PAID
    assert wallet.balances(seller) == {"frozen_fen": 0, "available_fen": 40000, "pending_withdrawal_fen": 0,
                                       "withdrawn_fen": 10000 - 100}
    assert ledger.balance(w2.brand_id, AccountKind.WITHDRAWAL_FEES) == 100  # 0.6 % is ¥0.60: the ¥1 minimum
    assert verify().ok


def test_a_suspended_promoter_cannot_withdraw(world):
    from distweb.models import Promoter
    from distweb.models.network import PromoterStatus

    fund(world, 10000)
    db.session.get(Promoter, world["seller"].id).status = PromoterStatus.SUSPENDED
    db.session.commit()
    with pytest.raises(ServiceError) as err:
        withdrawals.request(world["seller"].id, withdrawals.Request(5000, "bank", "卖家", "6222"))
    assert err.value.code == "promoter_inactive"
    assert db.session.query(Withdrawal).count() == 0


def test_scheduled_cycles_start_one_run_per_period(world):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    assert settlement.due_period({"cycle": "manual"}, datetime(2026, 11, 28, 9, tzinfo=tz)) is None
    assert settlement.due_period({"cycle": "daily"}, datetime(2026, 11, 28, 1, tzinfo=tz)) is None
    key, _as_of = settlement.due_period({"cycle": "daily"}, datetime(2026, 11, 28, 9, tzinfo=tz))
    assert key == "D20261128"
    assert settlement.due_period({"cycle": "monthly", "day": 1}, datetime(2026, 11, 28, 9, tzinfo=tz)) is None
    assert settlement.due_period({"cycle": "weekly", "weekday": 5}, datetime(2026, 11, 28, 9, tzinfo=tz))[0] == "W20261128"
    from distweb.services import network

    network.get_settings(world["brand"].id).settlement = {"cycle": "daily"}
    db.session.commit()
    assert settlement.schedule_due_runs() in (0, 1)  # 0 only before 02:00 Shanghai time
    assert settlement.schedule_due_runs() == 0  # never twice for one period


def test_the_run_writes_a_settlement_report_pdf_for_finance(world, app):
    import shutil
    import subprocess

    completed_order(world, 1, days_ago=9)
    run = run_now(world)
    path = settlement.report_path(run)
    assert path.exists() and path.read_bytes()[:4] == b"%PDF"
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout.decode()
        assert "结算报告" in text and "卖家" in text and "¥15.00" in text


def test_inbox_tells_the_promoter_about_unfrozen_commission_and_withdrawals(world, app):
    from tests.conftest import Browser
    from tests.support.factories import PASSWORD

    completed_order(world, 1, days_ago=9)
    run_now(world)
    seller = db.session.get(__import__("distweb.models", fromlist=["Promoter"]).Promoter, world["seller"].id)
    phone = seller.user.phone
    w = withdrawals.request(seller.id, withdrawals.Request(1000, "alipay", "卖家", "a@b"))
    withdrawals.reject(w.brand_id, w.id, "信息有误")
    browser = Browser(app.test_client())
    browser.login(phone, PASSWORD)
    home = browser.get("/promoter/").get_data(as_text=True)
    assert 'class="bell-badge">3<' in home  # the paid order, the unfrozen commission, the rejection
    inbox = browser.get("/promoter/inbox").get_data(as_text=True)
    assert "佣金已解冻 ¥10.00" in inbox and "提现 ¥10.00 被拒绝" in inbox and "已付款" in inbox
    assert 'class="bell-badge"' not in browser.get("/promoter/").get_data(as_text=True)
