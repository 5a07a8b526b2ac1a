"""Paying approved withdrawals through the providers instead of by hand: WeChat Pay
商家转账到零钱 for the 微信 method, Alipay 单笔转账 for the 支付宝 method (bank transfers stay
manual). The withdrawal becomes paid only on the provider's confirmation (its answer, its
notification, or the sweep's query), through ``withdrawals.mark_paid`` — the same ledger
posting as a manual payout; a refusal leaves it approved with the provider's reason, to pay
again or reject. Each attempt has its own out_no; a repeat with it is the same transfer at
the provider, so an unanswered call is asked about again, never sent twice as new money."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from distweb.extensions import db
from distweb.models import Brand, Job, PayoutBatch, Promoter, ProviderPayout, Withdrawal
from distweb.models.base import utcnow
from distweb.models.payouts import WithdrawalStatus
from distweb.services import online_pay, withdrawals
from distweb.services.errors import Conflict, NotFound, ServiceError
from distweb.services.payment_providers import Notice, ProviderError, TransferRequest
from distweb.services.tx import transaction

log = logging.getLogger(__name__)

PROVIDER_FOR_METHOD = {"alipay": "alipay", "wechat": "wechat"}
OPENID = re.compile(r"^o[A-Za-z0-9_-]{20,40}$")
RETRY_AFTER = timedelta(minutes=5)
# WeChat 商家转账's fail_reason codes a payee meets, in words (the code kept after them).
FAIL_REASONS = {"OVERDUE_CLOSE": "收款人超过 24 小时未确认收款，转账已关闭",
                "TRANSFER_SCENE_UNAVAILABLE": "转账场景不可用", "NAME_NOT_CORRECT": "收款人姓名与微信实名不符",
                "ACCOUNT_NOT_EXIST": "收款微信账户不存在", "REAL_NAME_CHECK_FAIL": "收款人未实名认证"}
# 撤销转账: a pending payout whose cancel was asked (``cancel_requested_at``) shows CANCELING
# until WeChat confirms CANCELLED (then it fails with CANCELLED, the withdrawal approved
# again) or the payee's confirmation got there first (then it pays).
CANCELING = _l("撤销中")
CANCELLED = "已撤销"


def for_withdrawals(ids: list[int]) -> dict[int, ProviderPayout]:
    """The latest attempt of each withdrawal (for the manager's list)."""
    if not ids:
        return {}
    latest: dict[int, ProviderPayout] = {}
    for payout in db.session.scalars(select(ProviderPayout).where(ProviderPayout.withdrawal_id.in_(ids))
                                     .order_by(ProviderPayout.id)):
        latest[payout.withdrawal_id] = payout
    return latest


def payable(brand_id: int, withdrawal: Withdrawal, enabled: list[str] | None = None) -> str | None:
    """The provider that can pay this withdrawal now, or None (``enabled``: the brand's
    enabled providers, when the caller has them)."""
    provider = PROVIDER_FOR_METHOD.get(withdrawal.method)
    if withdrawal.status != WithdrawalStatus.APPROVED or provider is None:
        return None
    if provider == "wechat" and not OPENID.match(withdrawal.account_no or ""):
        return None
    return provider if provider in (online_pay.enabled(brand_id) if enabled is None else enabled) else None


def start(brand_id: int, withdrawal_id: int, notify_base: str, actor_id: int | None = None,
          batch_id: int | None = None) -> ProviderPayout:
    withdrawal = withdrawals.get(brand_id, withdrawal_id)
    provider_name = PROVIDER_FOR_METHOD.get(withdrawal.method)
    if withdrawal.status != WithdrawalStatus.APPROVED:
        raise Conflict("invalid_transition", _l("只有已通过的提现可以打款。"), "status")
    if provider_name is None or provider_name not in online_pay.enabled(brand_id):
        raise ServiceError("payout_unavailable", _l("该提现方式未开通在线打款，请线下转账后标记已打款。"))
    if provider_name == "wechat" and not OPENID.match(withdrawal.account_no or ""):
        # 商家转账 pays an openid under the brand's AppID; a WeChat id or phone cannot be paid.
        raise ServiceError("payee_not_openid", _l("该微信收款账户不是本公众号下的 openid，请线下转账后标记已打款。"))
    with transaction():
        db.session.execute(select(Withdrawal.id).where(Withdrawal.id == withdrawal.id).with_for_update())
        if db.session.scalar(select(ProviderPayout.id).where(ProviderPayout.withdrawal_id == withdrawal.id,
                                                             ProviderPayout.status == "pending")):
            raise Conflict("payout_in_progress", _l("该提现正在打款中。"))
        payout = ProviderPayout(brand_id=brand_id, withdrawal_id=withdrawal.id, provider=provider_name,
                                out_no=f"W{withdrawal.id}{secrets.token_hex(5).upper()}", amount_fen=withdrawal.net_fen,
                                status="pending", created_at=utcnow(), batch_id=batch_id)
        db.session.add(payout)
    brand = db.session.get(Brand, brand_id)
    request = TransferRequest(payout.out_no, payout.amount_fen, withdrawal.account_no, withdrawal.account_name,
                              f"{brand.short_name or brand.name}佣金提现", online_pay.notify_url(notify_base, provider_name))
    try:
        notice = online_pay.provider_for(brand_id, provider_name, require_enabled=False).transfer(request)
    except ProviderError as err:
        if err.code == "timeout":
            log.warning("payout %s: no answer from %s; left pending", payout.out_no, provider_name)
            return payout
        notice = Notice("payout", payout.out_no, "failed", reason=err.reason)
    notice.reference = payout.out_no
    if notice.status == "pending" and notice.package:
        # 用户确认模式: the bill waits for the payee to confirm it on their phone.
        with transaction():
            db.session.execute(update(ProviderPayout).where(ProviderPayout.id == payout.id)
                               .values(package_info=notice.package[:1024]))
        from distweb.services import notifications

        notifications.notify_promoters([(withdrawal.promoter_id, "withdrawal_confirm",
                                         {"amount_fen": payout.amount_fen, "withdrawal": withdrawal.id})])
    apply(payout, notice)
    return payout


def start_all(brand_id: int, notify_base: str, actor_id: int | None = None) -> dict:
    """批量打款: every approved withdrawal a provider can pay and none is paying yet."""
    rows = db.session.scalars(select(Withdrawal).where(Withdrawal.brand_id == brand_id,
                                                       Withdrawal.status == WithdrawalStatus.APPROVED)
                              .order_by(Withdrawal.id)).all()
    pending = {p.withdrawal_id for p in for_withdrawals([w.id for w in rows]).values() if p.status == "pending"}
    enabled = online_pay.enabled(brand_id)
    counts = {"succeeded": 0, "pending": 0, "failed": 0}
    for withdrawal in rows:
        if withdrawal.id in pending or payable(brand_id, withdrawal, enabled) is None:
            continue
        try:
            payout = start(brand_id, withdrawal.id, notify_base, actor_id)
        except ServiceError:
            db.session.rollback()
            continue
        counts[payout.status] += 1
    return counts


def apply_notice(brand: Brand, notice: Notice) -> str:
    payout = db.session.scalars(select(ProviderPayout).where(ProviderPayout.out_no == notice.reference,
                                                             ProviderPayout.brand_id == brand.id)).first()
    if payout is None:
        raise NotFound("payout_not_found", _l("打款记录不存在。"))
    return apply(payout, notice)


def apply(payout: ProviderPayout, notice: Notice) -> str:
    """The provider's word on a payout, applied once: succeeded pays the withdrawal (the
    ledger's withdrawal_paid posting, by ``withdrawals.mark_paid``), failed keeps it approved
    with the reason."""
    if notice.status == "pending":
        return "pending"
    if notice.amount_fen is not None and notice.amount_fen != payout.amount_fen:
        raise ServiceError("amount_mismatch", _l("打款金额与提现不一致。"))
    if payout.status != "pending":
        return "duplicate"
    if notice.status == "failed":
        if notice.reason == "CANCELLED":
            notice.reason = CANCELLED
        elif notice.reason in FAIL_REASONS:
            notice.reason = f"{FAIL_REASONS[notice.reason]}（{notice.reason}）"
        with transaction():
            db.session.execute(update(ProviderPayout).where(ProviderPayout.id == payout.id,
                                                            ProviderPayout.status == "pending")
                               .values(status="failed", failure=(notice.reason or "")[:200] or None,
                                       completed_at=utcnow(), package_info=None))
        log.info("payout %s refused by %s", payout.out_no, payout.provider)
        return "payout_failed"
    reference = f"{payout.provider}:{notice.provider_id or payout.out_no}"[:80]
    marked = []

    def record(_withdrawal):  # in the transaction that pays the withdrawal: both or neither
        db.session.execute(update(ProviderPayout).where(ProviderPayout.id == payout.id).values(
            status="succeeded", provider_ref=(notice.provider_id or "")[:64] or None, completed_at=utcnow(),
            package_info=None, failure=None))
        marked.append(True)

    withdrawals.mark_paid(payout.brand_id, payout.withdrawal_id, reference, by_provider=True, before_commit=record)
    if not marked:
        # Paid already: this very confirmation, applied meanwhile by another request.
        with transaction():
            db.session.execute(update(ProviderPayout).where(ProviderPayout.id == payout.id,
                                                            ProviderPayout.status == "pending").values(
                status="succeeded", provider_ref=(notice.provider_id or "")[:64] or None, completed_at=utcnow(),
                package_info=None, failure=None))
        return "duplicate"
    return "paid_out"


def cancelling(payout: ProviderPayout | None) -> bool:
    """撤销中: WeChat accepted the cancel of this payout and has not confirmed it yet."""
    return payout is not None and payout.status == "pending" and payout.cancel_requested_at is not None


def cancellable(payout: ProviderPayout | None) -> bool:
    """A WeChat payout waiting for its payee (用户确认模式), or one being cancelled (asked again)."""
    return (payout is not None and payout.provider == "wechat" and payout.status == "pending"
            and bool(payout.package_info or payout.cancel_requested_at is not None))


def cancel(brand_id: int, withdrawal_id: int, actor_id: int | None = None) -> ProviderPayout:
    """撤销转账 of the withdrawal's WeChat payout that waits for the payee. The payout is
    marked CANCELING under the withdrawal's lock before WeChat is asked, so a second click
    (or a retry) first asks what became of the bill, and repeats the cancel of that same
    bill only if WeChat shows none under way. The withdrawal is approved again only when
    WeChat says CANCELLED; if the payee confirmed first, it is paid."""
    withdrawal = withdrawals.get(brand_id, withdrawal_id)
    try:
        provider = online_pay.provider_for(brand_id, "wechat", require_enabled=False)
    except (ProviderError, NotFound):
        raise ServiceError("payout_unavailable", _l("微信支付设置不可用，暂时无法撤销转账。")) from None
    with transaction():
        db.session.execute(select(Withdrawal.id).where(Withdrawal.id == withdrawal.id).with_for_update())
        payout = db.session.scalars(select(ProviderPayout).where(
            ProviderPayout.withdrawal_id == withdrawal.id, ProviderPayout.status == "pending")
            .with_for_update().execution_options(populate_existing=True)).first()
        if not cancellable(payout):
            raise Conflict("nothing_to_cancel", _l("该提现没有等待收款人确认的微信转账，无法撤销。"), "status")
        asked_before, package = cancelling(payout), payout.package_info
        if not asked_before:
            # The payee's page stops offering the confirmation from now on.
            payout.cancel_requested_at, payout.package_info = utcnow(), None
    log.info("payout %s: cancel %s by user %s", payout.out_no, "re-checked" if asked_before else "requested",
             actor_id)
    try:
        notice = provider.transfer_query(payout.out_no) if asked_before else None
        if notice is None or _waiting(notice):
            # The cancel names the bill by its out_bill_no: sent again (the first one lost, or
            # still on its way) it is the same cancel at WeChat, answered with the bill's state.
            notice = provider.transfer_cancel(payout.out_no)
    except ProviderError as err:
        if err.code == "timeout":
            return payout  # 撤销中 until a query (the next click, or the sweep) tells
        refusal = err.reason
        try:
            # Refused: most often because the payee confirmed meanwhile. What is the bill now?
            notice = provider.transfer_query(payout.out_no)
        except ProviderError:
            notice = None
        if notice is None or _waiting(notice):
            # The cancel did not take: the bill still waits for the payee.
            _uncancel(payout, package or (notice.package if notice else None))
            raise ServiceError("cancel_refused", _l("微信支付拒绝撤销：%(reason)s", reason=refusal)) from None
    notice.reference = payout.out_no
    apply(payout, notice)
    db.session.refresh(payout)
    return payout


def _waiting(notice: Notice) -> bool:
    """The bill still waits for its payee: not final, and no cancel under way."""
    return notice.status == "pending" and notice.reason != "CANCELING"


def _uncancel(payout: ProviderPayout, package: str | None) -> None:
    with transaction():
        db.session.execute(update(ProviderPayout).where(ProviderPayout.id == payout.id,
                                                        ProviderPayout.status == "pending")
                           .values(cancel_requested_at=None, package_info=package))
    db.session.refresh(payout)


def retry_pending(now=None, limit: int = 100) -> int:
    """Payouts still pending after ``RETRY_AFTER`` are asked about (by their out_no) and
    settled by the answer. Safe to run twice."""
    now = now or utcnow()
    due = db.session.scalars(select(ProviderPayout).where(
        ProviderPayout.status == "pending", ProviderPayout.created_at < now - RETRY_AFTER)
        .order_by(ProviderPayout.id).limit(limit)).all()
    settled = 0
    for payout in due:
        try:
            notice = online_pay.provider_for(payout.brand_id, payout.provider,
                                             require_enabled=False).transfer_query(payout.out_no)
            notice.reference = payout.out_no
            if apply(payout, notice) in ("paid_out", "payout_failed"):
                settled += 1
        except (ProviderError, ServiceError) as err:
            db.session.rollback()
            log.warning("payout %s still pending: %s", payout.out_no, getattr(err, "code", ""))
    return settled


# ---------------------------------------------------------------- 批量打款 of a settlement run


def run_withdrawals(brand_id: int, run_id: int) -> list[Withdrawal]:
    """The withdrawals of a settlement run: requested after the run made money available
    (it finished) and before the brand's next run finished — the payout period the run
    opens. Scoped to the brand; a run not finished yet has none."""
    from distweb.models import SettlementRun
    from distweb.models.payouts import RunStatus
    from distweb.services import settlement

    run = settlement.get_run(brand_id, run_id)
    if run.status != RunStatus.SUCCEEDED or run.finished_at is None:
        return []
    next_finish = db.session.scalar(select(SettlementRun.finished_at).where(
        SettlementRun.brand_id == brand_id, SettlementRun.status == RunStatus.SUCCEEDED,
        SettlementRun.finished_at > run.finished_at).order_by(SettlementRun.finished_at).limit(1))
    stmt = (select(Withdrawal).options(joinedload(Withdrawal.promoter).joinedload(Promoter.user))
            .where(Withdrawal.brand_id == brand_id, Withdrawal.created_at >= run.finished_at)
            .order_by(Withdrawal.id))
    if next_finish is not None:
        stmt = stmt.where(Withdrawal.created_at < next_finish)
    return list(db.session.scalars(stmt))


def latest_batch(brand_id: int, run_id: int) -> PayoutBatch | None:
    return db.session.scalars(select(PayoutBatch).where(PayoutBatch.brand_id == brand_id,
                                                        PayoutBatch.settlement_run_id == run_id)
                              .order_by(PayoutBatch.id.desc()).limit(1)).first()


def start_batch(brand_id: int, run_id: int, notify_base: str, actor_id: int | None = None) -> PayoutBatch:
    """Queue the 批量打款 of a run (one job); refused while the run's last batch is still
    going, or when no withdrawal of the run can be paid online now."""
    from distweb.models.payouts import RunStatus
    from distweb.services import jobs, settlement

    run = settlement.get_run(brand_id, run_id)
    if run.status != RunStatus.SUCCEEDED:
        raise Conflict("run_not_finished", _l("结算完成后才能批量打款。"))
    previous = latest_batch(brand_id, run.id)
    if previous is not None and previous.job_id is not None:
        job = db.session.get(Job, previous.job_id)
        if job is not None and not job.done:
            raise Conflict("batch_in_progress", _l("该结算的批量打款正在进行中。"))
    enabled = online_pay.enabled(brand_id)
    if not enabled:
        raise ServiceError("payout_unavailable", _l("尚未开通在线打款（请先在支付设置中启用微信支付或支付宝）。"))
    if not any(payable(brand_id, w, enabled) for w in run_withdrawals(brand_id, run.id)):
        raise ServiceError("nothing_to_pay", _l("本期没有可在线打款的已通过提现。"))
    made: list[PayoutBatch] = []

    def link(job: Job) -> None:
        batch = PayoutBatch(brand_id=brand_id, settlement_run_id=run.id, job_id=job.id, counts={},
                            notify_base=notify_base[:300], created_by_id=actor_id, created_at=utcnow())
        db.session.add(batch)
        made.append(batch)

    jobs.create_job("payout_batch", brand_id=brand_id, created_by_id=actor_id, before_commit=link)
    return made[0]


def pay_batch(job_id: int, progress=None) -> dict:
    """The batch job's work: each approved withdrawal of the run that a provider can pay and
    that no payout is paying yet gets its own payout (its own out_no), one by one. Run again
    (a retried job, a second click) it pays only what is still approved and not paying: a
    withdrawal paid or paying is skipped, one refused before is tried anew."""
    batch = db.session.scalars(select(PayoutBatch).where(PayoutBatch.job_id == job_id)).first()
    if batch is None:
        return {"succeeded": "0", "pending": "0", "failed": "0", "skipped": "0"}
    rows = [w for w in run_withdrawals(batch.brand_id, batch.settlement_run_id)
            if w.status == WithdrawalStatus.APPROVED]
    enabled = online_pay.enabled(batch.brand_id)
    counts = {"succeeded": 0, "pending": 0, "failed": 0, "skipped": 0}
    for i, withdrawal in enumerate(rows):
        if progress is not None:
            progress(int(100 * i / len(rows)), "payouts")
        latest = for_withdrawals([withdrawal.id]).get(withdrawal.id)
        if (latest is not None and latest.status == "pending") or payable(batch.brand_id, withdrawal, enabled) is None:
            counts["skipped"] += 1
            continue
        try:
            payout = start(batch.brand_id, withdrawal.id, batch.notify_base, batch.created_by_id, batch_id=batch.id)
        except ServiceError as err:
            db.session.rollback()
            log.info("batch %s: withdrawal %s not paid: %s", batch.id, withdrawal.id, err.code)
            counts["skipped"] += 1
            continue
        counts[payout.status] += 1
    with transaction():
        db.session.execute(update(PayoutBatch).where(PayoutBatch.id == batch.id).values(counts=counts))
    return {key: str(value) for key, value in counts.items()}


@dataclass
class RunPayoutRow:
    """One withdrawal of a run as the run's page shows it: ``state`` is paid, paying,
    failed (``reason`` the provider's), payable (an online payout can start), manual (bank,
    or a WeChat account not bound), or requested / rejected."""

    withdrawal: Withdrawal
    payout: ProviderPayout | None
    state: str
    reason: str | None = None


def run_rows(brand_id: int, run_id: int) -> list[RunPayoutRow]:
    rows = run_withdrawals(brand_id, run_id)
    latest = for_withdrawals([w.id for w in rows])
    enabled = online_pay.enabled(brand_id)
    out = []
    for w in rows:
        payout = latest.get(w.id)
        if w.status == WithdrawalStatus.PAID:
            out.append(RunPayoutRow(w, payout, "paid"))
        elif w.status != WithdrawalStatus.APPROVED:
            out.append(RunPayoutRow(w, payout, w.status.value, w.reason))
        elif payout is not None and payout.status == "pending":
            out.append(RunPayoutRow(w, payout, "paying", CANCELING if cancelling(payout) else None))
        elif payout is not None and payout.status == "failed":
            out.append(RunPayoutRow(w, payout, "failed", payout.failure))
        else:
            out.append(RunPayoutRow(w, payout, "payable" if payable(brand_id, w, enabled) else "manual"))
    return out


# ---------------------------------------------------------------- the payee's side


@dataclass
class PayeeView:
    """A withdrawal as its promoter sees it: ``state`` requested / approved / paying / paid
    / rejected; ``reason`` why the last online payout failed (or the rejection's; 撤销中
    while paying: the brand is cancelling the transfer);
    ``package`` set while WeChat waits for the payee to confirm (用户确认模式)."""

    withdrawal: Withdrawal
    payout: ProviderPayout | None
    state: str
    reason: str | None = None
    package: str | None = None


def payee_views(promoter_id: int, rows: list[Withdrawal]) -> list[PayeeView]:
    """Only the promoter's own withdrawals (others' are dropped)."""
    rows = [w for w in rows if w.promoter_id == promoter_id]
    latest = for_withdrawals([w.id for w in rows])
    out = []
    for w in rows:
        payout = latest.get(w.id)
        if w.status == WithdrawalStatus.APPROVED and payout is not None and payout.status == "pending":
            out.append(PayeeView(w, payout, "paying", reason=CANCELING if cancelling(payout) else None,
                                 package=payout.package_info))
        elif w.status == WithdrawalStatus.APPROVED and payout is not None and payout.status == "failed":
            out.append(PayeeView(w, payout, "approved", reason=payout.failure))
        else:
            out.append(PayeeView(w, payout, w.status.value, reason=w.reason))
    return out


def payee_view(promoter_id: int, withdrawal_id: int) -> PayeeView:
    found = db.session.get(Withdrawal, withdrawal_id)
    if found is None or found.promoter_id != promoter_id:
        raise NotFound("withdrawal_not_found", _l("提现申请不存在。"))
    return payee_views(promoter_id, [found])[0]


def confirm_params(view: PayeeView) -> dict | None:
    """What the payee's phone hands to WeChat's requestMerchantTransfer, or None when
    nothing waits for the payee's confirmation."""
    if view.state != "paying" or not view.package or view.payout.provider != "wechat":
        return None
    provider = online_pay.provider_for(view.withdrawal.brand_id, "wechat", require_enabled=False)
    return provider.confirm_params(view.package)
