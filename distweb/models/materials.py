"""Promotion materials (素材) and what promoters do with them; Web Push subscriptions."""

from __future__ import annotations

import enum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow
from distweb.models.user import enum_column


class Material(db.Model):
    """A post a promoter can share: copy text with placeholders, images, an optional product.

    Feed order is ``pinned`` first, then ``position`` ascending: a new material takes the
    smallest position (newest first) and a manager's drag reorders positions. ``version``
    goes up on every edit, so posters rendered from an older version are never served."""

    __tablename__ = "materials"
    __table_args__ = (Index("ix_materials_feed", "brand_id", "pinned", "position", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text, default="")
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    video_url: Mapped[str | None] = mapped_column(String(300))
    active_from = mapped_column(UTCDateTime)
    active_to = mapped_column(UTCDateTime)
    pinned: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    deleted_at = mapped_column(UTCDateTime)

    product = relationship("Product")
    images = relationship("MaterialImage", order_by="MaterialImage.position", cascade="all, delete-orphan",
                          back_populates="material")
    tag_rows = relationship("MaterialTag", cascade="all, delete-orphan", order_by="MaterialTag.tag")

    @property
    def tags(self) -> list[str]:
        return [t.tag for t in self.tag_rows]

    def is_live(self, now) -> bool:
        return (self.deleted_at is None and (self.active_from is None or self.active_from <= now)
                and (self.active_to is None or self.active_to > now))


class MaterialTag(db.Model):
    __tablename__ = "material_tags"
    __table_args__ = (Index("ix_material_tags_tag", "tag"),)

    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(30), primary_key=True)


class MaterialImage(db.Model):
    """An uploaded picture, re-encoded without EXIF; ``file_key``/``thumb_key`` name the files
    under the media directory (never the user's file name)."""

    __tablename__ = "material_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    file_key: Mapped[str] = mapped_column(String(120))
    thumb_key: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(20))
    width: Mapped[int]
    height: Mapped[int]
    size_bytes: Mapped[int]
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    material = relationship("Material", back_populates="images")


class MaterialEventKind(enum.StrEnum):
    SHARE = "share"  # the share button was tapped (channel: web_share, copy, wechat)
    POSTER = "poster"  # the poster was saved/opened


class MaterialEvent(db.Model):
    """A promoter's share tap or poster download. Clicks and orders are counted from
    ``clicks.material_id`` and ``material_orders``."""

    __tablename__ = "material_events"
    __table_args__ = (
        Index("ix_material_events_material", "material_id", "kind"),
        Index("ix_material_events_promoter", "promoter_id", "material_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"))
    promoter_id: Mapped[int] = mapped_column(ForeignKey("promoters.id"))
    kind: Mapped[MaterialEventKind] = mapped_column(enum_column(MaterialEventKind, "material_event_kind"))
    channel: Mapped[str | None] = mapped_column(String(20))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class MaterialOrder(db.Model):
    """An order placed by a buyer who arrived through a material's link."""

    __tablename__ = "material_orders"
    __table_args__ = (Index("ix_material_orders_material", "material_id", "promoter_id"),)

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id"))
    promoter_id: Mapped[int] = mapped_column(ForeignKey("promoters.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class PushSubscription(db.Model):
    """One browser's Web Push endpoint. Removed when the push service answers 404/410."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (UniqueConstraint("endpoint", name="uq_push_endpoint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000))
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_sent_at = mapped_column(UTCDateTime)


class NotificationSetting(db.Model):
    """Per user: the event kinds the user does not want pushed (the inbox always gets them)."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    push_off: Mapped[list] = mapped_column(JSON, default=list)
