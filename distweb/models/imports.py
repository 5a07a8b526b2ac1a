"""Platform imports: an uploaded export (orders, promoters or products), the column mapping a
brand saved for each kind and source, what became of every row, and the external ids already
imported (so running an import again, or resuming a killed one, creates nothing twice)."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow


class ImportMapping(db.Model):
    """The columns a brand mapped once for a kind of import from a source (``youzan``,
    ``doudian``, ``generic``, …): ``columns`` maps our field to the file's header."""

    __tablename__ = "import_mappings"
    __table_args__ = (UniqueConstraint("brand_id", "kind", "source", name="uq_import_mappings_brand_kind_source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(20))
    columns: Mapped[dict] = mapped_column(JSON, default=dict)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class ImportBatch(db.Model):
    """One uploaded file and its import. ``rows_done`` is the checkpoint: every row up to it
    has its ``ImportRow``; a resumed run starts after it."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(200))
    stored_name: Mapped[str] = mapped_column(String(80))
    file_format: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    encoding: Mapped[str | None] = mapped_column(String(20))
    headers: Mapped[list] = mapped_column(JSON, default=list)
    columns: Mapped[dict | None] = mapped_column(JSON)  # the mapping it runs with
    options: Mapped[dict | None] = mapped_column(JSON)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    total_rows: Mapped[int | None] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)  # the last spreadsheet row recorded
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at = mapped_column(UTCDateTime)


class ImportRow(db.Model):
    """What became of one row: created, updated, refunded, unchanged or skipped (with why)."""

    __tablename__ = "import_rows"
    __table_args__ = (UniqueConstraint("batch_id", "row_no", name="uq_import_rows_batch_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id", ondelete="CASCADE"))
    row_no: Mapped[int] = mapped_column(Integer)  # as the spreadsheet numbers it (the header is 1)
    outcome: Mapped[str] = mapped_column(String(12))
    external_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(400))


class ImportKey(db.Model):
    """An external id already imported from a source, and what it became (a promoter's id):
    the old system's promoter numbers, by which its downlines and orders name it."""

    __tablename__ = "import_keys"
    __table_args__ = (UniqueConstraint("brand_id", "kind", "source", "external_id",
                                       name="uq_import_keys_brand_kind_source_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[int] = mapped_column(Integer)
