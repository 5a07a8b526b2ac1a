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
    # One grouped query: what the ledger moved to or from each line's promoter wallet.
    from distweb.models import LedgerAccount
    from distweb.models.ledger import AccountKind

    wallet_kinds = (AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE)
    held = (
        select(LedgerEntry.commission_line_id.label("line_id"), func.sum(LedgerEntry.amount_fen).label("held"))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.commission_line_id.is_not(None), LedgerAccount.kind.in_(wallet_kinds))
        .group_by(LedgerEntry.commission_line_id)
        .subquery()
    )
    kept = CommissionLine.amount_fen - CommissionLine.reversed_fen
    for line_id, status, amount, reversed_, held_fen in db.session.execute(
        select(CommissionLine.id, CommissionLine.status, CommissionLine.amount_fen, CommissionLine.reversed_fen,
               func.coalesce(held.c.held, 0))
        .outerjoin(held, held.c.line_id == CommissionLine.id)
        .where(*line_filter, (func.coalesce(held.c.held, 0) != kept) | (CommissionLine.reversed_fen > CommissionLine.amount_fen)
               | ((CommissionLine.status == LineStatus.REVERSED) & (kept != 0)))
    ):
        report.violations.append(f"line {line_id} ({status.value}): keeps {amount - reversed_}, "
                                 f"ledger holds {held_fen} for the promoter")
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
