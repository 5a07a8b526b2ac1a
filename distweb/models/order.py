from __future__ import annotations

import enum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow
from distweb.models.user import enum_column


class OrderMode(enum.StrEnum):
    PROMOTION = "promotion"  # 推广
    CONSIGNMENT = "consignment"  # 代销
    WHOLESALE = "wholesale"  # 经销


class OrderStatus(enum.StrEnum):
    CREATED = "created"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("brand_id", "external_id"),
        CheckConstraint("total_paid_fen >= 0", name="total_paid_nonneg"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= total_paid_fen", name="refund_within_paid"),
        Index("ix_orders_promoter_placed", "promoter_id", "placed_at"),
        Index("ix_orders_brand_placed", "brand_id", "placed_at"),
        # The dashboard: an order counts on the day of its payment, a cancellation on its own.
        Index("ix_orders_brand_paid", "brand_id", "paid_at"),
        Index("ix_orders_brand_cancelled", "brand_id", "cancelled_at"),
        # A promoter's orders by payment: survival (sold within 30 days of joining), churn.
        Index("ix_orders_promoter_paid", "promoter_id", "paid_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[OrderMode] = mapped_column(enum_column(OrderMode, "order_mode"))
    status: Mapped[OrderStatus] = mapped_column(
        enum_column(OrderStatus, "order_status"), default=OrderStatus.CREATED
    )
    # The promoter credited with the sale (L1) and the upline chain snapshotted when the order
    # was placed: later moves in the tree never re-attribute past sales.
    promoter_id: Mapped[int | None] = mapped_column(ForeignKey("promoters.id"))
    # The paying positions: L1 is the attributed promoter unless suspended (then None: its
    # share is paid to no one); L2/L3 likewise, as the tree stood when the order was placed.
    chain_l1_id: Mapped[int | None] = mapped_column(ForeignKey("promoters.id"))
    chain_l2_id: Mapped[int | None] = mapped_column(ForeignKey("promoters.id"))
    chain_l3_id: Mapped[int | None] = mapped_column(ForeignKey("promoters.id"))
    # A wholesale order is either a distributor's stock purchase from the brand (commission
    # goes to its uplines) or the distributor's own retail sale from its stock (no commission).
    is_stock_purchase: Mapped[bool] = mapped_column(default=False)
    # The distributor whose stock a wholesale order fills (stock purchase) or draws (retail).
    distributor_id: Mapped[int | None] = mapped_column(ForeignKey("promoters.id"))
    # Where it came from (shop, api, webhook, demo) and the buyer's own page (unguessable).
    source: Mapped[str] = mapped_column(String(12), default="api")
    public_token: Mapped[str | None] = mapped_column(String(32), unique=True)
    buyer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    carrier: Mapped[str | None] = mapped_column(String(40))
    tracking_no: Mapped[str | None] = mapped_column(String(60))
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # How the order found its promoter: link, shop, coupon, binding, api, self.
    attribution_source: Mapped[str | None] = mapped_column(String(16))
    # Whether paying it binds its buyer to its promoter: a binding is made on payment, never
    # by an unpaid order, and an anonymous shop checkout binds only with a tracked-link touch
    # of that promoter in the buyer's browser (attribution.binds_on_payment).
    binds_buyer: Mapped[bool] = mapped_column(default=False)
    buyer_name: Mapped[str | None] = mapped_column(String(60))
    buyer_phone: Mapped[str | None] = mapped_column(String(20))
    buyer_address: Mapped[str | None] = mapped_column(String(200))
    total_paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    placed_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    paid_at = mapped_column(UTCDateTime)
    shipped_at = mapped_column(UTCDateTime)
    completed_at = mapped_column(UTCDateTime)
    cancelled_at = mapped_column(UTCDateTime)

    promoter = relationship("Promoter", foreign_keys=[promoter_id])
    items = relationship("OrderItem", back_populates="order", order_by="OrderItem.id")
    events = relationship("OrderEvent", order_by="OrderEvent.id", cascade="all, delete-orphan")
    purchase_orders = relationship("PurchaseOrder", back_populates="order", order_by="PurchaseOrder.id")
    refunds = relationship("Refund", order_by="Refund.id")

    @property
    def kept_fen(self) -> int:
        return self.total_paid_fen - self.refunded_fen


class OrderItem(db.Model):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("unit_price_fen >= 0", name="unit_price_nonneg"),
        CheckConstraint("paid_fen >= 0", name="paid_nonneg"),
        CheckConstraint("supply_cost_fen >= 0", name="supply_cost_nonneg"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= paid_fen", name="refund_within_paid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    quantity: Mapped[int] = mapped_column(BigInteger)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    paid_fen: Mapped[int] = mapped_column(BigInteger)
    # Supply cost per line at the time of sale (consignment splits and margin bases use it).
    supply_cost_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)

    order = relationship("Order", back_populates="items")
    product = relationship("Product")
