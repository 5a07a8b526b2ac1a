"""What happens to an order after it is placed: its timeline, refunds, purchase orders to
suppliers, distributor stock, and inbound webhook events."""

from __future__ import annotations

import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow
from distweb.models.user import enum_column


class OrderEvent(db.Model):
    """One step on an order's timeline (placed, paid, shipped, refunded, ...). Never edited."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class Refund(db.Model):
    """A refund of part or all of an order; ``refund_id`` is the shop's own id (unique per order)."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("order_id", "refund_id"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_refunds_created", "created_at"),  # the dashboard's refunds of a period
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    refund_id: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    lines = relationship("RefundLine", back_populates="refund", order_by="RefundLine.id")


class RefundLine(db.Model):
    __tablename__ = "refund_lines"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.id", ondelete="CASCADE"), index=True)
    order_item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)

    refund = relationship("Refund", back_populates="lines")
    item = relationship("OrderItem")


class PurchaseOrderKind(enum.StrEnum):
    CONSIGNMENT = "consignment"  # 代销：供货商直接发货给买家
    STOCK = "stock"  # 经销：分销商进货


class PurchaseOrderStatus(enum.StrEnum):
    OPEN = "open"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class PurchaseOrder(db.Model):
    """采购单: what the brand's order owes a supplier, at supply cost."""

    __tablename__ = "purchase_orders"
    __table_args__ = (
        UniqueConstraint("order_id", "supplier_id"),
        CheckConstraint("total_cost_fen >= 0", name="total_cost_nonneg"),
        Index("ix_purchase_orders_supplier_created", "supplier_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    kind: Mapped[PurchaseOrderKind] = mapped_column(enum_column(PurchaseOrderKind, "po_kind"))
    status: Mapped[PurchaseOrderStatus] = mapped_column(
        enum_column(PurchaseOrderStatus, "po_status"), default=PurchaseOrderStatus.OPEN
    )
    total_cost_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    carrier: Mapped[str | None] = mapped_column(String(40))
    tracking_no: Mapped[str | None] = mapped_column(String(60))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    shipped_at = mapped_column(UTCDateTime)

    order = relationship("Order", back_populates="purchase_orders")
    supplier = relationship("Supplier")
    lines = relationship("PurchaseOrderLine", back_populates="purchase_order", order_by="PurchaseOrderLine.id")


class PurchaseOrderLine(db.Model):
    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("cost_fen >= 0", name="cost_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id", ondelete="CASCADE"), index=True)
    order_item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    quantity: Mapped[int] = mapped_column(BigInteger)
    cost_fen: Mapped[int] = mapped_column(BigInteger)

    purchase_order = relationship("PurchaseOrder", back_populates="lines")


class StockLevel(db.Model):
    """A distributor's stock of one product (经销). Never below zero."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("promoter_id", "product_id"),
        CheckConstraint("quantity >= 0", name="quantity_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    promoter_id: Mapped[int] = mapped_column(ForeignKey("promoters.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)

    product = relationship("Product")


class StockMovement(db.Model):
    """Every change of a stock level, with why (purchase received, sale, return)."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(primary_key=True)
    stock_level_id: Mapped[int] = mapped_column(ForeignKey("stock_levels.id"), index=True)
    delta: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(20))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class WebhookStatus(enum.StrEnum):
    """What happened to an inbound event (services/webhooks.py)."""

    # Stored as it arrived (answered 202) and not tried yet: a worker applies it, in order
    # among its order's events.
    QUEUED = "queued"
    APPLIED = "applied"
    # Tried and waiting for its order (a refund before its order): applied when the order
    # arrives; the workers' sweep also tries it again every minute.
    HELD = "held"
    # The order services refused it (a refund beyond what was paid, completing a cancelled
    # order): not tried again unless a manager retries it (a dead letter).
    REJECTED = "rejected"
    # Applying it broke (a database error, a bug): tried again with back-off (next_attempt_at).
    FAILED = "failed"
    # Failed on every try: parked until a manager retries or drops it (a dead letter).
    DEAD = "dead"
    # A dead letter a manager dropped: kept, so a replay of its id is acknowledged, never applied.
    DROPPED = "dropped"
    # Its change had been made already (the same refund_id or order external_id, under
    # another event id or through the REST API): nothing was applied.
    DUPLICATE = "duplicate"


class WebhookEvent(db.Model):
    """An inbound webhook event, kept by id so a replay is acknowledged and not applied twice."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("brand_id", "event_id"), Index("ix_webhook_held", "brand_id", "status", "order_external_id"),
                      Index("ix_webhook_events_status_attempted", "status", "attempted_at"),
                      Index("ix_webhook_events_queue", "status", "lane", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    event_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(32))
    order_external_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[WebhookStatus] = mapped_column(enum_column(WebhookStatus, "webhook_status"))
    payload: Mapped[dict] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(400))
    received_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    applied_at = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))  # tries at applying it
    attempted_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)  # the last try
    # The queue lane its order's events go through (a hash of order_external_id): one lane's
    # events are applied in arrival order.
    lane: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    next_attempt_at = mapped_column(UTCDateTime)  # a failed event's next try (back-off)
