from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow
from distweb.models.user import enum_column


class Rank(enum.StrEnum):
    PROMOTER = "promoter"  # 推客
    MENTOR = "mentor"  # 导师
    PARTNER = "partner"  # 合伙人


class PromoterStatus(enum.StrEnum):
    PENDING = "pending"  # 待审核
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REJECTED = "rejected"


class Promoter(db.Model):
    """A promoter's place in the network. The user row holds the login; this holds the tree."""

    __tablename__ = "promoters"
    __table_args__ = (CheckConstraint("upline_id IS NULL OR upline_id <> id", name="no_self_upline"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    upline_id: Mapped[int | None] = mapped_column(ForeignKey("promoters.id"), index=True)
    rank: Mapped[Rank] = mapped_column(enum_column(Rank, "promoter_rank"), default=Rank.PROMOTER)
    status: Mapped[PromoterStatus] = mapped_column(
        enum_column(PromoterStatus, "promoter_status"), default=PromoterStatus.ACTIVE
    )
    joined_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    user = relationship("User", back_populates="promoter")
    upline = relationship("Promoter", remote_side=[id])

    @property
    def name(self) -> str:
        return self.user.name
