"""A promoter's money as the API and the wallet page show it: balances are sums of ledger
entries, never a separately kept number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from distweb.extensions import db
from distweb.models import CommissionLine, Order, Promoter
from distweb.models.ledger import AccountKind
from distweb.services import ledger

WALLET_KINDS = [AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE, AccountKind.PROMOTER_PENDING_WITHDRAWAL]


def balances(promoter_id: int) -> dict[str, int]:
    promoter = db.session.get(Promoter, promoter_id)
    found = ledger.balances_for(promoter.brand_id, promoter_id, WALLET_KINDS + [AccountKind.PAID_OUT])
    return {
        "frozen_fen": found[AccountKind.PROMOTER_FROZEN],
        "available_fen": found[AccountKind.PROMOTER_AVAILABLE],
        "pending_withdrawal_fen": found[AccountKind.PROMOTER_PENDING_WITHDRAWAL],
        "withdrawn_fen": found[AccountKind.PAID_OUT],
    }


@dataclass
class WalletLine:
    line: CommissionLine
    order: Order
    unfreezes_on: datetime | None


def lines(promoter_id: int, since: datetime | None = None, until: datetime | None = None,
          limit: int = 100) -> list[WalletLine]:
    """The promoter's commission lines, newest first, each with the date it unfreezes."""
    from distweb.services.commission import plan_version

    stmt = (
        select(CommissionLine, Order)
        .join(Order, Order.id == CommissionLine.order_id)
        .where(CommissionLine.promoter_id == promoter_id)
        .order_by(CommissionLine.id.desc())
        .limit(limit)
    )
    if since:
        stmt = stmt.where(CommissionLine.created_at >= since)
    if until:
        stmt = stmt.where(CommissionLine.created_at < until)
    out = []
    for line, order in db.session.execute(stmt):
        unfreezes = None
        if order.completed_at is not None and line.status.value == "frozen":
            days = plan_version(order.brand_id, line.plan_version).freeze_days if line.plan_version else 7
            unfreezes = order.completed_at + timedelta(days=days)
        out.append(WalletLine(line, order, unfreezes))
    return out


# ---------------------------------------------------------------- grouped by order (the wallet page)

GROUP_PAGE_SIZE = 20


@dataclass
class GroupLine:
    line: CommissionLine
    product: str


@dataclass
class OrderGroup:
    """One order's commission for the promoter: its products, each line (level, amount,
    state), the total kept, and — while frozen — why and until when."""

    order: Order
    products: list[str]
    lines: list[GroupLine]
    kept_fen: int
    frozen: bool
    waiting_for_receipt: bool  # frozen until the buyer confirms receipt, then the freeze days
    freeze_days: int
    unfreezes_on: datetime | None  # local midnight the freeze window ends (receipt confirmed)


def unfreeze_moment(completed_at: datetime, freeze_days: int, tz: str) -> datetime:
    """When a line of an order completed at ``completed_at`` may settle: the local midnight
    ``freeze_days`` calendar days after the local day it completed (settlement.freeze_cutoff
    seen from the order's side)."""
    from datetime import time
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    day = completed_at.astimezone(zone).date() + timedelta(days=freeze_days)
    return datetime.combine(day, time(0), tzinfo=zone)


def order_groups(promoter_id: int, tz: str, since: datetime | None = None, until: datetime | None = None,
                 before_order_id: int | None = None, limit: int = GROUP_PAGE_SIZE) -> list[OrderGroup]:
    """The promoter's commission grouped by order, newest order first, one page at a time
    (keyset on the order id); the month filter picks orders with a line made in it."""
    from distweb.models import OrderItem
    from distweb.services.commission import DEFAULT_PLAN, plan_version

    pick = (select(CommissionLine.order_id).where(CommissionLine.promoter_id == promoter_id)
            .group_by(CommissionLine.order_id).order_by(CommissionLine.order_id.desc()).limit(limit))
    if since:
        pick = pick.where(CommissionLine.created_at >= since)
    if until:
        pick = pick.where(CommissionLine.created_at < until)
    if before_order_id:
        pick = pick.where(CommissionLine.order_id < before_order_id)
    order_ids = list(db.session.scalars(pick))
    if not order_ids:
        return []
    rows = db.session.execute(
        select(CommissionLine, OrderItem.name)
        .join(OrderItem, OrderItem.id == CommissionLine.order_item_id)
        .where(CommissionLine.promoter_id == promoter_id, CommissionLine.order_id.in_(order_ids))
        .order_by(CommissionLine.order_id.desc(), CommissionLine.level, CommissionLine.id))
    by_order: dict[int, list[GroupLine]] = {}
    for line, product in rows:
        by_order.setdefault(line.order_id, []).append(GroupLine(line, product))
    orders = {o.id: o for o in db.session.scalars(select(Order).where(Order.id.in_(order_ids)))}
    out = []
    for order_id in order_ids:
        order, lines_ = orders[order_id], by_order.get(order_id, [])
        frozen_lines = [g.line for g in lines_ if g.line.status.value == "frozen"]
        version = frozen_lines[0].plan_version if frozen_lines else None
        days = plan_version(order.brand_id, version).freeze_days if version else DEFAULT_PLAN["freeze_days"]
        waiting = bool(frozen_lines) and order.completed_at is None
        unfreezes = (unfreeze_moment(order.completed_at, days, tz)
                     if frozen_lines and order.completed_at is not None else None)
        products = list(dict.fromkeys(g.product for g in lines_))
        out.append(OrderGroup(order, products, lines_, sum(g.line.kept_fen for g in lines_), bool(frozen_lines),
                              waiting, days, unfreezes))
    return out


__all__ = ["balances", "lines", "joinedload", "order_groups"]
