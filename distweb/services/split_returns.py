"""分账回退: an order refunded after its split went out takes back, from each receiver of the
split, what the refund takes from it in the ledger — computed before the refund is sent
exactly as the reversal will compute it (``commission.refund_takes_back``): a supplier's
supply cost less the uplines' commission it funded, a promoter's lines' parts — never more
than the receiver got from the split less what earlier returns took.

- WeChat Pay: 请求分账回退 (``/v3/profitsharing/return-orders``), sent before the refund,
  one return-order per receiver. WeChat returns only from a merchant receiver: a part owed
  by a person (an openid) is ``manual`` — finance gets it back by hand, and the ledger keeps
  showing it owed (the supplier's payable below zero, the promoter's wallet clawed back).
- Alipay: 退分账 rides in the refund itself (``refund_royalty_parameters`` of
  alipay.trade.refund): the return waits for the refund and is confirmed with it.

Confirmed, each part moves back in the ledger (``services.ledger`` only): a supplier's
from the brand's collection to its payable (BRAND_CLEARING → SUPPLIER_PAYABLE), a
promoter's from PAID_OUT to its wallet, each undoing what the refund's reversal took. A
return refused or unanswered is sent again with the same numbers by the worker's sweep
(``MAX_ATTEMPTS``), then shown failed to the manager."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from distweb.extensions import db
from distweb.models import Order, PaymentRefund, ProfitSplit, SplitReturn
from distweb.models.base import utcnow
from distweb.models.ledger import AccountKind
from distweb.services import commission, ledger, online_pay
from distweb.services.payment_providers import Notice, ProviderError, SplitReturnRequest
from distweb.services.tx import transaction

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
RETRY_SPACING = timedelta(minutes=10)
RETURNABLE = {"wechat": {"MERCHANT_ID"}, "alipay": {"loginName", "userId"}}
MANUAL_REASONS = {"personal": _l("微信支付不能从个人接收方回退分账，请线下追回")}


def _key(part: dict) -> tuple[str, int]:
    kind = part.get("kind", "supplier")
    return kind, int(part["supplier_id"] if kind == "supplier" else part["promoter_id"])


def of_split(split_id: int) -> list[SplitReturn]:
    return list(db.session.scalars(select(SplitReturn).where(SplitReturn.split_id == split_id)
                                   .order_by(SplitReturn.id)))


def prepare(order: Order, refund: PaymentRefund) -> SplitReturn | None:
    """The return a refund of a split order needs (None: no split went out, or it takes
    nothing back from its receivers). Made in its own transaction before the refund is sent."""
    from distweb.services import profit_sharing

    split = db.session.scalars(select(ProfitSplit).where(ProfitSplit.order_id == order.id,
                                                         ProfitSplit.status.in_(("succeeded", "failed")))).first()
    if split is None:
        return None
    paid = profit_sharing.sent_parts(split)
    if split.status == "failed":  # paid only in part: what the provider paid
        paid = [part for part in paid if part.get("result") == "SUCCESS"]
    by_sku = {item.sku: item.id for item in order.items}
    amounts = {by_sku[line["sku"]]: int(line["amount_fen"]) for line in refund.lines if line["sku"] in by_sku}
    suppliers, lines = commission.refund_takes_back(order, amounts)
    taken: dict[tuple[str, int], int] = {}
    for earlier in of_split(split.id):
        if earlier.status != "failed":
            for part in earlier.receivers:
                taken[_key(part)] = taken.get(_key(part), 0) + int(part["amount_fen"])
    parts = []
    for part in paid:
        key = _key(part)
        want = max(0, suppliers.get(key[1], 0)) if key[0] == "supplier" else sum(
            lines.get(int(line_id), 0) for line_id in part.get("line_ids") or [])
        take = min(want, int(part["amount_fen"]) - taken.get(key, 0))
        if take <= 0:
            continue
        back = {k: part[k] for k in ("kind", "supplier_id", "promoter_id", "account", "account_type") if k in part}
        back["amount_fen"] = take
        if part["account_type"] not in RETURNABLE.get(split.provider, set()):
            back["manual"] = "personal"
        parts.append(back)
    if not parts:
        return None
    sent = sum(p["amount_fen"] for p in parts if not p.get("manual"))
    status = "manual" if not sent else ("waiting" if split.provider == "alipay" else "pending")
    now = utcnow()
    with transaction():
        row = SplitReturn(brand_id=split.brand_id, split_id=split.id, refund_id=refund.id, provider=split.provider,
                          out_no=f"B{order.id}{secrets.token_hex(5).upper()}",
                          amount_fen=sum(p["amount_fen"] for p in parts), receivers=parts, status=status, attempts=0,
                          created_at=now, next_try_at=now, completed_at=now if status == "manual" else None)
        db.session.add(row)
    return row


def sent_parts(row: SplitReturn) -> list[dict]:
    return [part for part in row.receivers if not part.get("manual")]


def royalty_for(refund_id: int) -> list[tuple[str, int, str]]:
    """Alipay: the 退分账 parts to send inside the refund (its return waiting for it)."""
    row = db.session.scalars(select(SplitReturn).where(SplitReturn.refund_id == refund_id,
                                                       SplitReturn.status == "waiting")).first()
    return [] if row is None else [(p["account"], int(p["amount_fen"]), p["account_type"]) for p in sent_parts(row)]


def send(row: SplitReturn, now=None) -> str:
    """WeChat Pay: 请求分账回退 with the return's own numbers (a repeat is the same return)."""
    now = now or utcnow()
    split = db.session.get(ProfitSplit, row.split_id)
    request = SplitReturnRequest(row.out_no, split.out_no, [(p["account"], int(p["amount_fen"]), p["account_type"])
                                                             for p in sent_parts(row)], "用户退款")
    try:
        notice = online_pay.provider_for(row.brand_id, row.provider, require_enabled=False).split_return(request)
    except ProviderError as err:
        notice = Notice("split_return", row.out_no, "retry", reason=err.reason)
    return apply(row, notice, now)


def refund_settled(refund_id: int, succeeded: bool, reason: str | None = None) -> None:
    """Alipay: the refund carrying the return is confirmed (or refused): so is the return."""
    row = db.session.scalars(select(SplitReturn).where(SplitReturn.refund_id == refund_id,
                                                       SplitReturn.status == "waiting")).first()
    if row is not None:
        apply(row, Notice("split_return", row.out_no, "succeeded" if succeeded else "failed", reason=reason),
              final=not succeeded)


def apply(row: SplitReturn, notice: Notice, now=None, final: bool = False) -> str:
    """The provider's word on a return, once: succeeded moves each part back in the ledger;
    a refusal or no answer is tried again, then shown failed."""
    now = now or utcnow()
    with transaction():
        locked = db.session.scalars(select(SplitReturn).where(SplitReturn.id == row.id).with_for_update()
                                    .execution_options(populate_existing=True)).one()
        if locked.status not in ("pending", "waiting"):
            return "duplicate"
        split = db.session.get(ProfitSplit, locked.split_id)
        if notice.status == "succeeded":
            draft = ledger.Draft(locked.brand_id, "split_return", order_id=split.order_id,
                                 reference=f"split_return:{locked.id}", occurred_at=now)
            for part in sent_parts(locked):
                kind, owner = _key(part)
                if kind == "supplier":
                    draft.move(int(part["amount_fen"]), (AccountKind.BRAND_CLEARING, 0),
                               (AccountKind.SUPPLIER_PAYABLE, owner))
                else:
                    draft.move(int(part["amount_fen"]), (AccountKind.PAID_OUT, owner),
                               (AccountKind.PROMOTER_AVAILABLE, owner))
            ledger.post(draft)
            locked.status, locked.completed_at, locked.failure = "succeeded", now, None
            locked.attempts += 1
            return "returned"
        if notice.status == "pending":
            locked.next_try_at = now + RETRY_SPACING
            return "pending"
        locked.attempts += 1
        locked.failure = (notice.reason or "")[:200] or None
        if final or locked.attempts >= MAX_ATTEMPTS:
            locked.status, locked.completed_at = "failed", now
            log.warning("split return %s failed after %d attempts", locked.out_no, locked.attempts)
            return "return_failed"
        locked.next_try_at = now + RETRY_SPACING * locked.attempts
        return "retry"


def retry_due(now=None, limit: int = 100) -> int:
    """WeChat returns waiting for another try. Safe to run twice."""
    now = now or utcnow()
    done = 0
    for row in db.session.scalars(select(SplitReturn).where(
            SplitReturn.status == "pending", SplitReturn.next_try_at <= now).order_by(SplitReturn.id)
            .limit(limit)).all():
        send(row, now)
        done += 1
    return done


def for_brand(brand_id: int, limit: int = 100) -> list[SplitReturn]:
    return list(db.session.scalars(select(SplitReturn).where(SplitReturn.brand_id == brand_id)
                                   .order_by(SplitReturn.id.desc()).limit(limit)))
