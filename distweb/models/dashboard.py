"""The daily brand report (每日简报): one row per brand and day, made by a worker."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
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
