from __future__ import annotations

import enum

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow
from distweb.models.user import enum_column


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(db.Model):
    """A background job as users see it. RQ carries the work; this row carries the truth,
    so nothing is lost when Redis restarts (queued rows are enqueued again)."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    queue: Mapped[str] = mapped_column(String(20), default="default")
    status: Mapped[JobStatus] = mapped_column(
        enum_column(JobStatus, "job_status"), default=JobStatus.QUEUED, index=True
    )
    progress: Mapped[int] = mapped_column(default=0)  # 0..100
    message: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at = mapped_column(UTCDateTime)
    finished_at = mapped_column(UTCDateTime)

    @property
    def done(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)
