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


__all__ = ["balances", "lines", "joinedload"]
