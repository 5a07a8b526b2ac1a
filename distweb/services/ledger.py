"""The double-entry ledger: post balanced transactions, read balances, verify it all.

Callers post inside their own (service) transaction, so the business change and the money
it moves commit together. Entries are only ever inserted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import event, func, insert, literal, select
from sqlalchemy.orm import Session

from distweb.extensions import db
from distweb.models import LedgerAccount, LedgerEntry, LedgerTransaction
from distweb.models.base import utcnow
from distweb.models.ledger import AccountKind


class UnbalancedTransaction(ValueError):
    """A programming error: the entries of one transaction must sum to zero."""


_account_cache: dict[tuple[int, str, int], int] = {}


def account_id(brand_id: int, kind: AccountKind, owner_id: int = 0) -> int:
    """The id of an account, created on first use."""
    key = (brand_id, kind.value, owner_id)
    cached = _account_cache.get(key)
    if cached is not None:
        return cached
    info = db.session.info
    live = info.get(_LIVE_ACCOUNTS)
    if live is not None and key in live:
        return live[key]
    uncommitted = info.setdefault(_NEW_ACCOUNTS, set())
    found = db.session.scalar(
        select(LedgerAccount.id).where(LedgerAccount.brand_id == brand_id, LedgerAccount.kind == kind,
                                       LedgerAccount.owner_id == owner_id)
    )
    if found is None:
        # A savepoint, so a concurrent creator's unique-key win does not undo the caller's work.
        from sqlalchemy.exc import IntegrityError

        try:
            with db.session.begin_nested():
                account = LedgerAccount(brand_id=brand_id, kind=kind, owner_id=owner_id)
                db.session.add(account)
            found = account.id
        except IntegrityError:
            found = db.session.scalar(
                select(LedgerAccount.id).where(LedgerAccount.brand_id == brand_id, LedgerAccount.kind == kind,
                                               LedgerAccount.owner_id == owner_id)
            )
        # Not cached while the surrounding transaction might still roll back; until then
        # (or until any rollback, a savepoint's included) this session reuses it.
        uncommitted.add(key)
        info.setdefault(_LIVE_ACCOUNTS, {})[key] = found
        return found
    if key in uncommitted:
        info.setdefault(_LIVE_ACCOUNTS, {})[key] = found
    else:
        _account_cache[key] = found
    return found


_NEW_ACCOUNTS = "distweb_new_ledger_accounts"
_LIVE_ACCOUNTS = "distweb_uncommitted_ledger_account_ids"


@event.listens_for(Session, "after_transaction_end")
def _forget_new_accounts(session, transaction) -> None:
    """When the outermost transaction ends (committed or rolled back), accounts it created
    are looked up, and cached, afresh. Savepoints ending change nothing."""
    if transaction.parent is None:
        session.info.pop(_NEW_ACCOUNTS, None)
        session.info.pop(_LIVE_ACCOUNTS, None)


@event.listens_for(Session, "after_soft_rollback")
def _distrust_new_accounts(session, previous_transaction) -> None:
    """Any rollback, a savepoint's too, may have undone an account this transaction created."""
    session.info.pop(_LIVE_ACCOUNTS, None)


@dataclass
class Posting:
    kind: AccountKind
    owner_id: int
    amount_fen: int
    commission_line_id: int | None = None


@dataclass
class Draft:
    """Entries gathered for one transaction; ``post`` checks they balance."""

    brand_id: int
    kind: str
    order_id: int | None = None
    reference: str | None = None
    memo: dict = field(default_factory=dict)
    postings: list[Posting] = field(default_factory=list)
    occurred_at: datetime | None = None  # business time; now when not given

    def add(self, kind: AccountKind, owner_id: int, amount_fen: int, line_id: int | None = None) -> Draft:
        if amount_fen:
            self.postings.append(Posting(kind, owner_id, amount_fen, line_id))
        return self

    def move(self, amount_fen: int, source: tuple[AccountKind, int], target: tuple[AccountKind, int],
             line_id: int | None = None) -> Draft:
        """Move money from one account to another (negative on the source, positive on the target)."""
        self.add(source[0], source[1], -amount_fen, line_id)
        self.add(target[0], target[1], amount_fen, line_id)
        return self


def post(draft: Draft) -> LedgerTransaction | None:
    if not draft.postings:
        return None
    if sum(p.amount_fen for p in draft.postings) != 0:
        raise UnbalancedTransaction(f"{draft.kind}: entries sum to {sum(p.amount_fen for p in draft.postings)}")
    tx = LedgerTransaction(brand_id=draft.brand_id, kind=draft.kind, order_id=draft.order_id,
                           reference=draft.reference, memo=draft.memo, occurred_at=draft.occurred_at or utcnow())
    db.session.add(tx)
    db.session.flush()
    db.session.add_all([
        LedgerEntry(transaction_id=tx.id, account_id=account_id(draft.brand_id, p.kind, p.owner_id),
                    amount_fen=p.amount_fen, commission_line_id=p.commission_line_id)
        for p in draft.postings
    ])
    return tx


_TRANSACTIONS = LedgerTransaction.__table__
_ENTRIES = LedgerEntry.__table__
_INSERT_ENTRIES = insert(_ENTRIES)


def open_transaction(draft: Draft, unless=None, at: datetime | None = None) -> int | None:
    """Write the transaction row of ``draft`` (no ORM object) and return its id; the
    entries follow with ``write_entries``, in the same database transaction. With ``unless``
    (a SELECT), nothing is written while that finds a row, and None is returned: one
    statement for "not done yet?" and "start it"."""
    at = at or utcnow()
    values = {"brand_id": draft.brand_id, "kind": draft.kind, "order_id": draft.order_id,
              "reference": draft.reference, "memo": draft.memo, "created_at": at,
              "occurred_at": draft.occurred_at or at}
    if unless is None:
        stmt = insert(_TRANSACTIONS).values(values)
    else:
        columns = list(values)
        stmt = insert(_TRANSACTIONS).from_select(
            columns,
            select(*[literal(values[name], _TRANSACTIONS.c[name].type).label(name) for name in columns])
            .where(~unless.exists()),
        )
    return db.session.connection().execute(stmt.returning(_TRANSACTIONS.c.id)).scalar()


def check_balanced(draft: Draft) -> None:
    if sum(p.amount_fen for p in draft.postings) != 0:
        raise UnbalancedTransaction(f"{draft.kind}: entries sum to {sum(p.amount_fen for p in draft.postings)}")


def write_entries(transaction_id: int, draft: Draft, accounts: list[int] | None = None,
                  line_ids: list[int] | None = None, at: datetime | None = None) -> None:
    """The entries of ``draft`` under a transaction ``open_transaction`` wrote; they must
    balance. ``accounts``: the postings' account ids when the caller resolved them already;
    ``line_ids``: when each posting's commission_line_id is a place in that list."""
    check_balanced(draft)
    if not draft.postings:
        return
    at = at or utcnow()
    if accounts is None:
        accounts = [account_id(draft.brand_id, p.kind, p.owner_id) for p in draft.postings]
    db.session.connection().execute(_INSERT_ENTRIES, [
        {"transaction_id": transaction_id, "account_id": account, "amount_fen": p.amount_fen,
         "commission_line_id": p.commission_line_id if line_ids is None or p.commission_line_id is None
         else line_ids[p.commission_line_id], "created_at": at}
        for p, account in zip(draft.postings, accounts, strict=True)
    ])


def balance(brand_id: int, kind: AccountKind, owner_id: int = 0) -> int:
    return int(db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.brand_id == brand_id, LedgerAccount.kind == kind, LedgerAccount.owner_id == owner_id)
    ))


def balances_for(brand_id: int, owner_id: int, kinds: list[AccountKind]) -> dict[AccountKind, int]:
    rows = db.session.execute(
        select(LedgerAccount.kind, func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.brand_id == brand_id, LedgerAccount.owner_id == owner_id, LedgerAccount.kind.in_(kinds))
        .group_by(LedgerAccount.kind)
    )
    found = {kind: int(total) for kind, total in rows}
    return {kind: found.get(kind, 0) for kind in kinds}


def reset_cache() -> None:
    _account_cache.clear()
