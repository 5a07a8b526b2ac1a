from __future__ import annotations

import enum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow
from distweb.models.user import enum_column


class Rank(enum.StrEnum):
    PROMOTER = "promoter"  # 推客
    MENTOR = "mentor"  # 导师
    PARTNER = "partner"  # 合伙人


RANK_ORDER = [Rank.PROMOTER, Rank.MENTOR, Rank.PARTNER]


class PromoterStatus(enum.StrEnum):
    PENDING = "pending"  # 待审核
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REJECTED = "rejected"


class Promoter(db.Model):
    """A promoter's place in the network. The user row holds the login; this holds the tree.

    ``upline2_id`` and ``upline3_id`` repeat the grand- and great-grand-upline so that the
    chain for an order, and the second and third level of a team, are one indexed lookup
    each; ``services.network`` keeps them right when a promoter moves.
    """

    __tablename__ = "promoters"
    __table_args__ = (
        CheckConstraint("upline_id IS NULL OR upline_id <> id", name="no_self_upline"),
        # A period's joiners and whether they sold soon after (first_sale_at): from the index alone.
        Index("ix_promoters_brand_status_joined_sale", "brand_id", "status", "joined_at", "first_sale_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    upline_id: Mapped[int | None] = mapped_column(ForeignKey("promoters.id"), index=True)
    upline2_id: Mapped[int | None] = mapped_column(ForeignKey("promoters.id"), index=True)
    upline3_id: Mapped[int | None] = mapped_column(ForeignKey("promoters.id"), index=True)
    rank: Mapped[Rank] = mapped_column(enum_column(Rank, "promoter_rank"), default=Rank.PROMOTER)
    # 分销商: may sell on consignment from its own shop and buy wholesale stock; every other
    # promoter (推客) promotes, and its shop's orders are promotion orders (docs/PRODUCT.md).
    distributor: Mapped[bool] = mapped_column(default=False, server_default=false())
    status: Mapped[PromoterStatus] = mapped_column(
        enum_column(PromoterStatus, "promoter_status"), default=PromoterStatus.ACTIVE
    )
    status_reason: Mapped[str | None] = mapped_column(String(200))
    joined_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # When it first sold an order paid at or after it joined (None: not yet): the
    # dashboard's 新人存活率 and cohorts read it (services/rollups.py keeps it).
    first_sale_at = mapped_column(UTCDateTime)
    reviewed_at = mapped_column(UTCDateTime)

    user = relationship("User", back_populates="promoter")
    upline = relationship("Promoter", remote_side=[id], foreign_keys=[upline_id])

    @property
    def name(self) -> str:
        return self.user.name


class BindingMode(enum.StrEnum):
    PERMANENT = "permanent"  # 永久绑定：第一次绑定后不再改变
    DAYS = "days"  # 绑定 N 天
    OVERWRITE = "overwrite"  # 每次新的分享覆盖


class AttributionModel(enum.StrEnum):
    FIRST_TOUCH = "first_touch"
    LAST_TOUCH = "last_touch"


class ProgrammeSettings(db.Model):
    """The brand's zero-code programme rules for the network (one row per brand)."""

    __tablename__ = "programme_settings"
    __table_args__ = (
        CheckConstraint("binding_days BETWEEN 1 AND 3650", name="binding_days_range"),
        CheckConstraint("attribution_window_days BETWEEN 1 AND 365", name="window_range"),
    )

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), primary_key=True)
    signup_requires_approval: Mapped[bool] = mapped_column(default=False)
    binding_mode: Mapped[BindingMode] = mapped_column(
        enum_column(BindingMode, "binding_mode"), default=BindingMode.PERMANENT
    )
    binding_days: Mapped[int] = mapped_column(default=30)
    attribution: Mapped[AttributionModel] = mapped_column(
        enum_column(AttributionModel, "attribution_model"), default=AttributionModel.LAST_TOUCH
    )
    attribution_window_days: Mapped[int] = mapped_column(default=30)
    rank_name_promoter: Mapped[str] = mapped_column(String(20), default="推客")
    rank_name_mentor: Mapped[str] = mapped_column(String(20), default="导师")
    rank_name_partner: Mapped[str] = mapped_column(String(20), default="合伙人")
    # Sales-based promotion rules: {"mentor": {"team_sales_fen": ..., "own_sales_fen": ..., "days": ...}, ...}
    rank_rules: Mapped[dict] = mapped_column(JSON, default=dict)
    terms_text: Mapped[str | None] = mapped_column(String(4000))
    # Settlement cycle: {"cycle": "daily|weekly|monthly|manual", "weekday": 0-6, "day": 1-28}
    settlement: Mapped[dict] = mapped_column(JSON, default=dict)
    # Withdrawal rules in docs/API.md's shape: {"min_fen", "fee_bp", "fee_min_fen", "daily_limit_fen", "methods",
    # "auto_approve_below_fen"} (services/withdrawal_rules.py validates; withdrawals.DEFAULTS fills gaps)
    withdrawal: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    def rank_name(self, rank: Rank) -> str:
        return getattr(self, f"rank_name_{rank.value}")


class BuyerBinding(db.Model):
    """Which promoter a buyer (known by a hashed phone or a visitor id) is bound to."""

    __tablename__ = "buyer_bindings"
    __table_args__ = (UniqueConstraint("brand_id", "buyer_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    buyer_key: Mapped[str] = mapped_column(String(64))
    promoter_id: Mapped[int] = mapped_column(ForeignKey("promoters.id"), index=True)
    bound_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at = mapped_column(UTCDateTime)


class Click(db.Model):
    """A tracked-link visit, counted once per visitor, promoter and target per window."""

    __tablename__ = "clicks"
    __table_args__ = (Index("ix_clicks_promoter_at", "promoter_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    promoter_id: Mapped[int] = mapped_column(ForeignKey("promoters.id"))
    target: Mapped[str | None] = mapped_column(String(80))
    # The material whose link was followed, when it was one (``/r/<code>?m=<id>``).
    material_id: Mapped[int | None] = mapped_column(ForeignKey("materials.id"), index=True)
    ip_hash: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class AuditEntry(db.Model):
    """Who changed what in the network (ranks, moves, approvals). Never edited."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int]
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    actor = relationship("User")
