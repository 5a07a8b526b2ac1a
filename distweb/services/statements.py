"""Monthly statements (对账单): every movement of a promoter's money in a period, between an
opening and a closing balance, rendered to PDF by a pdf-queue worker.

The balance is the promoter's whole account with the brand: frozen + available + held for
withdrawal. Withdrawals paid out leave it; refunds taken back appear as negative lines.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from distweb.extensions import db
from distweb.models import (
    Brand,
    CommissionLine,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Order,
    Promoter,
    Statement,
)
from distweb.models.base import utcnow
from distweb.models.ledger import AccountKind
from distweb.models.payouts import RunStatus
from distweb.services import jobs
from distweb.services.errors import NotFound, ServiceError
from distweb.services.tx import transaction

BALANCE_KINDS = (AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE, AccountKind.PROMOTER_PENDING_WITHDRAWAL)


def period_bounds(period: str, tz: str) -> tuple[datetime, datetime]:
    try:
        start = datetime.strptime(period, "%Y-%m").replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        raise ServiceError("invalid_period", _l("期间格式应为 YYYY-MM。"), "period") from None
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


@dataclass
class Movement:
    at: datetime
    kind: str
    order_no: str | None
    level: int | None
    amount_fen: int


@dataclass
class StatementData:
    brand: Brand
    promoter: Promoter
    period: str
    opening_fen: int
    closing_fen: int
    movements: list[Movement]
    earned_fen: int
    reversed_fen: int
    withdrawn_fen: int
    fees_fen: int
    checksum: str


def build(promoter: Promoter, period: str) -> StatementData:
    brand = db.session.get(Brand, promoter.brand_id)
    start, end = period_bounds(period, brand.timezone)
    base = (
        select(LedgerEntry, LedgerTransaction)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.brand_id == brand.id, LedgerAccount.owner_id == promoter.id,
               LedgerAccount.kind.in_(BALANCE_KINDS))
    )
    # Periods group by each transaction's business time (docs/API.md), never by when a row
    # was written: an imported old order lands in its own month.
    opening = int(db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.brand_id == brand.id, LedgerAccount.owner_id == promoter.id,
               LedgerAccount.kind.in_(BALANCE_KINDS), LedgerTransaction.occurred_at < start)))
    # Moves inside the promoter's own accounts (settlement, a withdrawal hold) net to zero
    # per transaction: the statement shows what came in and what went out.
    per_tx: dict[int, tuple[LedgerTransaction, int, int | None]] = {}
    for entry, tx in db.session.execute(
            base.where(LedgerTransaction.occurred_at >= start, LedgerTransaction.occurred_at < end)
            .order_by(LedgerTransaction.occurred_at, LedgerTransaction.id, LedgerEntry.id)):
        current = per_tx.get(tx.id)
        per_tx[tx.id] = (tx, (current[1] if current else 0) + entry.amount_fen,
                         entry.commission_line_id or (current[2] if current else None))
    lines = {}
    line_ids = [line_id for _tx, _amt, line_id in per_tx.values() if line_id]
    if line_ids:
        for line, order_no in db.session.execute(
            select(CommissionLine, Order.external_id).join(Order, Order.id == CommissionLine.order_id)
            .where(CommissionLine.id.in_(line_ids))
        ):
            lines[line.id] = (line, order_no)
    movements, earned, reversed_, withdrawn = [], 0, 0, 0
    for tx, amount, line_id in per_tx.values():
        if amount == 0:
            continue
        line = lines.get(line_id)
        movements.append(Movement(tx.occurred_at, tx.kind, line[1] if line else None, line[0].level if line else None,
                                  amount))
        if tx.kind == "accrual":
            earned += amount
        elif tx.kind in ("reversal", "cancellation"):
            reversed_ += amount
        elif tx.kind == "withdrawal_paid":
            withdrawn += amount
    fees = 0
    if any(tx.kind == "withdrawal_paid" for tx, _a, _l2 in per_tx.values()):
        from distweb.models import Withdrawal

        fees = int(db.session.scalar(select(func.coalesce(func.sum(Withdrawal.fee_fen), 0)).where(
            Withdrawal.promoter_id == promoter.id, Withdrawal.paid_at >= start, Withdrawal.paid_at < end)))
    closing = opening + sum(m.amount_fen for m in movements)
    digest = hashlib.sha256(
        f"{brand.id}|{promoter.code}|{period}|{opening}|{closing}|".encode()
        + "|".join(f"{m.at.isoformat()}:{m.kind}:{m.order_no}:{m.amount_fen}" for m in movements).encode()
    ).hexdigest()
    return StatementData(brand, promoter, period, opening, closing, movements, earned, reversed_, withdrawn, fees,
                         digest)


def request(promoter: Promoter, period: str) -> Statement:
    """The promoter's statement for a period: queued for rendering if not there yet."""
    brand = db.session.get(Brand, promoter.brand_id)
    period_bounds(period, brand.timezone)
    existing = db.session.scalars(select(Statement).where(Statement.promoter_id == promoter.id,
                                                          Statement.period == period)).first()
    if existing is not None and existing.status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED):
        if existing.status == RunStatus.SUCCEEDED and not _stale(existing):
            return existing
        if existing.status != RunStatus.SUCCEEDED and not _job_gave_up(existing):
            return existing
    with transaction():
        statement = existing or Statement(brand_id=promoter.brand_id, promoter_id=promoter.id, period=period)
        statement.status = RunStatus.QUEUED
        db.session.add(statement)
    job = jobs.create_job("statement", brand_id=promoter.brand_id)
    with transaction():
        statement.job_id = job.id
    return statement


def _job_gave_up(statement: Statement) -> bool:
    """Its render job failed for good (or is gone): the statement says queued or running but
    nothing will render it, so asking again must queue a new render."""
    from distweb.models import Job
    from distweb.models.job import JobStatus

    job = db.session.get(Job, statement.job_id) if statement.job_id is not None else None
    if job is None:
        return statement.created_at < utcnow() - timedelta(minutes=1)  # not its own request's moment
    return job.status == JobStatus.FAILED


def _stale(statement: Statement) -> bool:
    """A statement of the running month is rendered again when asked (it keeps growing)."""
    brand = db.session.get(Brand, statement.brand_id)
    return statement.period >= utcnow().astimezone(ZoneInfo(brand.timezone)).strftime("%Y-%m")


def storage_dir() -> Path:
    path = Path(current_app.config.get("DISTWEB_STATEMENTS") or Path(current_app.config["INSTANCE_PATH"]) / "statements")
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_path(statement: Statement) -> Path:
    return storage_dir() / f"statement-{statement.id}.pdf"


def get_for_promoter(promoter_id: int, statement_id: int) -> Statement:
    statement = db.session.get(Statement, statement_id)
    if statement is None or statement.promoter_id != promoter_id:
        raise NotFound("statement_not_found", _l("对账单不存在。"))
    return statement


def get_for_brand(brand_id: int, statement_id: int) -> Statement:
    statement = db.session.get(Statement, statement_id)
    if statement is None or statement.brand_id != brand_id:
        raise NotFound("statement_not_found", _l("对账单不存在。"))
    return statement


def for_promoter(promoter_id: int) -> list[Statement]:
    return list(db.session.scalars(select(Statement).where(Statement.promoter_id == promoter_id)
                                   .order_by(Statement.period.desc())))
