"""``ledger verify``: the whole database checked against the ledger's rules."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from distweb.extensions import db
from distweb.models import CommissionLine, LedgerEntry, LedgerTransaction, Order
from distweb.models.ledger import LineStatus
from distweb.models.order import OrderStatus


@dataclass
class Report:
    transactions: int = 0
    entries: int = 0
    lines: int = 0
    orders_repriced: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def verify(brand_id: int | None = None, reprice_limit: int | None = None) -> Report:
    from distweb.services import commission

    report = Report()
    tx_filter = [] if brand_id is None else [LedgerTransaction.brand_id == brand_id]
    report.transactions = db.session.scalar(select(func.count(LedgerTransaction.id)).where(*tx_filter))
    report.entries = db.session.scalar(
        select(func.count(LedgerEntry.id)).join(LedgerTransaction).where(*tx_filter))
    # 1. every transaction balances
    for tx_id, total in db.session.execute(
        select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount_fen)).join(LedgerTransaction)
        .where(*tx_filter).group_by(LedgerEntry.transaction_id).having(func.sum(LedgerEntry.amount_fen) != 0)
    ):
        report.violations.append(f"transaction {tx_id} does not balance: {total}")
    # 2. all accounts together sum to zero
    grand = db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).join(LedgerTransaction)
                              .where(*tx_filter))
    if grand:
        report.violations.append(f"accounts sum to {grand}, not 0")
    # 3. each line's money on the ledger equals what the line says it keeps
    line_filter = [] if brand_id is None else [CommissionLine.brand_id == brand_id]
    report.lines = db.session.scalar(select(func.count(CommissionLine.id)).where(*line_filter))
    for line_id, kept, posted in db.session.execute(
        select(CommissionLine.id, CommissionLine.amount_fen - CommissionLine.reversed_fen,
               func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .outerjoin(LedgerEntry, (LedgerEntry.commission_line_id == CommissionLine.id) & (LedgerEntry.amount_fen > 0)
                   & ~LedgerEntry.account_id.in_(_funding_accounts()))
        .where(*line_filter).group_by(CommissionLine.id, CommissionLine.amount_fen, CommissionLine.reversed_fen)
    ):
        del line_id, kept, posted  # checked through the per-line balance below
    for line in db.session.scalars(select(CommissionLine).where(*line_filter)):
        if line.reversed_fen > line.amount_fen or line.reversed_fen < 0:
            report.violations.append(f"line {line.id} reversed {line.reversed_fen} of {line.amount_fen}")
        if line.status == LineStatus.REVERSED and line.kept_fen != 0:
            report.violations.append(f"line {line.id} is reversed but keeps {line.kept_fen}")
        net = _promoter_money_for_line(line.id)
        if net != line.kept_fen:
            report.violations.append(f"line {line.id}: ledger holds {net} for the promoter, line keeps {line.kept_fen}")
    # 4. every paid order's lines match its plan version when priced again
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
        if not stored:
            version = None
        else:
            version = next(iter(stored.values())).plan_version
        _v, priced = commission.price(order, version) if stored else commission.price(order, None)
        if not stored and not priced:
            report.orders_repriced += 1
            continue
        expected = {(p.item_index, p.promoter_id, p.level, p.kind): p.amount_fen for p in priced}
        actual = {key: line.amount_fen for key, line in stored.items()}
        if stored and expected != actual:
            report.violations.append(f"order {order.external_id}: lines {actual} differ from plan v{version} {expected}")
        report.orders_repriced += 1
    return report


def _funding_accounts():
    from distweb.models import LedgerAccount
    from distweb.models.ledger import AccountKind

    promoter_kinds = (AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE,
                      AccountKind.PROMOTER_PENDING_WITHDRAWAL, AccountKind.PAID_OUT)
    return select(LedgerAccount.id).where(~LedgerAccount.kind.in_(promoter_kinds))


def _promoter_money_for_line(line_id: int) -> int:
    """What the ledger moved to or from the promoter's wallet accounts for this line."""
    from distweb.models import LedgerAccount
    from distweb.models.ledger import AccountKind

    return int(db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.commission_line_id == line_id,
               LedgerAccount.kind.in_((AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE)))
    ))
