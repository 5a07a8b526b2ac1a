"""实时分账 of orders paid online: after the freeze window (the order completed and its
commission settled by the settlement run, or ``FALLBACK_DAYS`` after completion for an
order with no commission), one split per order goes to the provider's 分账 (WeChat Pay
profitsharing, Alipay trade.order.settle) with its own out_no, carrying every receiver:

- on consignment, the suppliers' shares the ledger computed — what the order left owing
  each supplier (``SUPPLIER_PAYABLE`` entries of the order: supply cost, less what funded
  uplines and what refunds took back);
- where the brand enables commission 分账 (``PaymentOptions.commission_split``), on
  consignment and promotion orders alike, what each promoter's settled lines of the order
  keep, to the promoter's own payout account for the provider (a WeChat openid under the
  brand's AppID, an Alipay login id or 2088 user id). A promoter without one, or whose
  wallet no longer holds the amount (withdrawn meanwhile), keeps that money in the wallet
  for the manual flow, and the split records why (``MANUAL_REASONS``).

Money in the ledger (``services.ledger`` only): a promoter's part is held when the split is
made (available → in transit, so it cannot also be withdrawn); the provider's confirmation
moves the suppliers' shares out of what the brand owes them (SUPPLIER_PAYABLE →
BRAND_CLEARING) and the promoters' parts out (in transit → PAID_OUT, their lines
``split_paid``: paid, by the split); a split the provider says failed gives the holds back.
A refusal or no answer is tried again (``MAX_ATTEMPTS``, spaced; a split sent before is
asked about first — WeChat 查询分账结果, Alipay 交易分账查询 — and sent again, under the
same out_no, only when the provider does not know it), then shown failed to the manager,
who may retry it under a new out_no (the provider answers a finally failed one with the
same failure; the earlier ones kept in ``earlier_out_nos``). A split that failed without
the provider's word (timeouts, errors: ``completed_at`` unset, see ``unresolved``) keeps
the holds and is asked about again until the provider says: paid, failed, or unknown to
it (only then are the holds given back). A receiver is bound at the
provider the first time a split uses it (WeChat 添加分账接收方, Alipay 分账关系绑定) and
remembered (``RoyaltyBinding``). WeChat's 分账动账通知 (PROFITSHARING.*) settle a split
once, like its answer. Refunds of split orders take the split back: ``split_returns`` —
a refund made while the split's outcome is open asks the provider first (``ask``), and
when it cannot tell, the refund's return waits for the split and is made once it pays."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from distweb.extensions import db
from distweb.models import (
    Brand,
    CommissionLine,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Order,
    Payment,
    PaymentOptions,
    ProfitSplit,
    RoyaltyBinding,
    SplitReceiver,
    Supplier,
)
from distweb.models.base import utcnow
from distweb.models.ledger import AccountKind, LineStatus
from distweb.models.order import OrderMode, OrderStatus
from distweb.services import ledger, online_pay, withdrawals
from distweb.services.errors import NotFound, ServiceError
from distweb.services.payment_providers import Notice, ProviderError, SplitRequest
from distweb.services.tx import transaction

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
RETRY_SPACING = timedelta(minutes=10)
FALLBACK_DAYS = 7  # an order without commission lines: the default plan's freeze window
OPENID = re.compile(r"^o[A-Za-z0-9_-]{20,40}$")
ALIPAY_USER_ID = re.compile(r"^2088\d{12}$")
# Why a promoter's commission stays in the wallet for the manual flow (a split's part's ``manual``).
MANUAL_REASONS = {
    "no_account": _l("推客未设置该支付方式的收款账户，佣金留在钱包中由推客提现"),
    "not_openid": _l("推客的微信收款账户不是本公众号下的 openid，佣金留在钱包中由推客提现"),
    "balance": _l("推客钱包余额已提现，佣金按提现流程结算"),
}


def receivers(brand_id: int) -> dict[tuple[int, str], SplitReceiver]:
    return {(r.supplier_id, r.provider): r for r in db.session.scalars(
        select(SplitReceiver).where(SplitReceiver.brand_id == brand_id))}


def save_receiver(brand_id: int, supplier_id: int, provider: str, account: str | None,
                  name: str | None = None) -> None:
    """A supplier's receiver for a provider (empty: none) and the name the provider checks
    it against (a merchant's full registered name, or the account holder's real name)."""
    supplier = db.session.get(Supplier, supplier_id)
    if supplier is None or supplier.brand_id != brand_id or provider not in online_pay.PROVIDER_LABELS:
        raise NotFound("supplier_not_found", _l("供货商不存在。"))
    account, name = (account or "").strip(), (name or "").strip()
    if len(account) > 100 or len(name) > 60:
        raise ServiceError("too_long", _l("内容过长。"), "account")
    with transaction():
        row = db.session.scalars(select(SplitReceiver).where(
            SplitReceiver.brand_id == brand_id, SplitReceiver.supplier_id == supplier_id,
            SplitReceiver.provider == provider)).first()
        if not account:
            if row is not None:
                db.session.delete(row)
            return
        if row is None:
            row = SplitReceiver(brand_id=brand_id, supplier_id=supplier_id, provider=provider, account=account)
            db.session.add(row)
        row.account, row.name = account, name or None


def account_type(provider: str, account: str) -> str:
    """The receiver's type in the provider's terms."""
    if provider == "wechat":
        return "MERCHANT_ID" if account.isdigit() else "PERSONAL_OPENID"
    return "userId" if ALIPAY_USER_ID.match(account) else "loginName"


def promoter_account(provider: str, promoter_id: int) -> tuple[str | None, str | None]:
    """(the promoter's receiver account for ``provider``, or None and why not): its payout
    account, when it is for this provider (and, for WeChat, an openid)."""
    found = withdrawals.payout_account(promoter_id)
    if found is None or found.method != provider or not (found.account_no or "").strip():
        return None, "no_account"
    if provider == "wechat" and not OPENID.match(found.account_no):
        return None, "not_openid"
    return found.account_no.strip(), None


def commission_split(brand_id: int) -> bool:
    return online_pay.commission_split(brand_id)


def wants_split(order: Order, provider: str) -> bool:
    """The payment should be made splittable (WeChat freezes it until the split): a
    consignment order whose every supplier has a receiver for ``provider``, or any order
    with a seller in a brand that splits commission."""
    if order.mode == OrderMode.CONSIGNMENT and _suppliers_ready(order, provider):
        return True
    return order.mode in (OrderMode.CONSIGNMENT, OrderMode.PROMOTION) and order.promoter_id is not None \
        and commission_split(order.brand_id)


def _suppliers_ready(order: Order, provider: str) -> bool:
    if order.mode != OrderMode.CONSIGNMENT:
        return False
    suppliers = {item.product.supplier_id for item in order.items if item.product is not None}
    if not suppliers or None in suppliers:
        return False
    known = receivers(order.brand_id)
    return all((s, provider) in known for s in suppliers)


def supplier_shares(order_id: int) -> dict[int, int]:
    """What the order left owing each supplier, from the ledger."""
    rows = db.session.execute(
        select(LedgerAccount.owner_id, func.sum(LedgerEntry.amount_fen))
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerTransaction.order_id == order_id, LedgerAccount.kind == AccountKind.SUPPLIER_PAYABLE)
        .group_by(LedgerAccount.owner_id)).all()
    return {owner: int(total) for owner, total in rows if total}


def commission_shares(order_id: int) -> dict[int, tuple[int, list[int]]]:
    """What each promoter's settled lines of the order keep: {promoter: (fen, line ids)}."""
    found: dict[int, tuple[int, list[int]]] = {}
    for line in db.session.scalars(select(CommissionLine).where(
            CommissionLine.order_id == order_id, CommissionLine.status == LineStatus.AVAILABLE)
            .order_by(CommissionLine.id)):
        if line.kept_fen > 0:
            fen, ids = found.get(line.promoter_id, (0, []))
            found[line.promoter_id] = (fen + line.kept_fen, [*ids, line.id])
    return found


def _due_orders(now, limit: int) -> list[tuple[Order, Payment]]:
    frozen = select(CommissionLine.id).where(CommissionLine.order_id == Order.id,
                                             CommissionLine.status == LineStatus.FROZEN).exists()
    settled = select(CommissionLine.id).where(CommissionLine.order_id == Order.id).exists()
    done = select(ProfitSplit.id).where(ProfitSplit.order_id == Order.id).exists()
    splitting = select(PaymentOptions.brand_id).where(PaymentOptions.commission_split.is_(True))
    modes = (Order.mode == OrderMode.CONSIGNMENT) | ((Order.mode == OrderMode.PROMOTION) & Order.brand_id.in_(splitting))
    return list(db.session.execute(
        select(Order, Payment).join(Payment, Payment.order_id == Order.id)
        .where(Payment.status == "paid", Payment.failure.is_(None), modes,
               Order.status == OrderStatus.COMPLETED, ~frozen, ~done,
               settled | (Order.completed_at < now - timedelta(days=FALLBACK_DAYS)))
        .order_by(Order.id).limit(limit)).all())


def parts_for(order: Order, provider: str) -> list[dict]:
    """The split's receivers: the suppliers' shares (when every supplier has a receiver)
    and, where the brand splits commission, each promoter's (``manual``: why it stays)."""
    parts = []
    if _suppliers_ready(order, provider):
        known = receivers(order.brand_id)
        for supplier_id, fen in sorted(supplier_shares(order.id).items()):
            if fen > 0 and (supplier_id, provider) in known:
                account = known[(supplier_id, provider)].account
                parts.append({"kind": "supplier", "supplier_id": supplier_id, "account": account,
                              "account_type": account_type(provider, account), "amount_fen": fen})
    if commission_split(order.brand_id):
        for promoter_id, (fen, line_ids) in sorted(commission_shares(order.id).items()):
            account, why = promoter_account(provider, promoter_id)
            part = {"kind": "promoter", "promoter_id": promoter_id, "line_ids": line_ids, "account": account,
                    "account_type": account_type(provider, account) if account else None, "amount_fen": fen}
            if why:
                part["manual"] = why
            parts.append(part)
    return parts


def _hold(brand_id: int, parts: list[dict], reference: str, order_id: int, now) -> None:
    """In the caller's transaction: each promoter's part leaves the wallet for the split
    (available → in transit), or, when the wallet no longer holds it, stays manual."""
    draft = ledger.Draft(brand_id, "commission_split_hold", order_id=order_id, reference=reference, occurred_at=now)
    for part in parts:
        if part["kind"] != "promoter" or part.get("manual"):
            continue
        promoter_id, fen = int(part["promoter_id"]), int(part["amount_fen"])
        withdrawals.lock_promoter(promoter_id)
        if ledger.balance(brand_id, AccountKind.PROMOTER_AVAILABLE, promoter_id) < fen:
            part["manual"] = "balance"
            continue
        draft.move(fen, (AccountKind.PROMOTER_AVAILABLE, promoter_id), (AccountKind.WITHDRAWALS_IN_TRANSIT, promoter_id))
    if draft.postings:
        ledger.post(draft)


def _release(row: ProfitSplit, now) -> None:
    """A split that finally failed gives its promoters' holds back to their wallets (but
    not a part the provider paid)."""
    draft = ledger.Draft(row.brand_id, "commission_split_return", order_id=row.order_id, reference=f"split:{row.id}",
                         occurred_at=now)
    for part in sent_parts(row):
        if part["kind"] == "promoter" and part.get("result") != "SUCCESS":
            draft.move(int(part["amount_fen"]), (AccountKind.WITHDRAWALS_IN_TRANSIT, int(part["promoter_id"])),
                       (AccountKind.PROMOTER_AVAILABLE, int(part["promoter_id"])))
    if draft.postings:
        ledger.post(draft)


def unresolved(split: ProfitSplit) -> bool:
    """Failed without the provider's word (the last tries timed out or errored): the
    provider may still have made it, so its holds stay until a query tells."""
    return split.status == "failed" and split.completed_at is None


def paid_parts(split: ProfitSplit) -> list[dict] | None:
    """The parts the provider paid, once its word is final; None while the outcome is open
    (pending, or failed without the provider's word): it may yet pay them."""
    if split.status == "pending" or unresolved(split):
        return None
    if split.status == "succeeded":
        return sent_parts(split)
    return [part for part in sent_parts(split) if part.get("result") == "SUCCESS"]


def ask(split: ProfitSplit, now=None) -> str:
    """Before a refund of the order, the provider is asked about a split sent whose outcome
    is open (its query: WeChat 查询分账结果, Alipay 交易分账查询), and its word applied when
    it settles the split. Asking first, rather than leaving it all to the late recovery,
    because a settled split's return goes the ordinary way: WeChat's return-orders before
    the refund, and Alipay's 退分账 inside the refund — the only way Alipay takes a split
    back, so a return prepared after the refund went is left to finance. One query, never
    a send (a split the provider does not know stays for the sweep). Without an answer (or
    still processing) the refund goes on regardless — the buyer's money does not wait on
    the split — and its return waits for the split's outcome (``split_returns``)."""
    if split.sent_at is None or paid_parts(split) is not None:
        return "not_asked"
    notice = _query(split)
    settles = notice.status in ("succeeded", "partial") or (notice.status == "failed" and bool(notice.parts)) \
        or (unresolved(split) and notice.status in ("failed", "not_found"))
    return apply(split, notice, now) if settles else "unanswered"


def sent_parts(split: ProfitSplit) -> list[dict]:
    """The receivers the split sends to (not those left manual)."""
    return [dict(part, kind=part.get("kind", "supplier")) for part in split.receivers or [] if not part.get("manual")]


def run_due(now=None, limit: int = 100) -> int:
    """Create the splits that are due and send every split waiting for a try. Safe to run
    twice (one split per order; a repeat of its out_no is the same split)."""
    now = now or utcnow()
    for order, payment in _due_orders(now, limit):
        parts = parts_for(order, payment.provider)
        if not parts:
            continue
        with transaction():
            out_no = f"S{order.id}{secrets.token_hex(5).upper()}"
            _hold(order.brand_id, parts, out_no, order.id, now)
            amount = sum(int(p["amount_fen"]) for p in parts if not p.get("manual"))
            db.session.add(ProfitSplit(brand_id=order.brand_id, order_id=order.id, payment_id=payment.id,
                                       provider=payment.provider, out_no=out_no, amount_fen=amount, receivers=parts,
                                       status="pending" if amount else "manual", attempts=0, created_at=now,
                                       next_try_at=now, completed_at=None if amount else now))
        if not amount:
            _unfreeze(order.brand_id, payment, out_no)
    sent = 0
    looking = (ProfitSplit.status == "pending") | ((ProfitSplit.status == "failed") & ProfitSplit.completed_at.is_(None))
    for split in db.session.scalars(select(ProfitSplit).where(
            looking, ProfitSplit.next_try_at <= now).order_by(ProfitSplit.id).limit(limit)).all():
        check(split, now)
        sent += 1
    from distweb.services import split_returns

    return sent + split_returns.retry_due(now, limit)


def _unfreeze(brand_id: int, payment: Payment, out_no: str) -> None:
    """Nothing goes out for the order: the provider gives the brand the payment it kept
    for the split. A failure is logged (WeChat Pay unfreezes by itself in the end)."""
    try:
        online_pay.provider_for(brand_id, payment.provider, require_enabled=False).unfreeze(
            out_no, payment.provider_txn_id or "")
    except ProviderError as err:
        log.warning("payment %s not unfrozen: %s", payment.out_trade_no, err.code)


def _bind(split: ProfitSplit, provider) -> None:
    """Receivers the provider does not know yet are bound first, once each."""
    bound = set(db.session.scalars(select(RoyaltyBinding.account).where(
        RoyaltyBinding.brand_id == split.brand_id, RoyaltyBinding.provider == split.provider)))
    for part in sent_parts(split):
        if part["account"] in bound:
            continue
        provider.bind_receiver(part["account"], part["account_type"], part["kind"], _receiver_name(split, part))
        try:
            with transaction():
                db.session.add(RoyaltyBinding(brand_id=split.brand_id, provider=split.provider,
                                              account=part["account"], bound_at=utcnow()))
        except IntegrityError:
            pass  # bound meanwhile by another run: the same binding
        bound.add(part["account"])


def _receiver_name(split: ProfitSplit, part: dict) -> str | None:
    """The name the provider checks a receiver against, as saved now (a manager may add it
    after a split was refused for want of it): the supplier receiver's, or the promoter's
    payout account holder's — for the account the split sends to."""
    if part["kind"] == "supplier":
        found = receivers(split.brand_id).get((int(part["supplier_id"]), split.provider))
        return found.name if found is not None and found.account == part["account"] else None
    holder = withdrawals.payout_account(int(part["promoter_id"]))
    return holder.account_name if holder is not None and (holder.account_no or "").strip() == part["account"] else None


def check(split: ProfitSplit, now=None) -> str:
    """A pending (or unresolved) split due for another look. One the provider may already
    know (sent before: accepted and processing, or sent without an answer) is asked about
    with its query (WeChat 查询分账结果, Alipay 交易分账查询), and the answer applied once;
    only a pending split the provider does not know is sent (again, with the same out_no);
    an unresolved one it does not know is failed for good, its holds given back."""
    now = now or utcnow()
    if split.sent_at is None:
        return send(split, now) if split.status == "pending" else apply(split, Notice(
            "split", split.out_no, "not_found"), now)
    notice = _query(split)
    if notice.status == "not_found" and split.status == "pending":
        return send(split, now)
    return apply(split, notice, now)


def _query(split: ProfitSplit) -> Notice:
    """The provider's word on the split's out_no (``retry`` when it cannot be asked)."""
    payment = db.session.get(Payment, split.payment_id)
    try:
        provider = online_pay.provider_for(split.brand_id, split.provider, require_enabled=False)
        return provider.split_query(split.out_no, payment.provider_txn_id or "")
    except ProviderError as err:
        return Notice("split", split.out_no, "retry", reason=err.reason)


def send(split: ProfitSplit, now=None) -> str:
    now = now or utcnow()
    payment = db.session.get(Payment, split.payment_id)
    request = SplitRequest(split.out_no, payment.out_trade_no, payment.provider_txn_id or "",
                           [(p["account"], int(p["amount_fen"]), p["account_type"]) for p in sent_parts(split)],
                           "分账")
    try:
        provider = online_pay.provider_for(split.brand_id, split.provider, require_enabled=False)
        _bind(split, provider)
        _sending(split, now)
        notice = provider.split(request)
    except ProviderError as err:
        notice = Notice("split", split.out_no, "retry", reason=err.reason)
    return apply(split, notice, now)


def _sending(split: ProfitSplit, now) -> None:
    """Recorded before the request goes: whatever comes of it, the provider may know the
    out_no from now on (``check`` asks before sending it again)."""
    if split.sent_at is None:
        with transaction():
            db.session.execute(update(ProfitSplit).where(ProfitSplit.id == split.id, ProfitSplit.sent_at.is_(None))
                               .values(sent_at=now).execution_options(synchronize_session=False))
        split.sent_at = now


def apply(split: ProfitSplit, notice: Notice, now=None, final: bool = False) -> str:
    """The provider's word on a split, once: succeeded moves the shares in the ledger; a
    refusal or no answer is tried again, ``MAX_ATTEMPTS`` in all (``final``: the provider
    says it is over), then shown failed. The promoters' holds are given back only on the
    provider's word (a refusal, failed receivers, or ``not_found``: it has no such split);
    after no answer (``retry``: a timeout or an error, the outcome unknown) the split is
    failed unresolved, holds kept, and asked about again later. Once the outcome is known,
    the refunds made while it was open get their returns (``split_returns.after_split``)."""
    outcome = _apply_once(split, notice, now, final)
    if outcome in ("split", "split_partial", "split_failed"):
        from distweb.services import split_returns

        split_returns.after_split(split.id, now)
    return outcome


def _apply_once(split: ProfitSplit, notice: Notice, now=None, final: bool = False) -> str:
    now = now or utcnow()
    with transaction():
        row = db.session.scalars(select(ProfitSplit).where(ProfitSplit.id == split.id).with_for_update()
                                 .execution_options(populate_existing=True)).one()
        if unresolved(row):
            return _settle_unresolved(row, notice, now)
        if row.status != "pending":
            return "duplicate"
        if notice.status == "partial" or (notice.status == "failed" and notice.parts):
            return _final_parts(row, notice, now)
        if notice.status == "succeeded":
            _post_paid(row, sent_parts(row), now)
            row.status, row.completed_at, row.failure = "succeeded", now, None
            row.attempts += 1
            return "split"
        if notice.status == "pending":
            row.next_try_at = now + RETRY_SPACING
            return "pending"
        row.attempts += 1
        row.failure = (notice.reason or "")[:200] or None
        if final or row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            if notice.status == "retry" and row.sent_at is not None and not final:
                # No word from the provider on a split it may have made (sent, or being
                # sent: ``_sending``). Shown failed, holds kept, asked about again (``check``)
                # until it says. One never sent (a refused binding) it cannot have made.
                row.next_try_at = now + RETRY_SPACING * row.attempts
                log.warning("split %s unresolved after %d attempts", row.out_no, row.attempts)
                return "split_unresolved"
            row.completed_at = now
            _release(row, now)
            log.warning("split %s failed after %d attempts", row.out_no, row.attempts)
            return "split_failed"
        row.next_try_at = now + RETRY_SPACING * row.attempts
        return "retry"


def _settle_unresolved(row: ProfitSplit, notice: Notice, now) -> str:
    """In ``apply``'s transaction: the provider's word on a split failed without it. Paid
    (all or some): as any answer; failed or unknown to it: the holds go back now; still no
    word (or processing): asked again later."""
    if notice.status == "succeeded":
        _post_paid(row, sent_parts(row), now)
        row.status, row.completed_at, row.failure = "succeeded", now, None
        return "split"
    if notice.status == "partial" or (notice.status == "failed" and notice.parts):
        return _final_parts(row, notice, now)
    if notice.status in ("failed", "not_found"):
        row.completed_at = now
        if notice.status == "failed" and notice.reason:
            row.failure = notice.reason[:200]
        _release(row, now)
        log.warning("split %s: the provider %s it; holds given back", row.out_no,
                    "refused" if notice.status == "failed" else "does not know")
        return "split_failed"
    row.next_try_at = now + RETRY_SPACING * min(max(row.attempts, 1), 6)
    return "unresolved"


def _final_parts(row: ProfitSplit, notice: Notice, now) -> str:
    """In ``apply``'s transaction: final (every receiver has its result), some paid or
    none: the paid ones move; the others stay owed (a promoter's hold goes back) and the
    split is shown failed with why. The provider answers this out_no so from now on: a
    retry needs a new one (``retry``)."""
    parts = [dict(p) for p in row.receivers]
    for part in parts:
        if not part.get("manual"):
            result, why = (notice.parts or {}).get(part["account"], ("CLOSED", None))
            part["result"] = result
            if why:
                part["failure"] = str(why)[:80]
    row.receivers = parts
    _post_paid(row, [p for p in sent_parts(row) if p.get("result") == "SUCCESS"], now)
    row.attempts += 1
    row.failure = (notice.reason or "")[:200] or None
    row.status, row.completed_at = "failed", now
    _release(row, now)
    log.warning("split %s refused (%s)", row.out_no, notice.status)
    return "split_partial" if notice.status == "partial" else "split_failed"


def _post_paid(row: ProfitSplit, paid: list[dict], now) -> None:
    """The provider paid these parts: the suppliers' shares leave what the brand owes them,
    the promoters' holds leave as paid out."""
    draft = ledger.Draft(row.brand_id, "supplier_split", order_id=row.order_id, reference=f"split:{row.id}",
                         occurred_at=now)
    for part in paid:
        if part["kind"] == "supplier":
            draft.move(int(part["amount_fen"]), (AccountKind.SUPPLIER_PAYABLE, int(part["supplier_id"])),
                       (AccountKind.BRAND_CLEARING, 0))
        else:
            draft.move(int(part["amount_fen"]), (AccountKind.WITHDRAWALS_IN_TRANSIT, int(part["promoter_id"])),
                       (AccountKind.PAID_OUT, int(part["promoter_id"])))
    if draft.postings:
        ledger.post(draft)
    line_ids = [int(i) for part in paid if part["kind"] == "promoter" for i in part.get("line_ids") or []]
    if line_ids:
        # The lines were paid by the split, as a paid withdrawal's are (but not by one).
        db.session.execute(update(CommissionLine).where(CommissionLine.id.in_(line_ids),
                                                        CommissionLine.status == LineStatus.AVAILABLE)
                           .values(status=LineStatus.SPLIT_PAID).execution_options(synchronize_session=False))


def apply_notice(brand: Brand, notice: Notice) -> str:
    """WeChat Pay's 分账动账通知 for one receiver of a split: its result recorded; once
    every receiver succeeded the split is settled (once, as by its answer); a receiver
    that failed fails the split (the provider will not try it again)."""
    split = db.session.scalars(select(ProfitSplit).where(ProfitSplit.out_no == notice.reference,
                                                         ProfitSplit.brand_id == brand.id)).first()
    if split is None:
        if attempt_of(brand.id, notice.reference) is not None:
            return "duplicate"  # an earlier attempt's receiver: its result was final already
        raise NotFound("split_not_found", _l("分账记录不存在。"))
    if split.status != "pending" and not unresolved(split):
        return "duplicate"
    result = "SUCCESS" if notice.status == "succeeded" else "CLOSED"
    with transaction():
        row = db.session.scalars(select(ProfitSplit).where(ProfitSplit.id == split.id).with_for_update()
                                 .execution_options(populate_existing=True)).one()
        parts = [dict(p) for p in row.receivers]
        for part in parts:
            if not part.get("manual") and part["account"] == notice.account and (
                    notice.amount_fen is None or int(part["amount_fen"]) == notice.amount_fen):
                part["result"] = result
        row.receivers = parts
        sent = [p for p in parts if not p.get("manual")]
        results = {p["account"]: (p.get("result"), None) for p in sent}
    if all(r == "SUCCESS" for r, _ in results.values()):
        return apply(split, Notice("split", split.out_no, "succeeded", provider_id=notice.provider_id))
    if all(r in ("SUCCESS", "CLOSED") for r, _ in results.values()):
        paid = any(r == "SUCCESS" for r, _ in results.values())
        return apply(split, Notice("split", split.out_no, "partial" if paid else "failed", reason=notice.reason,
                                   parts=results), final=True)
    return "receiver_done"


def promoter_names(brand_id: int, ids: set[int]) -> dict[int, str]:
    """The brand's promoters among ``ids``, by name (for the manager's split list)."""
    from distweb.models import Promoter

    if not ids:
        return {}
    return {p.id: p.name for p in db.session.scalars(select(Promoter).where(Promoter.brand_id == brand_id,
                                                                            Promoter.id.in_(sorted(ids))))}


def of_order(order_id: int) -> ProfitSplit | None:
    return db.session.scalars(select(ProfitSplit).where(ProfitSplit.order_id == order_id)).first()


def for_brand(brand_id: int, limit: int = 100) -> list[ProfitSplit]:
    return list(db.session.scalars(select(ProfitSplit).where(ProfitSplit.brand_id == brand_id)
                                   .order_by(ProfitSplit.id.desc()).limit(limit)))


def retry(brand_id: int, split_id: int) -> ProfitSplit:
    """A manager sends a failed split again. One sent before is asked about first (WeChat
    查询分账结果, Alipay 交易分账查询): known to the provider otherwise than failed (it went
    through meanwhile, or is processing), that answer is applied, once; failed or unknown
    to it, the split goes under a new out_no (the provider answers a repeat of a finally
    failed one with the same failure; the old one kept in ``earlier_out_nos``), its parts
    worked out afresh (what the order still owes each receiver now, to the receivers set
    now) and the promoters' parts held again first — or, when the split failed without the
    provider's word (``unresolved``), the same parts, still held. A second retry of the same
    attempt finds it no longer failed."""
    row = db.session.get(ProfitSplit, split_id)
    if row is None or row.brand_id != brand_id:
        raise NotFound("split_not_found", _l("分账记录不存在。"))
    if row.status != "failed":
        raise ServiceError("not_failed", _l("只有失败的分账可以重试。"))
    if any(p.get("result") == "SUCCESS" for p in row.receivers):
        # The provider paid some receivers under this out_no: the same split again pays no one else.
        raise ServiceError("partly_split", _l("该分账已部分完成，其余接收方请线下结算。"))
    known = None
    if row.sent_at is not None:
        known = _query(row)
        if known.status == "retry":
            log.warning("split %s not queried before its retry: %s", row.out_no, known.reason)
            raise ServiceError("provider_unreachable", _l("无法向支付平台确认上次分账的结果，请稍后重试。"))
        if known.status in ("not_found", "failed"):
            known = None
    with transaction():
        row = db.session.scalars(select(ProfitSplit).where(ProfitSplit.id == split_id).with_for_update()
                                 .execution_options(populate_existing=True)).one()
        if row.status != "failed":
            raise ServiceError("not_failed", _l("只有失败的分账可以重试。"))
        held = unresolved(row)
        if not (held and known is not None):  # else the provider's answer settles the holds in place
            if held:  # the parts as held (the provider may yet have paid them): sent again as they were
                parts = [{k: v for k, v in p.items() if k not in ("result", "failure")} for p in row.receivers]
            else:
                # Worked out afresh, as a first split is: from the ledger as it is now (a refund
                # made since the failure has taken its share out already, so its return, voided
                # with the failure, stays void) and to the receivers as they are now (the one
                # the manager corrected after the failure is the one paid).
                from distweb.services import split_returns

                parts = parts_for(db.session.get(Order, row.order_id), row.provider)
                _hold(brand_id, parts, f"split:{row.id}", row.order_id, utcnow())
                split_returns.covered_by_retry(row.id)
            if row.sent_at is not None and known is None:
                earlier = [*(row.earlier_out_nos or []), row.out_no]
                row.out_no = f"{earlier[0]}_{len(earlier) + 1}"
                row.earlier_out_nos, row.sent_at = earlier, None
            row.receivers = parts
            row.amount_fen = sum(int(p["amount_fen"]) for p in parts if not p.get("manual"))
            row.status, row.attempts, row.next_try_at, row.completed_at = "pending", 0, utcnow(), None
            if not row.amount_fen:  # nothing left to send (all refunded, or all kept manual)
                row.status, row.completed_at = "manual", utcnow()
    if known is not None:
        apply(row, known)
    elif row.status == "manual":
        _unfreeze(row.brand_id, db.session.get(Payment, row.payment_id), row.out_no)
    else:
        send(row)
    return row


def attempt_of(brand_id: int, out_no: str) -> ProfitSplit | None:
    """The split an earlier attempt's out_no (``<first>_<n>`` or the first) belongs to."""
    first = out_no.split("_", 1)[0]
    for row in db.session.scalars(select(ProfitSplit).where(
            ProfitSplit.brand_id == brand_id, ProfitSplit.out_no.like(first + "\\_%", escape="\\"))):
        if out_no in (row.earlier_out_nos or []):
            return row
    return None
