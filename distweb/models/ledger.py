"""Commission plans and lines, and the double-entry ledger.

Every money movement is one LedgerTransaction whose entries sum to zero; entries are never
updated or deleted (mistakes are fixed with reversing transactions). An account's balance
is the sum of its entries: positive on a promoter's or supplier's account is what the brand
owes them.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow
from distweb.models.user import enum_column


class CommissionPlan(db.Model):
    """One version of a brand's rule set. A new version is written for every change; lines
    record the version that priced them, so editing never re-prices past orders."""

    __tablename__ = "commission_plans"
    __table_args__ = (UniqueConstraint("brand_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    version: Mapped[int]
    body: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    created_by = relationship("User")


class LineStatus(enum.StrEnum):
    FROZEN = "frozen"
    AVAILABLE = "available"
    PAID_OUT = "paid_out"
    REVERSED = "reversed"
    # Paid straight to the promoter by the provider's 分账 (``services.profit_sharing``),
    # not by a withdrawal: left out of what withdrawals cover.
    SPLIT_PAID = "split_paid"


class CommissionLine(db.Model):
    """What one promoter earns at one level on one order item. ``reversed_fen`` grows with
    refunds; what the promoter keeps is ``amount_fen - reversed_fen``."""

    __tablename__ = "commission_lines"
    __table_args__ = (
        UniqueConstraint("order_item_id", "promoter_id", "level", "kind"),
        CheckConstraint("amount_fen >= 0", name="amount_nonneg"),
        CheckConstraint("reversed_fen >= 0 AND reversed_fen <= amount_fen", name="reversed_within_amount"),
        Index("ix_commission_lines_promoter_status", "promoter_id", "status"),
        # The promoter home's "earned today / this month".
        Index("ix_commission_lines_promoter_created", "promoter_id", "created_at"),
        Index("ix_commission_lines_status_order", "status", "order_id"),
        # An order's lines, and for the dashboard what each keeps: the commission of a period's
        # orders is read from this index alone (migration 0013; it replaced the plain order_id one).
        Index("ix_commission_lines_order_kept", "order_id", "promoter_id", "amount_fen", "reversed_fen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    order_item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id"))
    promoter_id: Mapped[int] = mapped_column(ForeignKey("promoters.id"))
    level: Mapped[int]
    kind: Mapped[str] = mapped_column(String(12))  # commission | margin
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reversed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # Part of the reversal taken back from money already settled (a clawback).
    clawback_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[LineStatus] = mapped_column(enum_column(LineStatus, "line_status"), default=LineStatus.FROZEN)
    plan_version: Mapped[int | None]
    rule_index: Mapped[int | None]
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    settled_at = mapped_column(UTCDateTime)
    settlement_run_id: Mapped[int | None] = mapped_column(index=True)

    @property
    def kept_fen(self) -> int:
        return self.amount_fen - self.reversed_fen


class AccountKind(enum.StrEnum):
    BRAND_COMMISSION_EXPENSE = "brand_commission_expense"
    BRAND_CLEARING = "brand_clearing"  # buyers' money collected for consignment orders
    BRAND_REVENUE = "brand_revenue"  # margin no one is paid (a skipped position), or a shortfall
    SUPPLIER_PAYABLE = "supplier_payable"
    PROMOTER_FROZEN = "promoter_frozen"
    PROMOTER_AVAILABLE = "promoter_available"
    PROMOTER_PENDING_WITHDRAWAL = "promoter_pending_withdrawal"
    WITHDRAWALS_IN_TRANSIT = "withdrawals_in_transit"
    WITHDRAWAL_FEES = "withdrawal_fees"
    PAID_OUT = "paid_out"  # money that left through withdrawals


class LedgerAccount(db.Model):
    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("brand_id", "kind", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    kind: Mapped[AccountKind] = mapped_column(enum_column(AccountKind, "account_kind", length=32))
    # The promoter or supplier id for their accounts; 0 for the brand's own accounts.
    owner_id: Mapped[int] = mapped_column(default=0)


class LedgerTransaction(db.Model):
    """One balanced movement of money. ``occurred_at`` is its business time (an accrual at the
    order's payment, a reversal at the refund, a settlement at the run's ``as_of``, a
    withdrawal at each step): statements and dashboards group by it in the brand's time
    zone; ``created_at`` is only when the row was written."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (Index("ix_ledger_tx_order", "order_id"), Index("ix_ledger_tx_brand_occurred", "brand_id", "occurred_at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    kind: Mapped[str] = mapped_column(String(24))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    reference: Mapped[str | None] = mapped_column(String(80))
    memo: Mapped[dict] = mapped_column(JSON, default=dict)
    occurred_at = mapped_column(UTCDateTime, nullable=False)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    entries = relationship("LedgerEntry", back_populates="transaction")


class LedgerEntry(db.Model):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount_fen <> 0", name="amount_nonzero"),
        Index("ix_ledger_entries_account", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    commission_line_id: Mapped[int | None] = mapped_column(ForeignKey("commission_lines.id"), index=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    transaction = relationship("LedgerTransaction", back_populates="entries")


class LedgerBalanceCheck(db.Model):
    """PostgreSQL's own bookkeeping for its balance check (migration 9a4c7e2b5d61): the ledger
    transactions an INSERT of entries touched, each checked to sum to zero once, at commit,
    and removed. Always empty between transactions; unused on SQLite."""

    __tablename__ = "ledger_balance_checks"

    transaction_id: Mapped[int] = mapped_column(BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True,
                                                autoincrement=False)
