from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow


class Supplier(db.Model):
    """Ships consignment orders and is owed their supply cost."""

    __tablename__ = "suppliers"
    __table_args__ = (UniqueConstraint("brand_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))
    contact_name: Mapped[str | None] = mapped_column(String(60))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    settlement_account: Mapped[str | None] = mapped_column(String(120))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Product(db.Model):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("brand_id", "sku"),
        CheckConstraint("price_fen >= 0", name="price_nonneg"),
        CheckConstraint("supply_cost_fen >= 0", name="supply_cost_nonneg"),
        CheckConstraint("wholesale_price_fen >= 0", name="wholesale_price_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str | None] = mapped_column(String(40), index=True)
    description: Mapped[str | None] = mapped_column(String(2000))
    image_url: Mapped[str | None] = mapped_column(String(300))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    supply_cost_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    wholesale_price_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # The modes this product may be sold in.
    sells_promotion: Mapped[bool] = mapped_column(default=True)
    sells_consignment: Mapped[bool] = mapped_column(default=False)
    sells_wholesale: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    supplier = relationship("Supplier")

    @property
    def modes(self) -> list[str]:
        return [
            mode
            for mode, on in (
                ("promotion", self.sells_promotion),
                ("consignment", self.sells_consignment),
                ("wholesale", self.sells_wholesale),
            )
            if on
        ]
