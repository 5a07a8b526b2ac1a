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

A refund made while the split's outcome is open (pending: not yet sent, or sent and
processing; or failed without the provider's word, its holds kept: ``profit_sharing.
unresolved``) first asks the provider (``profit_sharing.ask``: one query, its word applied
when it settles the split, so the return goes the ordinary way above). When the provider
cannot tell, the refund is not held up: its return is recorded ``awaiting`` — what the
refund took from each receiver, computed then (the reversal's numbers depend on what was
refunded before) — and made once the split's outcome is known (``after_split``: on the
split's answer, its query, a retry's, a WeChat notification, or the sweep), for the parts
the split paid, never more than each got less earlier returns. WeChat's return-orders go
after the refund (WeChat's 请求分账回退: "分账回退可以先于退款请求，也可以后于退款请求").
Alipay has no standalone royalty return: its guide sends a split's funds back through
alipay.trade.refund (refund_royalty_parameters), and the refund carrying this order's
amounts has gone. (The guide says the refund API may also return only the split; how —
which refund amount, which request number — is not in the public pages found, so it is
not guessed at here.) Those parts are ``manual`` (``MANUAL_REASONS["after_refund"]``),
shown to the manager, the ledger keeping them owed, as a WeChat person's part. A split
that pays no one, or a refund that failed, makes the return ``void`` (a manager's retry of
the split sends what is owed after the refund, so the return stays void). A refund still
pending waits: a return is made for a refund made.

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
MANUAL_REASONS = {
    "personal": _l("微信支付不能从个人接收方回退分账，请线下追回"),
    "after_refund": _l("退款时分账结果未知，支付宝的退分账只能随退款一起发起，分账确认到账时退款已完成，请线下追回"),
}
# Why a return has nothing to send (``void``: its ``failure``).
VOID_REASONS = {
    "split_failed": _l("分账未成功，接收方未收到款项，无需回退"),
    "refund_failed": _l("退款未成功，无需回退"),
    "nothing_left": _l("接收方已回退全部分账金额，无需再回退"),
    "covered_by_retry": _l("分账重试时已扣除本次退款的部分，无需回退"),
}


def _key(part: dict) -> tuple[str, int]:
    kind = part.get("kind", "supplier")
    return kind, int(part["supplier_id"] if kind == "supplier" else part["promoter_id"])


def of_split(split_id: int) -> list[SplitReturn]:
    return list(db.session.scalars(select(SplitReturn).where(SplitReturn.split_id == split_id)
                                   .order_by(SplitReturn.id)))


def prepare(order: Order, refund: PaymentRefund) -> SplitReturn | None:
    """The return a refund of a split order needs (None: no split went out, or it takes
    nothing back from its receivers). Made in its own transaction before the refund is
    sent. A split whose outcome is open is asked about first (``profit_sharing.ask``); still
    open, the return is recorded ``awaiting`` with what the refund takes from each receiver
    the split sends to, and made when the split's outcome is known (``after_split``)."""
    from distweb.services import profit_sharing

    split = db.session.scalars(select(ProfitSplit).where(ProfitSplit.order_id == order.id,
                                                         ProfitSplit.status != "manual")).first()
    if split is None:
        return None
    if profit_sharing.paid_parts(split) is None:
        profit_sharing.ask(split)
        db.session.refresh(split)
    after_split(split.id)  # earlier refunds' returns first: what they take counts against this one
    db.session.refresh(split)
    paid = profit_sharing.paid_parts(split)
    if paid is None:
        status, candidates = "awaiting", profit_sharing.sent_parts(split)
    elif paid:
        status, candidates = ("waiting" if split.provider == "alipay" else "pending"), paid
    elif split.status == "failed":  # paid no one (a manager may retry it: kept, void)
        status, candidates = "void", profit_sharing.sent_parts(split)
    else:
        return None
    by_sku = {item.sku: item.id for item in order.items}
    amounts = {by_sku[line["sku"]]: int(line["amount_fen"]) for line in refund.lines if line["sku"] in by_sku}
    suppliers, lines = commission.refund_takes_back(order, amounts)
    taken = _taken(split.id, with_awaiting=True)
    parts = []
    for part in candidates:
        key = _key(part)
        want = max(0, suppliers.get(key[1], 0)) if key[0] == "supplier" else sum(
            lines.get(int(line_id), 0) for line_id in part.get("line_ids") or [])
        take = min(want, int(part["amount_fen"]) - taken.get(key, 0))
        if take <= 0:
            continue
        back = {k: part[k] for k in ("kind", "supplier_id", "promoter_id", "account", "account_type") if k in part}
        back["amount_fen"] = take
        if status not in ("awaiting", "void") and part["account_type"] not in RETURNABLE.get(split.provider, set()):
            back["manual"] = "personal"
        parts.append(back)
    if not parts:
        return None
    if status in ("waiting", "pending") and not any(not p.get("manual") for p in parts):
        status = "manual"
    now = utcnow()
    with transaction():
        row = SplitReturn(brand_id=split.brand_id, split_id=split.id, refund_id=refund.id, provider=split.provider,
                          out_no=f"B{order.id}{secrets.token_hex(5).upper()}",
                          amount_fen=sum(p["amount_fen"] for p in parts), receivers=parts, status=status, attempts=0,
                          failure="split_failed" if status == "void" else None, created_at=now, next_try_at=now,
                          completed_at=now if status in ("manual", "void") else None)
        db.session.add(row)
    return row


def _taken(split_id: int, with_awaiting: bool = False) -> dict[tuple[str, int], int]:
    """What the split's returns made so far take from each receiver (any but a failed or
    void one; an awaiting one too, ``with_awaiting``: so that awaiting returns together
    never ask more than a receiver was sent)."""
    taken: dict[tuple[str, int], int] = {}
    for earlier in of_split(split_id):
        if earlier.status in ("failed", "void") or (earlier.status == "awaiting" and not with_awaiting):
            continue
        for part in earlier.receivers:
            taken[_key(part)] = taken.get(_key(part), 0) + int(part["amount_fen"])
    return taken


def after_split(split_id: int, now=None) -> list[SplitReturn]:
    """The split's outcome is known (or a refund it waited for settled): its awaiting
    returns are made and sent (``settle_awaiting``). Safe to run twice."""
    made = settle_awaiting(split_id, now)
    for row in made:
        if row.status == "pending":
            send(row, now)
    return made


def settle_awaiting(split_id: int, now=None) -> list[SplitReturn]:
    """In one transaction, each awaiting return of the split whose outcome and refund are
    known, oldest first: the parts the split paid, each what the refund took from that
    receiver but never more than it got less earlier returns — WeChat: ``pending`` (sent
    by the caller, after the refund; a person's part ``manual``), Alipay: ``manual`` (its
    refund has gone). ``void`` when the split paid no one, the refund failed, or nothing
    is left to take. A return whose refund is still pending, or whose split is still
    open, stays. A second run finds none awaiting."""
    from distweb.services import profit_sharing

    now = now or utcnow()
    made = []
    if db.session.scalars(select(SplitReturn.id).where(SplitReturn.split_id == split_id,
                                                       SplitReturn.status == "awaiting").limit(1)).first() is None:
        return []  # the common case: nothing waits for this split (no lock taken)
    with transaction():
        split = db.session.scalars(select(ProfitSplit).where(ProfitSplit.id == split_id).with_for_update()
                                   .execution_options(populate_existing=True)).one()
        waiting = list(db.session.scalars(select(SplitReturn).where(
            SplitReturn.split_id == split_id, SplitReturn.status == "awaiting").order_by(SplitReturn.id)
            .with_for_update().execution_options(populate_existing=True)))
        if not waiting:
            return []
        paid = profit_sharing.paid_parts(split)
        taken = _taken(split_id)
        for row in waiting:
            refund = db.session.get(PaymentRefund, row.refund_id)
            if refund.status == "failed":
                _void(row, "refund_failed", now)
                continue
            if refund.status != "succeeded" or paid is None:
                continue
            if not paid:
                _void(row, "split_failed", now)
                continue
            got = {_key(part): int(part["amount_fen"]) for part in paid}
            parts = []
            for part in row.receivers:
                key = _key(part)
                take = min(int(part["amount_fen"]), got.get(key, 0) - taken.get(key, 0))
                if take <= 0:
                    continue
                back = dict(part, amount_fen=take)
                back.pop("manual", None)
                if split.provider == "alipay":
                    back["manual"] = "after_refund"
                elif part["account_type"] not in RETURNABLE.get(split.provider, set()):
                    back["manual"] = "personal"
                taken[key] = taken.get(key, 0) + take
                parts.append(back)
            if not parts:
                _void(row, "nothing_left", now)
                continue
            row.receivers, row.amount_fen = parts, sum(p["amount_fen"] for p in parts)
            if any(not p.get("manual") for p in parts):
                row.status, row.next_try_at = "pending", now
            else:
                row.status, row.completed_at = "manual", now
            made.append(row)
    return made


def _void(row: SplitReturn, why: str, now) -> None:
    row.status, row.failure, row.completed_at = "void", why, now


def covered_by_retry(split_id: int) -> None:
    """In the caller's transaction (a manager retries the split that paid no one, its parts
    worked out afresh): the returns voided because of it stay void, their refunds' shares
    already left out of what the new attempt sends."""
    for row in db.session.scalars(select(SplitReturn).where(SplitReturn.split_id == split_id,
                                                            SplitReturn.status == "void",
                                                            SplitReturn.failure == "split_failed")):
        row.failure = "covered_by_retry"


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
                                                       SplitReturn.status.in_(("waiting", "awaiting")))).first()
    if row is None:
        return
    if row.status == "awaiting":  # waiting for the split too: made now if its outcome is known, else void
        after_split(row.split_id)
        return
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
    """WeChat returns waiting for another try, and awaiting returns whose split's outcome
    is known (should its own run have been cut short). Safe to run twice."""
    now = now or utcnow()
    done = 0
    settled = (ProfitSplit.status == "succeeded") | ((ProfitSplit.status == "failed")
                                                     & ProfitSplit.completed_at.is_not(None))
    for split_id in db.session.scalars(
            select(SplitReturn.split_id).join(ProfitSplit, ProfitSplit.id == SplitReturn.split_id)
            .join(PaymentRefund, PaymentRefund.id == SplitReturn.refund_id)
            .where(SplitReturn.status == "awaiting", PaymentRefund.status != "pending", settled).distinct()
            .order_by(SplitReturn.split_id).limit(limit)).all():
        done += len(after_split(split_id, now))
    for row in db.session.scalars(select(SplitReturn).where(
            SplitReturn.status == "pending", SplitReturn.next_try_at <= now).order_by(SplitReturn.id)
            .limit(limit)).all():
        send(row, now)
        done += 1
    return done


def for_brand(brand_id: int, limit: int = 100) -> list[SplitReturn]:
    return list(db.session.scalars(select(SplitReturn).where(SplitReturn.brand_id == brand_id)
                                   .order_by(SplitReturn.id.desc()).limit(limit)))
