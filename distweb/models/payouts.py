"""Settlement runs, withdrawals, payout accounts, statements and in-app notifications."""

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
    text,
)
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow
from distweb.models.user import enum_column


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SettlementRun(db.Model):
    """结算: moves every frozen line whose order completed at least ``freeze_days`` before
    ``as_of`` to available. Runs in batches; a rerun settles nothing twice."""

    __tablename__ = "settlement_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    as_of = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[RunStatus] = mapped_column(enum_column(RunStatus, "run_status"), default=RunStatus.QUEUED)
    trigger: Mapped[str] = mapped_column(String(12), default="manual")  # manual | api | schedule
    period_key: Mapped[str | None] = mapped_column(String(20))  # the scheduled period it covers
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    settled_count: Mapped[int] = mapped_column(default=0)
    settled_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # a large run exceeds 32 bits
    error: Mapped[str | None] = mapped_column(String(2000))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at = mapped_column(UTCDateTime)
    finished_at = mapped_column(UTCDateTime)


class WithdrawalStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    PAID = "paid"
    REJECTED = "rejected"


class Withdrawal(db.Model):
    """提现: the amount is held (pending) at once; returned on rejection."""

    __tablename__ = "withdrawals"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("fee_fen >= 0 AND fee_fen <= amount_fen", name="fee_within_amount"),
        CheckConstraint("net_fen = amount_fen - fee_fen", name="net_is_amount_less_fee"),
        Index("ix_withdrawals_brand_status", "brand_id", "status"),
        Index("ix_withdrawals_promoter_created", "promoter_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    promoter_id: Mapped[int] = mapped_column(ForeignKey("promoters.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    net_fen: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(12))  # bank | alipay | wechat
    account_name: Mapped[str] = mapped_column(String(60))
    account_no: Mapped[str] = mapped_column(String(60))
    status: Mapped[WithdrawalStatus] = mapped_column(
        enum_column(WithdrawalStatus, "withdrawal_status"), default=WithdrawalStatus.REQUESTED
    )
    reason: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(80))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    decided_at = mapped_column(UTCDateTime)
    paid_at = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    promoter = relationship("Promoter")


class PayoutAccount(db.Model):
    """Where a promoter's withdrawals go. Changing it asks for the password again."""

    __tablename__ = "payout_accounts"

    promoter_id: Mapped[int] = mapped_column(ForeignKey("promoters.id"), primary_key=True)
    method: Mapped[str] = mapped_column(String(12))
    account_name: Mapped[str] = mapped_column(String(60))
    account_no: Mapped[str] = mapped_column(String(60))
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
    # When ``account_no`` is the openid WeChat's OAuth gave for this promoter under the
    # brand's AppID (the account 商家转账 pays); None for an account typed in.
    wechat_bound_at = mapped_column(UTCDateTime)


class Statement(db.Model):
    """对账单: one PDF per promoter and period (YYYY-MM), rendered by a pdf-queue worker."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("promoter_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    promoter_id: Mapped[int] = mapped_column(ForeignKey("promoters.id"))
    period: Mapped[str] = mapped_column(String(7))
    status: Mapped[RunStatus] = mapped_column(enum_column(RunStatus, "statement_status"), default=RunStatus.QUEUED)
    opening_fen: Mapped[int | None] = mapped_column(BigInteger)
    closing_fen: Mapped[int | None] = mapped_column(BigInteger)
    file_name: Mapped[str | None] = mapped_column(String(120))
    checksum: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    rendered_at = mapped_column(UTCDateTime)


class Notification(db.Model):
    """The in-app inbox (the primary channel; Web Push is an extra)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_unread", "user_id", "read_at"),
        Index("ix_notifications_push_pending", "id", postgresql_where=text("push_pending"),
              sqlite_where=text("push_pending")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    read_at = mapped_column(UTCDateTime)
    # Waiting for the Web Push job (which clears it whether or not the user has a phone to
    # push to); a partial index keeps the job's lookup small.
    push_pending: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
