"""The daily brand report (每日简报): one row per brand and day, made by a worker."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow


class DailyReport(db.Model):
    """The report on one brand calendar day (``day``, YYYY-MM-DD, the brand's time zone),
    produced the next morning. Unique per brand and day: the schedulers of every worker may
    try to start it, the first insert wins, and its job renders it (safe to run twice)."""

    __tablename__ = "daily_reports"
    __table_args__ = (UniqueConstraint("brand_id", "day", name="uq_daily_reports_brand_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    day: Mapped[str] = mapped_column(String(10))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    status: Mapped[str] = mapped_column(String(12), default="queued")  # queued | succeeded
    file_name: Mapped[str | None] = mapped_column(String(120))
    gmv_fen: Mapped[int | None] = mapped_column(BigInteger)
    orders: Mapped[int | None] = mapped_column(BigInteger)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    rendered_at = mapped_column(UTCDateTime)


# ---------------------------------------------------------------- the dashboard's rollups
#
# The dashboard reads its figures from per-day (and per-month) sums, not from every order
# (services/rollups.py). Days are the brand's calendar days ('YYYY-MM-DD' in its time zone),
# months 'YYYY-MM'. The services that pay, cancel and refund orders, accrue and reverse
# commission and post to the ledger add insert-only delta rows in their own transaction (no
# row two orders both update, so concurrent orders never wait on each other here); a job
# folds them into the sums every few seconds, and the dashboard reads sums plus the deltas
# not folded yet, so a change shows at once, folded or not.


class DashboardDelta(db.Model):
    """One change to the sums, written by the transaction that made it. ``product_id``
    set: a product's sales (that product's grain only). Otherwise the brand's day, and,
    with ``promoter_id``, that promoter's day: its sales as seller and its commission."""

    __tablename__ = "dashboard_deltas"
    __table_args__ = (Index("ix_dashboard_deltas_brand_day", "brand_id", "day"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    day: Mapped[str] = mapped_column(String(10))
    promoter_id: Mapped[int | None] = mapped_column()
    product_id: Mapped[int | None] = mapped_column()
    gmv_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    orders: Mapped[int] = mapped_column(BigInteger, default=0)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    commission_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    frozen_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    available_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    joined: Mapped[int] = mapped_column(BigInteger, default=0)


class DashboardBrandDay(db.Model):
    """A brand's day (span 'd', day 'YYYY-MM-DD') or month (span 'm', day 'YYYY-MM'): the
    orders paid on it (GMV, count), refunds and cancellations recorded on it, commission
    accrued on its orders less reversals so far, the net change of promoters' frozen and
    available money by the ledger's business time, and the promoters who joined on it (and
    are still active or suspended)."""

    __tablename__ = "dashboard_brand_days"
    __table_args__ = {"sqlite_with_rowid": False}  # SQLite: rows stored in key order (a period is one range)

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), primary_key=True)
    span: Mapped[str] = mapped_column(String(1), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    gmv_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    orders: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    commission_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    frozen_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    available_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    joined: Mapped[int] = mapped_column(BigInteger, default=0)


class DashboardPromoterDay(db.Model):
    """A promoter's day or month: the orders it sold (paid then) and the commission it
    accrued on orders paid then, all levels, less reversals so far."""

    __tablename__ = "dashboard_promoter_days"
    __table_args__ = {"sqlite_with_rowid": False}  # SQLite: rows stored in key order (a period is one range)

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), primary_key=True)
    span: Mapped[str] = mapped_column(String(1), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    promoter_id: Mapped[int] = mapped_column(primary_key=True)
    gmv_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    orders: Mapped[int] = mapped_column(BigInteger, default=0)
    commission_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class DashboardProductDay(db.Model):
    """A product's day or month: what its order lines paid, their quantity, and the orders
    it was in (paid then)."""

    __tablename__ = "dashboard_product_days"
    __table_args__ = {"sqlite_with_rowid": False}  # SQLite: rows stored in key order (a period is one range)

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), primary_key=True)
    span: Mapped[str] = mapped_column(String(1), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    product_id: Mapped[int] = mapped_column(primary_key=True)
    gmv_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    orders: Mapped[int] = mapped_column(BigInteger, default=0)


class DashboardPromoterTotal(db.Model):
    """A promoter's running totals through the end of a brand month (``month`` 'YYYY-MM'):
    its day sums of every day up to then. Kept dense by the fold: a promoter has a row for
    every month from its first figure to the brand's latest month with any promoter figure
    (a snapshot of every promoter at each month's end). The months ``a``..``b`` of a period
    are then the snapshot at ``b`` less the snapshot before ``a``: two rows per promoter,
    however long the period, where the month sums take one row per promoter and month."""

    __tablename__ = "dashboard_promoter_totals"
    __table_args__ = {"sqlite_with_rowid": False}  # SQLite: rows stored in key order (a snapshot is one range)

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    promoter_id: Mapped[int] = mapped_column(primary_key=True)
    gmv_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    orders: Mapped[int] = mapped_column(BigInteger, default=0)
    commission_fen: Mapped[int] = mapped_column(BigInteger, default=0)
