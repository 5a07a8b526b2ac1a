"""The double-entry ledger: the only code that writes ledger transactions and entries.

Every money movement is one transaction whose entries sum to zero, written inside the
caller's (service) database transaction, so the business change and the money it moves
commit together or not at all. Entries are only ever inserted; a mistake is fixed with a
reversing transaction. Two ways in, both checked here before anything is written or before
the caller can commit:

- ``post(draft)``: a transaction drafted in Python (an order's accrual, a refund's reversal,
  a withdrawal step), refused with ``UnbalancedTransaction`` unless its postings sum to zero;
- ``post_from_select(...)``: a transaction whose entries come from a SELECT (a settlement
  batch of thousands of lines), summed by the database after the INSERT and refused the
  same way.

On PostgreSQL the database checks it once more at commit (migration 9a4c7e2b5d61's deferred
constraint trigger, after django-hordak): no code path can leave the books unbalanced.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    bindparam,
    case,
    event,
    exists,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from distweb.extensions import db
from distweb.models import LedgerAccount, LedgerEntry, LedgerTransaction
from distweb.models.base import UTCDateTime, json_rows, utcnow
from distweb.models.ledger import AccountKind
from distweb.services import rollups, versions

# A posting to one of these moves a promoter's own money: its home figures change.
PROMOTER_KINDS = frozenset((AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE,
                            AccountKind.PROMOTER_PENDING_WITHDRAWAL))


class UnbalancedTransaction(ValueError):
    """A programming error: the entries of one transaction must sum to zero."""


# ---------------------------------------------------------------- accounts

_account_cache: dict[tuple[int, str, int], int] = {}
_ACCOUNT = select(LedgerAccount.id).where(LedgerAccount.brand_id == bindparam("brand_id"),
                                          LedgerAccount.kind == bindparam("kind"),
                                          LedgerAccount.owner_id == bindparam("owner_id"))


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
    params = {"brand_id": brand_id, "kind": kind, "owner_id": owner_id}
    found = db.session.scalar(_ACCOUNT, params)
    if found is None:
        # A savepoint, so a concurrent creator's unique-key win does not undo the caller's work.
        try:
            with db.session.begin_nested():
                account = LedgerAccount(brand_id=brand_id, kind=kind, owner_id=owner_id)
                db.session.add(account)
            found = account.id
        except IntegrityError:
            found = db.session.scalar(_ACCOUNT, params)
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


def ensure_accounts(brand_id: int, kinds: Sequence[AccountKind], owner_ids: Sequence[int]) -> None:
    """Accounts of these kinds for these owners, created where missing: one INSERT … SELECT
    per kind (the ids travel as one JSON document), for set-based writers that name accounts
    by owner in SQL (settlement). A concurrent creator's win is retried once."""
    if not owner_ids:
        return
    ids = json.dumps([{"owner_id": owner} for owner in owner_ids])
    for kind in kinds:
        for attempt in (1, 2):
            try:
                with db.session.begin_nested():
                    db.session.connection().execute(_insert_missing_accounts(), {
                        "owners": ids, "brand_id": brand_id, "kind": kind.value})
                break
            except IntegrityError:
                if attempt == 2:
                    raise


@functools.cache
def _insert_missing_accounts():
    owner = json_rows("owners", [("owner_id", Integer())]).subquery("owner")
    return insert(LedgerAccount.__table__).from_select(
        ["brand_id", "kind", "owner_id"],
        select(bindparam("brand_id", type_=Integer()), bindparam("kind", type_=String()), owner.c.owner_id)
        .where(~exists().where(LedgerAccount.brand_id == bindparam("brand_id", type_=Integer()),
                               LedgerAccount.__table__.c.kind == bindparam("kind", type_=String()),
                               LedgerAccount.owner_id == owner.c.owner_id)))


def account_of(brand_id_column, kind: AccountKind, owner_column):
    """The id of the account of ``kind`` owned by ``owner_column`` (a correlated scalar
    subquery, looked up through the unique (brand, kind, owner) index row by row, so the plan
    never depends on table statistics). A missing account is NULL, which the NOT NULL
    ``account_id`` refuses: no entry is ever silently dropped."""
    return (select(LedgerAccount.id)
            .where(LedgerAccount.brand_id == brand_id_column, LedgerAccount.kind == kind,
                   LedgerAccount.owner_id == owner_column)
            .scalar_subquery())


# ---------------------------------------------------------------- drafting


@dataclass
class Posting:
    kind: AccountKind
    owner_id: int
    amount_fen: int
    commission_line_id: int | None = None


@dataclass
class Draft:
    """Entries gathered for one transaction; ``post`` checks they balance. ``occurred_at`` is
    the business time (docs/API.md "Business time of money movements")."""

    brand_id: int
    kind: str
    occurred_at: datetime = field(kw_only=True)
    order_id: int | None = None
    reference: str | None = None
    memo: dict = field(default_factory=dict)
    postings: list[Posting] = field(default_factory=list)

    def add(self, kind: AccountKind, owner_id: int, amount_fen: int, line_id: int | None = None) -> Draft:
        if amount_fen:
            self.postings.append(Posting(kind, owner_id, amount_fen, line_id))
        return self

    def move(self, amount_fen: int, source: tuple[AccountKind, int], target: tuple[AccountKind, int],
             line_id: int | None = None, target_line_id: int | None = None) -> Draft:
        """Move money from one account to another (negative on the source, positive on the
        target). ``line_id`` tags both entries, unless ``target_line_id`` tags the target's."""
        self.add(source[0], source[1], -amount_fen, line_id)
        self.add(target[0], target[1], amount_fen, line_id if target_line_id is None else target_line_id)
        return self

    @property
    def total(self) -> int:
        return sum(p.amount_fen for p in self.postings)

    def entries(self) -> list[Posting]:
        """The postings as they are written: those not tied to a commission line are summed
        per account (one entry for the brand's whole commission expense on an order, not one
        per line), in the order each account first appears; a sum of zero is no entry."""
        merged: dict[tuple[AccountKind, int], Posting] = {}
        out: list[Posting] = []
        for p in self.postings:
            if p.commission_line_id is not None:
                out.append(p)
                continue
            key = (p.kind, p.owner_id)
            if key in merged:
                merged[key].amount_fen += p.amount_fen
            else:
                merged[key] = Posting(p.kind, p.owner_id, p.amount_fen)
                out.append(merged[key])
        return [p for p in out if p.amount_fen]


def check_balanced(draft: Draft) -> None:
    if draft.total != 0:
        raise UnbalancedTransaction(f"{draft.kind}: entries sum to {draft.total}")


# ---------------------------------------------------------------- writing

_TRANSACTIONS = LedgerTransaction.__table__
_ENTRIES = LedgerEntry.__table__
_INSERT_TRANSACTION = insert(_TRANSACTIONS).returning(_TRANSACTIONS.c.id)
_ENTRY_COLUMNS = [("transaction_id", BigInteger()), ("account_id", Integer()), ("amount_fen", BigInteger()),
                  ("commission_line_id", Integer())]


@functools.cache
def _insert_entries():
    """Entries from the JSON document ``entries``, written at ``now``: one INSERT … SELECT
    for every entry of a batch of transactions (built once, on first use: it depends on the
    database the app runs on)."""
    rows = json_rows("entries", _ENTRY_COLUMNS).subquery("entry")
    return insert(_ENTRIES).from_select([name for name, _type in _ENTRY_COLUMNS] + ["created_at"],
                                        select(*rows.c, bindparam("now", type_=UTCDateTime())))


def _open(brand_id: int, kind: str, occurred_at: datetime, order_id: int | None, reference: str | None,
          memo: dict | None, now: datetime) -> int:
    if occurred_at is None or occurred_at.tzinfo is None:
        raise ValueError("a ledger transaction needs its business time, with a time zone")
    return db.session.connection().execute(_INSERT_TRANSACTION, {
        "brand_id": brand_id, "kind": kind, "order_id": order_id, "reference": reference, "memo": memo or {},
        "occurred_at": occurred_at, "created_at": now}).scalar_one()


def post(draft: Draft, line_ids: Sequence[int] | None = None) -> int | None:
    """Write ``draft`` as one transaction (refused unless it balances) and return its id;
    None when it has no postings. ``line_ids``: each posting's ``commission_line_id`` is a
    place in this list (lines written just before, whose ids were not known when the draft
    was made). ``post_many`` of one draft."""
    return post_many([(draft, line_ids)])[0]


# RETURNING the ids in order, a few rows per statement: each statement stays short enough for
# the driver to keep its parsed form (psycopg caches statements up to 4 KiB), where one
# statement of thousands of rows would be parsed anew every time.
_INSERT_TRANSACTIONS = (insert(_TRANSACTIONS).returning(_TRANSACTIONS.c.id, sort_by_parameter_order=True)
                        .execution_options(insertmanyvalues_page_size=16))


def post_many(drafts: Sequence[tuple[Draft, Sequence[int] | None]]) -> list[int | None]:
    """Write many drafted transactions (each refused unless it balances, before anything is
    written): the transactions (one INSERT RETURNING their ids in order, sent in short pages),
    then every entry (one INSERT … SELECT). Returns each draft's transaction id (None:
    nothing to write)."""
    for draft, _line_ids in drafts:
        check_balanced(draft)
        if draft.occurred_at is None or draft.occurred_at.tzinfo is None:
            raise ValueError("a ledger transaction needs its business time, with a time zone")
    # What each draft writes (a draft whose postings net out per account writes nothing).
    written = [(draft, line_ids, entries) for draft, line_ids in drafts if (entries := draft.entries())]
    if not written:
        return [None] * len(drafts)
    now = utcnow()
    connection = db.session.connection()
    tx_ids = connection.execute(_INSERT_TRANSACTIONS, [
        {"brand_id": d.brand_id, "kind": d.kind, "order_id": d.order_id, "reference": d.reference,
         "memo": d.memo or {}, "occurred_at": d.occurred_at, "created_at": now} for d, _ids, _e in written
    ]).scalars().all()
    entries = []
    versions.touch_promoters({p.owner_id for _d, _ids, postings in written for p in postings
                              if p.kind in PROMOTER_KINDS})
    for (draft, line_ids, postings), tx_id in zip(written, tx_ids, strict=True):
        rollups.ledger_moved(draft.brand_id, draft.occurred_at,
                             sum(p.amount_fen for p in postings if p.kind == AccountKind.PROMOTER_FROZEN),
                             sum(p.amount_fen for p in postings if p.kind == AccountKind.PROMOTER_AVAILABLE))
        for p in postings:
            line = p.commission_line_id
            entries.append({"transaction_id": tx_id, "account_id": account_id(draft.brand_id, p.kind, p.owner_id),
                            "amount_fen": p.amount_fen,
                            "commission_line_id": line if line_ids is None or line is None else line_ids[line]})
    connection.execute(_insert_entries(), {"entries": json.dumps(entries), "now": now})
    by_draft = {id(draft): tx_id for (draft, _ids, _e), tx_id in zip(written, tx_ids, strict=True)}
    return [by_draft.get(id(draft)) for draft, _ids in drafts]


class Posted(NamedTuple):
    transaction_id: int
    entries: int
    moved_fen: int  # the sum of the positive entries


_ENTRY_TOTALS = select(func.count(LedgerEntry.id), func.coalesce(func.sum(LedgerEntry.amount_fen), 0),
                       func.coalesce(func.sum(case((LedgerEntry.amount_fen > 0, LedgerEntry.amount_fen), else_=0)), 0)
                       ).where(LedgerEntry.transaction_id == bindparam("tx_id"))


def post_from_select(brand_id: int, kind: str, occurred_at: datetime, entries, *, reference: str | None = None,
                     memo: dict | None = None, order_id: int | None = None) -> Posted:
    """One transaction whose entries are the rows of ``entries``, a SELECT of (account_id,
    amount_fen, commission_line_id): INSERT … SELECT, then the database sums what was written
    and the transaction is refused (``UnbalancedTransaction``; the caller rolls back) unless
    it balances and has entries."""
    now = utcnow()
    tx_id = _open(brand_id, kind, occurred_at, order_id, reference, memo, now)
    rows = entries.subquery("entry")
    db.session.execute(insert(LedgerEntry).from_select(
        ["transaction_id", "account_id", "amount_fen", "commission_line_id", "created_at"],
        select(literal(tx_id), rows.c[0], rows.c[1], rows.c[2], literal(now, UTCDateTime))))
    count, total, moved = db.session.execute(_ENTRY_TOTALS, {"tx_id": tx_id}).one()
    if count == 0:
        raise UnbalancedTransaction(f"{kind}: no entries")
    if total != 0:
        raise UnbalancedTransaction(f"{kind}: entries sum to {total}")
    versions.touch_promoters(db.session.scalars(_PROMOTERS_POSTED_TO, {"tx_id": tx_id}).all())
    wallet = dict(db.session.execute(_WALLET_POSTED, {"tx_id": tx_id}).all())
    rollups.ledger_moved(brand_id, occurred_at, int(wallet.get(AccountKind.PROMOTER_FROZEN) or 0),
                         int(wallet.get(AccountKind.PROMOTER_AVAILABLE) or 0))
    return Posted(tx_id, int(count), int(moved))


_PROMOTERS_POSTED_TO = (select(LedgerAccount.owner_id).distinct()
                        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
                        .where(LedgerEntry.transaction_id == bindparam("tx_id"),
                               LedgerAccount.kind.in_(sorted(PROMOTER_KINDS))))


# What one transaction moved on promoters' frozen and available accounts (the dashboard's sums).
_WALLET_POSTED = (select(LedgerAccount.kind, func.sum(LedgerEntry.amount_fen))
                  .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
                  .where(LedgerEntry.transaction_id == bindparam("tx_id"),
                         LedgerAccount.kind.in_([AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE]))
                  .group_by(LedgerAccount.kind))


# ---------------------------------------------------------------- reading


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
