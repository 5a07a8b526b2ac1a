"""``ledger verify``: the whole database checked against the ledger's rules.

1. every transaction has entries and balances, and all accounts together sum to zero;
2. what the ledger holds for each line in its promoter's wallet is what the line keeps;
3. each line's state agrees with its money (reversed iff it keeps nothing, settled lines
   have a settlement time, a clawback never exceeds the reversal);
4. every promoter's balances are what its lines and withdrawals say: frozen = what its
   frozen lines keep; available = what its settled lines keep less every withdrawal not
   rejected; held for withdrawal = withdrawals requested or approved; paid out = the net of
   paid withdrawals; fees = the fees of paid withdrawals. Nothing is negative but an
   available balance carrying a clawback;
5. every paid order's lines are what its plan version prices again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, or_, select

from distweb.extensions import db
from distweb.models import (
    CommissionLine,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Order,
    Withdrawal,
)
from distweb.models.ledger import AccountKind, LineStatus
from distweb.models.order import OrderStatus
from distweb.models.payouts import WithdrawalStatus


@dataclass
class Report:
    transactions: int = 0
    entries: int = 0
    lines: int = 0
    promoters: int = 0
    orders_repriced: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def verify(brand_id: int | None = None, reprice_limit: int | None = None, reprice: bool = True) -> Report:
    report = Report()
    _transactions(report, brand_id)
    _lines(report, brand_id)
    _balances(report, brand_id)
    if reprice:
        _reprice(report, brand_id, reprice_limit)
    return report


def _transactions(report: Report, brand_id: int | None) -> None:
    tx_filter = [] if brand_id is None else [LedgerTransaction.brand_id == brand_id]
    report.transactions = db.session.scalar(select(func.count(LedgerTransaction.id)).where(*tx_filter))
    report.entries = db.session.scalar(select(func.count(LedgerEntry.id)).join(LedgerTransaction).where(*tx_filter))
    for tx_id, total in db.session.execute(
        select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount_fen)).join(LedgerTransaction)
        .where(*tx_filter).group_by(LedgerEntry.transaction_id).having(func.sum(LedgerEntry.amount_fen) != 0)
    ):
        report.violations.append(f"transaction {tx_id} does not balance: {total}")
    for (tx_id,) in db.session.execute(
        select(LedgerTransaction.id).where(*tx_filter, ~select(LedgerEntry.id).where(
            LedgerEntry.transaction_id == LedgerTransaction.id).exists())
    ):
        report.violations.append(f"transaction {tx_id} has no entries")
    grand = db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).join(LedgerTransaction)
                              .where(*tx_filter))
    if grand:
        report.violations.append(f"accounts sum to {grand}, not 0")


def _lines(report: Report, brand_id: int | None) -> None:
    line_filter = [] if brand_id is None else [CommissionLine.brand_id == brand_id]
    report.lines = db.session.scalar(select(func.count(CommissionLine.id)).where(*line_filter))
    wallet_kinds = (AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE)
    held = (
        select(LedgerEntry.commission_line_id.label("line_id"), func.sum(LedgerEntry.amount_fen).label("held"))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.commission_line_id.is_not(None), LedgerAccount.kind.in_(wallet_kinds),
               *([] if brand_id is None else [LedgerAccount.brand_id == brand_id]))
        .group_by(LedgerEntry.commission_line_id)
        .subquery()
    )
    kept = CommissionLine.amount_fen - CommissionLine.reversed_fen
    for line_id, status, amount, reversed_, held_fen in db.session.execute(
        select(CommissionLine.id, CommissionLine.status, CommissionLine.amount_fen, CommissionLine.reversed_fen,
               func.coalesce(held.c.held, 0))
        .outerjoin(held, held.c.line_id == CommissionLine.id)
        .where(*line_filter, func.coalesce(held.c.held, 0) != kept)
    ):
        report.violations.append(f"line {line_id} ({status.value}): keeps {amount - reversed_}, "
                                 f"ledger holds {held_fen} for the promoter")
    settled = CommissionLine.settled_at.is_not(None)
    wrong_state = or_(
        CommissionLine.reversed_fen > CommissionLine.amount_fen,
        CommissionLine.clawback_fen > CommissionLine.reversed_fen,
        # A line that gave everything back is reversed, and only such a line (a margin line
        # that funds its uplines may keep nothing from the start: it stays in its state).
        and_(CommissionLine.status == LineStatus.REVERSED, kept != 0),
        and_(CommissionLine.status != LineStatus.REVERSED, kept == 0, CommissionLine.reversed_fen > 0),
        and_(CommissionLine.status == LineStatus.FROZEN, settled),
        and_(CommissionLine.status.in_((LineStatus.AVAILABLE, LineStatus.PAID_OUT, LineStatus.SPLIT_PAID)), ~settled),
        # Money taken back from a wallet is a clawback only once the line was settled.
        and_(CommissionLine.clawback_fen > 0, ~settled),
    )
    for line_id, status, amount, reversed_, clawback in db.session.execute(
        select(CommissionLine.id, CommissionLine.status, CommissionLine.amount_fen, CommissionLine.reversed_fen,
               CommissionLine.clawback_fen).where(*line_filter, wrong_state)
    ):
        report.violations.append(f"line {line_id} is {status.value} with amount {amount}, reversed {reversed_}, "
                                 f"clawback {clawback}")


def _balances(report: Report, brand_id: int | None) -> None:
    """Each promoter's wallet against its lines and withdrawals, in three grouped queries."""
    account_filter = [] if brand_id is None else [LedgerAccount.brand_id == brand_id]
    ledger_rows = db.session.execute(
        select(LedgerAccount.brand_id, LedgerAccount.kind, LedgerAccount.owner_id,
               func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .outerjoin(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(*account_filter).group_by(LedgerAccount.brand_id, LedgerAccount.kind, LedgerAccount.owner_id))
    on_books: dict[tuple[int, AccountKind, int], int] = {(b, kind, owner): int(total)
                                                           for b, kind, owner, total in ledger_rows}
    kept = CommissionLine.amount_fen - CommissionLine.reversed_fen
    line_filter = [] if brand_id is None else [CommissionLine.brand_id == brand_id]
    expected: dict[tuple[int, AccountKind, int], int] = {}
    clawed: dict[tuple[int, int], int] = {}
    for b, promoter_id, frozen, settled, clawback in db.session.execute(
        select(CommissionLine.brand_id, CommissionLine.promoter_id,
               func.sum(case((CommissionLine.status == LineStatus.FROZEN, kept), else_=0)),
               func.sum(case((CommissionLine.settled_at.is_not(None), kept), else_=0)),
               func.sum(CommissionLine.clawback_fen))
        .where(*line_filter).group_by(CommissionLine.brand_id, CommissionLine.promoter_id)
    ):
        expected[(b, AccountKind.PROMOTER_FROZEN, promoter_id)] = int(frozen)
        expected[(b, AccountKind.PROMOTER_AVAILABLE, promoter_id)] = int(settled)
        clawed[(b, promoter_id)] = int(clawback)
    w_filter = [] if brand_id is None else [Withdrawal.brand_id == brand_id]
    live = Withdrawal.status.in_((WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED))
    paid = Withdrawal.status == WithdrawalStatus.PAID
    fees: dict[int, int] = {}
    for b, promoter_id, held, taken, net, fee in db.session.execute(
        select(Withdrawal.brand_id, Withdrawal.promoter_id,
               func.sum(case((live, Withdrawal.amount_fen), else_=0)),
               func.sum(case((Withdrawal.status != WithdrawalStatus.REJECTED, Withdrawal.amount_fen), else_=0)),
               func.sum(case((paid, Withdrawal.net_fen), else_=0)),
               func.sum(case((paid, Withdrawal.fee_fen), else_=0)))
        .where(*w_filter).group_by(Withdrawal.brand_id, Withdrawal.promoter_id)
    ):
        expected[(b, AccountKind.PROMOTER_PENDING_WITHDRAWAL, promoter_id)] = int(held)
        key = (b, AccountKind.PROMOTER_AVAILABLE, promoter_id)
        expected[key] = expected.get(key, 0) - int(taken)
        expected[(b, AccountKind.PAID_OUT, promoter_id)] = int(net)
        fees[b] = fees.get(b, 0) + int(fee)
    for b, total in fees.items():
        expected[(b, AccountKind.WITHDRAWAL_FEES, 0)] = total
    for (b, kind, promoter_id), fen in _commission_splits(brand_id).items():
        expected[(b, kind, promoter_id)] = expected.get((b, kind, promoter_id), 0) + fen
    checked = {AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE, AccountKind.PROMOTER_PENDING_WITHDRAWAL,
               AccountKind.PAID_OUT, AccountKind.WITHDRAWAL_FEES}
    keys = set(expected) | {key for key in on_books if key[1] in checked}
    report.promoters = len({(b, owner) for b, kind, owner in keys if kind != AccountKind.WITHDRAWAL_FEES})
    for key in sorted(keys, key=lambda k: (k[0], k[2], k[1].value)):
        b, kind, owner = key
        books, wanted = on_books.get(key, 0), expected.get(key, 0)
        if books != wanted:
            report.violations.append(f"{kind.value} of {owner} (brand {b}) is {books}, its lines and "
                                     f"withdrawals say {wanted}")
        if books < 0 and not (kind == AccountKind.PROMOTER_AVAILABLE and clawed.get((b, owner), 0) >= -books):
            report.violations.append(f"{kind.value} of {owner} (brand {b}) is negative ({books}) "
                                     "beyond what clawbacks explain")


def _commission_splits(brand_id: int | None) -> dict[tuple[int, AccountKind, int], int]:
    """How commission 分账 moved promoters' money (``services.profit_sharing``): a part held
    while its split is pending, paid out once it succeeded (less what split returns gave
    back), nothing once it failed."""
    from distweb.models import ProfitSplit, SplitReturn

    moved: dict[tuple[int, AccountKind, int], int] = {}

    def add(b, kind, owner, fen):
        moved[(b, kind, owner)] = moved.get((b, kind, owner), 0) + fen

    split_filter = [] if brand_id is None else [ProfitSplit.brand_id == brand_id]
    # A split failed without the provider's word (timeouts, errors: completed_at unset)
    # keeps its holds like a pending one until a query settles it.
    unresolved = (ProfitSplit.status == "failed") & ProfitSplit.completed_at.is_(None)
    for split in db.session.scalars(select(ProfitSplit).where(
            *split_filter, ProfitSplit.status.in_(("pending", "succeeded")) | unresolved)):
        for part in split.receivers or []:
            if part.get("kind") != "promoter" or part.get("manual"):
                continue
            add(split.brand_id, AccountKind.PROMOTER_AVAILABLE, int(part["promoter_id"]), -int(part["amount_fen"]))
            if split.status == "succeeded":
                add(split.brand_id, AccountKind.PAID_OUT, int(part["promoter_id"]), int(part["amount_fen"]))
    for split in db.session.scalars(select(ProfitSplit).where(*split_filter, ProfitSplit.status == "failed",
                                                              ProfitSplit.completed_at.is_not(None))):
        for part in split.receivers or []:  # a split the provider paid only in part
            if part.get("kind") == "promoter" and not part.get("manual") and part.get("result") == "SUCCESS":
                add(split.brand_id, AccountKind.PROMOTER_AVAILABLE, int(part["promoter_id"]), -int(part["amount_fen"]))
                add(split.brand_id, AccountKind.PAID_OUT, int(part["promoter_id"]), int(part["amount_fen"]))
    return_filter = [] if brand_id is None else [SplitReturn.brand_id == brand_id]
    for returned in db.session.scalars(select(SplitReturn).where(*return_filter, SplitReturn.status == "succeeded")):
        for part in returned.receivers or []:
            if part.get("kind") == "promoter" and not part.get("manual"):
                add(returned.brand_id, AccountKind.PROMOTER_AVAILABLE, int(part["promoter_id"]), int(part["amount_fen"]))
                add(returned.brand_id, AccountKind.PAID_OUT, int(part["promoter_id"]), -int(part["amount_fen"]))
    return moved


def _reprice(report: Report, brand_id: int | None, reprice_limit: int | None) -> None:
    from distweb.services import commission

    order_filter = [Order.status.in_([OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED,
                                      OrderStatus.REFUNDED])]
    if brand_id is not None:
        order_filter.append(Order.brand_id == brand_id)
    stmt = select(Order).where(*order_filter).order_by(Order.id.desc())
    if reprice_limit:
        stmt = stmt.limit(reprice_limit)
    for order in db.session.scalars(stmt):
        stored = {(line.order_item_id, line.promoter_id, line.level, line.kind): line
                  for line in db.session.scalars(select(CommissionLine).where(CommissionLine.order_id == order.id))}
        report.orders_repriced += 1
        if not stored:
            continue  # nothing to compare: which plan was in force when it was paid is not recorded
        # The plan that priced the lines: their version, or the built-in default plan for
        # lines written before any plan was saved (version None), never the current plan.
        version = next(iter(stored.values())).plan_version
        priced = commission.reprice(order, version)
        expected = {(p.item_index, p.promoter_id, p.level, p.kind): p.amount_fen for p in priced}
        actual = {key: line.amount_fen for key, line in stored.items()}
        if expected != actual:
            plan = f"v{version}" if version is not None else "default"
            report.violations.append(f"order {order.external_id}: lines {actual} differ from plan {plan} {expected}")
