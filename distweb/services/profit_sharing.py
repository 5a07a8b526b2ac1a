"""实时分账 of consignment orders paid online: after the freeze window (the order completed
and its commission settled by the settlement run, or ``FALLBACK_DAYS`` after completion
for an order with no commission), the suppliers' shares the ledger computed — what the
order left owing each supplier (``SUPPLIER_PAYABLE`` entries of the order: supply cost, less
what funded uplines and what refunds took back) — are sent to the provider's 分账 (WeChat Pay
profitsharing, Alipay trade.order.settle), with the split's own out_no. The provider's
confirmation moves the same amounts in the ledger (``services.ledger``: SUPPLIER_PAYABLE →
BRAND_CLEARING, the money has left the brand's collection). A split the provider refuses or
does not answer is tried again (``MAX_ATTEMPTS``, spaced) and then shown failed to the
manager, who may retry it. Only suppliers with a receiver account for the provider are split
to; an order any of whose suppliers lacks one is paid to suppliers as today (by hand)."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from distweb.extensions import db
from distweb.models import (
    CommissionLine,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Order,
    Payment,
    ProfitSplit,
    SplitReceiver,
    Supplier,
)
from distweb.models.base import utcnow
from distweb.models.ledger import AccountKind, LineStatus
from distweb.models.order import OrderMode, OrderStatus
from distweb.services import ledger, online_pay
from distweb.services.errors import NotFound, ServiceError
from distweb.services.payment_providers import Notice, ProviderError, SplitRequest
from distweb.services.tx import transaction

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
RETRY_SPACING = timedelta(minutes=10)
FALLBACK_DAYS = 7  # an order without commission lines: the default plan's freeze window


def receivers(brand_id: int) -> dict[tuple[int, str], SplitReceiver]:
    return {(r.supplier_id, r.provider): r for r in db.session.scalars(
        select(SplitReceiver).where(SplitReceiver.brand_id == brand_id))}


def save_receiver(brand_id: int, supplier_id: int, provider: str, account: str | None) -> None:
    """A supplier's receiver for a provider (empty: none)."""
    supplier = db.session.get(Supplier, supplier_id)
    if supplier is None or supplier.brand_id != brand_id or provider not in online_pay.PROVIDER_LABELS:
        raise NotFound("supplier_not_found", _l("供货商不存在。"))
    account = (account or "").strip()
    if len(account) > 100:
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
        row.account = account


def wants_split(order: Order, provider: str) -> bool:
    """A consignment order whose every supplier has a receiver for ``provider``."""
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


def _due_orders(now, limit: int) -> list[tuple[Order, Payment]]:
    frozen = select(CommissionLine.id).where(CommissionLine.order_id == Order.id,
                                             CommissionLine.status == LineStatus.FROZEN).exists()
    settled = select(CommissionLine.id).where(CommissionLine.order_id == Order.id).exists()
    done = select(ProfitSplit.id).where(ProfitSplit.order_id == Order.id).exists()
    return list(db.session.execute(
        select(Order, Payment).join(Payment, Payment.order_id == Order.id)
        .where(Payment.status == "paid", Payment.failure.is_(None), Order.mode == OrderMode.CONSIGNMENT,
               Order.status == OrderStatus.COMPLETED, ~frozen, ~done,
               settled | (Order.completed_at < now - timedelta(days=FALLBACK_DAYS)))
        .order_by(Order.id).limit(limit)).all())


def run_due(now=None, limit: int = 100) -> int:
    """Create the splits that are due and send every split waiting for a try. Safe to run
    twice (one split per order; a repeat of its out_no is the same split)."""
    now = now or utcnow()
    for order, payment in _due_orders(now, limit):
        if not wants_split(order, payment.provider):
            continue
        shares = supplier_shares(order.id)
        known = receivers(order.brand_id)
        parts = [{"supplier_id": s, "account": known[(s, payment.provider)].account, "amount_fen": fen}
                 for s, fen in sorted(shares.items()) if fen > 0 and (s, payment.provider) in known]
        if not parts:
            continue
        with transaction():
            db.session.add(ProfitSplit(brand_id=order.brand_id, order_id=order.id, payment_id=payment.id,
                                       provider=payment.provider, out_no=f"S{order.id}{secrets.token_hex(5).upper()}",
                                       amount_fen=sum(p["amount_fen"] for p in parts), receivers=parts,
                                       status="pending", attempts=0, created_at=now, next_try_at=now))
    sent = 0
    for split in db.session.scalars(select(ProfitSplit).where(
            ProfitSplit.status == "pending", ProfitSplit.next_try_at <= now).order_by(ProfitSplit.id).limit(limit)).all():
        send(split, now)
        sent += 1
    return sent


def send(split: ProfitSplit, now=None) -> str:
    now = now or utcnow()
    payment = db.session.get(Payment, split.payment_id)
    request = SplitRequest(split.out_no, payment.out_trade_no, payment.provider_txn_id or "",
                           [(p["account"], int(p["amount_fen"])) for p in split.receivers], "供货商货款")
    try:
        notice = online_pay.provider_for(split.brand_id, split.provider, require_enabled=False).split(request)
    except ProviderError as err:
        notice = Notice("split", split.out_no, "retry", reason=err.reason)
    return apply(split, notice, now)


def apply(split: ProfitSplit, notice: Notice, now=None) -> str:
    """The provider's word on a split, once: succeeded moves the shares in the ledger; a
    refusal or no answer is tried again, ``MAX_ATTEMPTS`` in all, then shown failed."""
    now = now or utcnow()
    with transaction():
        row = db.session.scalars(select(ProfitSplit).where(ProfitSplit.id == split.id).with_for_update()
                                 .execution_options(populate_existing=True)).one()
        if row.status != "pending":
            return "duplicate"
        if notice.status == "succeeded":
            draft = ledger.Draft(row.brand_id, "supplier_split", order_id=row.order_id, reference=f"split:{row.id}",
                                 occurred_at=now)
            for part in row.receivers:
                draft.move(int(part["amount_fen"]), (AccountKind.SUPPLIER_PAYABLE, int(part["supplier_id"])),
                           (AccountKind.BRAND_CLEARING, 0))
            ledger.post(draft)
            row.status, row.completed_at, row.failure = "succeeded", now, None
            row.attempts += 1
            return "split"
        if notice.status == "pending":
            row.next_try_at = now + RETRY_SPACING
            return "pending"
        row.attempts += 1
        row.failure = (notice.reason or "")[:200] or None
        if row.attempts >= MAX_ATTEMPTS:
            row.status, row.completed_at = "failed", now
            log.warning("split %s failed after %d attempts", row.out_no, row.attempts)
            return "split_failed"
        row.next_try_at = now + RETRY_SPACING * row.attempts
        return "retry"


def for_brand(brand_id: int, limit: int = 100) -> list[ProfitSplit]:
    return list(db.session.scalars(select(ProfitSplit).where(ProfitSplit.brand_id == brand_id)
                                   .order_by(ProfitSplit.id.desc()).limit(limit)))


def retry(brand_id: int, split_id: int) -> ProfitSplit:
    """A manager sends a failed split again (same out_no: the provider's one split)."""
    with transaction():
        row = db.session.get(ProfitSplit, split_id)
        if row is None or row.brand_id != brand_id:
            raise NotFound("split_not_found", _l("分账记录不存在。"))
        if row.status != "failed":
            raise ServiceError("not_failed", _l("只有失败的分账可以重试。"))
        row.status, row.attempts, row.next_try_at, row.completed_at = "pending", 0, utcnow(), None
    send(row)
    return row

