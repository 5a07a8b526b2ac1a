"""Withdrawals (提现): requested on the phone, the amount held at once; approved, rejected
(money returned) or marked paid by finance with a transfer reference.

Concurrent requests never overdraw: each request takes the promoter's write lock first
(SELECT … FOR UPDATE on PostgreSQL; a first write on SQLite, which serialises writers),
then reads the available balance from the ledger and writes, all in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from distweb.extensions import db
from distweb.models import Brand, CommissionLine, PayoutAccount, Promoter, Withdrawal
from distweb.models.base import utcnow
from distweb.models.ledger import AccountKind, LineStatus
from distweb.models.network import PromoterStatus
from distweb.models.payouts import WithdrawalStatus
from distweb.money import apply_bp
from distweb.services import ledger, network, reports
from distweb.services.errors import Conflict, NotFound, ServiceError
from distweb.services.tx import transaction

METHODS = ("bank", "alipay", "wechat")
# The rules in docs/API.md's shape (ProgrammeSettings.withdrawal); a missing key reads as its
# default. daily_limit_fen None: no limit; auto_approve_below_fen None: never automatic.
# Edited (validated, audited) through distweb.services.withdrawal_rules.
DEFAULTS = {"min_fen": 1000, "fee_bp": 0, "fee_min_fen": 0, "daily_limit_fen": None,
            "methods": ["alipay", "wechat", "bank"], "auto_approve_below_fen": None}


def rules_for(brand_id: int) -> dict:
    """The brand's rules, all six keys (only those: anything else stored is not a rule)."""
    stored = network.get_settings(brand_id).withdrawal or {}
    rules = {key: stored[key] if key in stored else default for key, default in DEFAULTS.items()}
    rules["methods"] = list(rules["methods"])
    return rules


def fee_for(amount_fen: int, rules: dict) -> int:
    """max(fee_min_fen, amount × fee_bp / 10000 rounded half-up), never more than the amount."""
    return min(amount_fen, max(int(rules["fee_min_fen"]), apply_bp(amount_fen, int(rules["fee_bp"]))))


def lock_promoter(promoter_id: int) -> None:
    """The promoter's write lock, taken first in the transaction: an UPDATE that changes
    nothing holds the promoter's row on PostgreSQL (as SELECT … FOR UPDATE would) and takes
    SQLite's single writer lock, so concurrent requests queue here and each reads the
    balance the one before it left."""
    db.session.execute(update(Promoter).where(Promoter.id == promoter_id).values(status=Promoter.status)
                       .execution_options(synchronize_session=False))


_lock_promoter = lock_promoter


@dataclass
class Request:
    amount_fen: int
    method: str
    account_name: str
    account_no: str


def request(promoter_id: int, data: Request, now: datetime | None = None) -> Withdrawal:
    """``now``: when the request is made (default: the clock), its ``created_at`` and the
    time that picks the brand's calendar day for the daily limit."""
    now = now or utcnow()
    if isinstance(data.amount_fen, bool) or not isinstance(data.amount_fen, int) or data.amount_fen <= 0:
        raise ServiceError("invalid_amount", _l("提现金额必须是正整数（分）。"), "amount_fen")
    db.session.commit()  # start from a fresh transaction: the lock must come before any read
    with transaction():
        _lock_promoter(promoter_id)
        promoter = db.session.get(Promoter, promoter_id)
        db.session.refresh(promoter)
        if promoter.status != PromoterStatus.ACTIVE:
            raise ServiceError("promoter_inactive", _l("账号已停用，暂不能提现。"), "promoter")
        rules = rules_for(promoter.brand_id)
        if data.method not in rules["methods"] or data.method not in METHODS:
            raise ServiceError("invalid_method", _l("不支持该提现方式。"), "method")
        name, number = (data.account_name or "").strip(), (data.account_no or "").strip()
        if not name or not number or len(name) > 60 or len(number) > 60:
            raise ServiceError("account_required", _l("请填写收款账户。"), "account")
        if data.amount_fen < int(rules["min_fen"]):
            raise ServiceError("below_minimum", _l("单笔提现不能少于最低金额。"), "amount_fen")
        available = ledger.balance(promoter.brand_id, AccountKind.PROMOTER_AVAILABLE, promoter.id)
        if data.amount_fen > available:
            raise ServiceError("insufficient_balance", _l("可提现余额不足。"), "amount_fen")
        limit = rules["daily_limit_fen"]
        if limit is not None:
            # The brand's calendar day (its time zone), not UTC's: [local midnight, next midnight).
            day = reports.day_start(db.session.get(Brand, promoter.brand_id).timezone, now)
            next_day = datetime.combine(day.date() + timedelta(days=1), time(), day.tzinfo)
            today = int(db.session.scalar(select(func.coalesce(func.sum(Withdrawal.amount_fen), 0)).where(
                Withdrawal.promoter_id == promoter.id, Withdrawal.created_at >= day,
                Withdrawal.created_at < next_day, Withdrawal.status != WithdrawalStatus.REJECTED)))
            if today + data.amount_fen > int(limit):
                raise ServiceError("over_daily_limit", _l("超过每日提现额度。"), "amount_fen")
        fee = fee_for(data.amount_fen, rules)
        below = rules["auto_approve_below_fen"]
        automatic = below is not None and data.amount_fen < int(below)
        withdrawal = Withdrawal(brand_id=promoter.brand_id, promoter_id=promoter.id, amount_fen=data.amount_fen,
                                fee_fen=fee, net_fen=data.amount_fen - fee, method=data.method, account_name=name,
                                account_no=number, created_at=now,
                                status=WithdrawalStatus.APPROVED if automatic else WithdrawalStatus.REQUESTED,
                                decided_at=now if automatic else None)
        db.session.add(withdrawal)
        db.session.flush()
        ledger.post(ledger.Draft(promoter.brand_id, "withdrawal_hold", reference=f"withdrawal:{withdrawal.id}",
                                 occurred_at=withdrawal.created_at).move(
            data.amount_fen, (AccountKind.PROMOTER_AVAILABLE, promoter.id),
            (AccountKind.PROMOTER_PENDING_WITHDRAWAL, promoter.id)))
    return withdrawal


def get(brand_id: int, withdrawal_id: int, lock: bool = False) -> Withdrawal:
    stmt = select(Withdrawal).where(Withdrawal.id == withdrawal_id)
    if lock:  # locked, and as it is now (not as this session may have read it before the lock)
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    found = db.session.scalars(stmt).first()
    if found is None or found.brand_id != brand_id:
        raise NotFound("withdrawal_not_found", _l("提现申请不存在。"))
    return found


def _notify(w: Withdrawal) -> None:
    from distweb.services import notifications

    notifications.notify_promoters([(w.promoter_id, f"withdrawal_{w.status.value}",
                                     {"amount_fen": w.amount_fen, "withdrawal": w.id})])


def approve(brand_id: int, withdrawal_id: int, actor_id: int | None = None) -> Withdrawal:
    with transaction():
        w = get(brand_id, withdrawal_id, lock=True)
        if w.status != WithdrawalStatus.REQUESTED:
            raise Conflict("invalid_transition", _l("只有待审核的提现可以通过。"), "status")
        w.status, w.decided_at, w.decided_by_id = WithdrawalStatus.APPROVED, utcnow(), actor_id
    _notify(w)
    return w


def reject(brand_id: int, withdrawal_id: int, reason: str | None, actor_id: int | None = None) -> Withdrawal:
    reason = (reason or "").strip()[:200]
    if not reason:
        raise ServiceError("reason_required", _l("请填写原因。"), "reason")
    with transaction():
        w = get(brand_id, withdrawal_id, lock=True)
        if w.status not in (WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED):
            raise Conflict("invalid_transition", _l("该提现已处理，不能拒绝。"), "status")
        _refuse_while_paying_out(w)
        w.status, w.reason, w.decided_at, w.decided_by_id = WithdrawalStatus.REJECTED, reason, utcnow(), actor_id
        ledger.post(ledger.Draft(brand_id, "withdrawal_return", reference=f"withdrawal:{w.id}",
                                 occurred_at=w.decided_at).move(
            w.amount_fen, (AccountKind.PROMOTER_PENDING_WITHDRAWAL, w.promoter_id),
            (AccountKind.PROMOTER_AVAILABLE, w.promoter_id)))
    _notify(w)
    return w


def _refuse_while_paying_out(w: Withdrawal) -> None:
    """A withdrawal a provider is paying (services.provider_payouts) waits for its answer."""
    from distweb.models import ProviderPayout

    if db.session.scalar(select(ProviderPayout.id).where(ProviderPayout.withdrawal_id == w.id,
                                                         ProviderPayout.status == "pending").limit(1)):
        raise Conflict("payout_in_progress", _l("该提现正在通过支付平台打款，请等待结果。"), "status")


def mark_paid(brand_id: int, withdrawal_id: int, reference: str | None, actor_id: int | None = None,
              by_provider: bool = False, before_commit=None) -> Withdrawal:
    """``by_provider``: the provider confirmed its payout (services.provider_payouts);
    otherwise finance paid by hand, which waits while a provider is paying it.
    ``before_commit(w)`` runs last in the transaction that pays it (not when paid already)."""
    reference = (reference or "").strip()[:80]
    if not reference:
        raise ServiceError("reference_required", _l("请填写转账流水号。"), "reference")
    with transaction():
        w = get(brand_id, withdrawal_id, lock=True)
        if w.status == WithdrawalStatus.PAID:
            return w
        if w.status != WithdrawalStatus.APPROVED:
            raise Conflict("invalid_transition", _l("只有已通过的提现可以标记为已打款。"), "status")
        if not by_provider:
            _refuse_while_paying_out(w)
        w.status, w.reference, w.paid_at = WithdrawalStatus.PAID, reference, utcnow()
        draft = ledger.Draft(brand_id, "withdrawal_paid", reference=f"withdrawal:{w.id}", occurred_at=w.paid_at)
        draft.add(AccountKind.PROMOTER_PENDING_WITHDRAWAL, w.promoter_id, -w.amount_fen)
        draft.add(AccountKind.PAID_OUT, w.promoter_id, w.net_fen)
        draft.add(AccountKind.WITHDRAWAL_FEES, 0, w.fee_fen)
        ledger.post(draft)
        db.session.flush()
        _mark_lines_paid_out(w.promoter_id)
        if before_commit is not None:
            before_commit(w)
    _notify(w)
    return w


def _mark_lines_paid_out(promoter_id: int) -> None:
    """Paid withdrawals consume the promoter's oldest settled lines first (settled first,
    then by id): every available line whose running total of what it keeps is covered by
    all the promoter's paid withdrawals together (gross, fees included) is ``paid_out``.
    One UPDATE with a window sum; a line once paid out stays so (a later clawback is taken
    from the wallet)."""
    paid = (select(func.coalesce(func.sum(Withdrawal.amount_fen), 0))
            .where(Withdrawal.promoter_id == promoter_id, Withdrawal.status == WithdrawalStatus.PAID)
            .scalar_subquery())
    kept = CommissionLine.amount_fen - CommissionLine.reversed_fen
    running = (select(CommissionLine.id.label("line_id"), CommissionLine.status.label("status"),
                      func.sum(kept).over(order_by=(CommissionLine.settled_at, CommissionLine.id)).label("running"))
               .where(CommissionLine.promoter_id == promoter_id,
                      CommissionLine.status.in_((LineStatus.AVAILABLE, LineStatus.PAID_OUT)))
               .subquery("running"))
    covered = select(running.c.line_id).where(running.c.status == LineStatus.AVAILABLE, running.c.running <= paid)
    db.session.execute(update(CommissionLine).where(CommissionLine.id.in_(covered))
                       .values(status=LineStatus.PAID_OUT).execution_options(synchronize_session=False))


def for_promoter(promoter_id: int, limit: int = 30) -> list[Withdrawal]:
    return list(db.session.scalars(select(Withdrawal).where(Withdrawal.promoter_id == promoter_id)
                                   .order_by(Withdrawal.id.desc()).limit(limit)))


def for_brand(brand_id: int, status: str | None = None, limit: int = 200) -> list[Withdrawal]:
    from sqlalchemy.orm import joinedload

    stmt = (select(Withdrawal).options(joinedload(Withdrawal.promoter).joinedload(Promoter.user))
            .where(Withdrawal.brand_id == brand_id).order_by(Withdrawal.id.desc()).limit(limit))
    if status:
        try:
            stmt = stmt.where(Withdrawal.status == WithdrawalStatus(status))
        except ValueError:
            pass
    return list(db.session.scalars(stmt))


def payout_account(promoter_id: int) -> PayoutAccount | None:
    return db.session.get(PayoutAccount, promoter_id)


def save_payout_account(user, promoter_id: int, password: str, method: str, name: str, number: str) -> PayoutAccount:
    """Changing where money goes asks for the password again."""
    from distweb.services import accounts

    if accounts.authenticate(user.phone or user.email, password or "") is None:
        raise ServiceError("wrong_password", _l("密码不正确。"), "password")
    name, number = (name or "").strip(), (number or "").strip()
    if method not in METHODS:
        raise ServiceError("invalid_method", _l("不支持该提现方式。"), "method")
    if not name or not number or len(name) > 60 or len(number) > 60:
        raise ServiceError("account_required", _l("请填写收款账户。"), "account_no")
    with transaction():
        row = db.session.get(PayoutAccount, promoter_id) or PayoutAccount(promoter_id=promoter_id)
        row.method, row.account_name, row.account_no = method, name, number
        row.wechat_bound_at = None  # typed in: not an openid WeChat vouched for
        db.session.add(row)
    return row


def check_wechat_binding(user, password: str, name: str) -> str:
    """Before WeChat's OAuth binds the account payouts go to: the password again (as for any
    change of where money goes) and the payee's real name (商家转账 checks it from 0.30 yuan).
    Returns the name as it will be saved."""
    from distweb.services import accounts

    if accounts.authenticate(user.phone or user.email, password or "") is None:
        raise ServiceError("wrong_password", _l("密码不正确。"), "password")
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise ServiceError("account_required", _l("请填写微信实名认证的姓名。"), "account_name")
    return name


def bind_wechat(promoter_id: int, name: str, openid: str) -> PayoutAccount:
    """The promoter's payout account becomes the WeChat user WeChat's OAuth named (their
    openid under the brand's AppID): the account 商家转账 pays."""
    from distweb.services.provider_payouts import OPENID

    name = (name or "").strip()
    if not name or len(name) > 60:
        raise ServiceError("account_required", _l("请填写微信实名认证的姓名。"), "account_name")
    if not OPENID.match(openid or ""):
        raise ServiceError("invalid_openid", _l("微信授权没有返回有效的用户标识，请重试。"))
    with transaction():
        row = db.session.get(PayoutAccount, promoter_id) or PayoutAccount(promoter_id=promoter_id)
        row.method, row.account_name, row.account_no, row.wechat_bound_at = "wechat", name, openid, utcnow()
        db.session.add(row)
    return row
