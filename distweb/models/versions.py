from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from distweb.extensions import db


class DataVersion(db.Model):
    """A counter that every write to some cached data raises in the writing transaction
    (``services.versions``): a promoter's home figures (scope ``promoter``) or what every
    promoter of a brand sees (scope ``brand``). Caches key what they keep by it, so a figure
    kept from before a write is never found after it commits. No row: version 0."""

    __tablename__ = "data_versions"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
