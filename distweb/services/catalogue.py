"""Products and suppliers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from distweb.extensions import db
from distweb.models import Brand, Product, Supplier
from distweb.models.order import OrderMode
from distweb.services.errors import NotFound, ServiceError
from distweb.services.tx import transaction

SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass
class ProductInput:
    name: str
    price_fen: int
    supply_cost_fen: int = 0
    wholesale_price_fen: int | None = None
    supplier_code: str | None = None
    category: str | None = None
    modes: tuple[str, ...] = ("promotion",)
    active: bool = True
    description: str | None = None
    image_url: str | None = None


def product_by_sku(brand_id: int, sku: str) -> Product | None:
    return db.session.scalars(select(Product).where(Product.brand_id == brand_id, Product.sku == sku)).first()


def get_product(brand_id: int, product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None or product.brand_id != brand_id:
        raise NotFound("product_not_found", _l("商品不存在。"))
    return product


def supplier_by_code(brand_id: int, code: str) -> Supplier | None:
    return db.session.scalars(select(Supplier).where(Supplier.brand_id == brand_id, Supplier.code == code)).first()


# ¥10,000,000: above any unit price we sell; also the most an order line may charge a unit
# (services/orders.py, with its quantity and order maximums).
MAX_UNIT_PRICE_FEN = 1_000_000_000


def _check(data: ProductInput) -> None:
    if not data.name or not data.name.strip() or len(data.name) > 120:
        raise ServiceError("invalid_name", _l("商品名称需为 1–120 个字符。"), "name")
    for field in ("price_fen", "supply_cost_fen", "wholesale_price_fen"):
        value = getattr(data, field)
        if value is None and field == "wholesale_price_fen":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ServiceError("invalid_amount", _l("金额必须是非负整数（分）。"), field)
        if value > MAX_UNIT_PRICE_FEN:
            raise ServiceError("amount_too_large", _l("单价不能超过 ¥10,000,000.00。"), field)
    if data.supply_cost_fen > data.price_fen:
        raise ServiceError("cost_above_price", _l("供货价不能高于售价。"), "supply_cost_fen")
    if not data.modes:
        raise ServiceError("no_modes", _l("至少选择一种销售模式。"), "modes")
    for mode in data.modes:
        if mode not in {m.value for m in OrderMode}:
            raise ServiceError("invalid_mode", _l("销售模式只能是 promotion、consignment 或 wholesale。"), "modes")
    if "consignment" in data.modes and not data.supplier_code:
        raise ServiceError("supplier_required", _l("代销商品需要指定供货商。"), "supplier")
    if data.category is not None and len(data.category) > 40:
        raise ServiceError("invalid_category", _l("类目过长。"), "category")
    if data.image_url and not data.image_url.startswith(("https://", "http://", "/")):
        raise ServiceError("invalid_image_url", _l("图片地址需以 https:// 开头。"), "image_url")


def upsert_product(brand: Brand, sku: str, data: ProductInput,
                   before_commit: Callable[[Product, bool], None] | None = None) -> tuple[Product, bool]:
    """Create or update by SKU; a supplier code seen for the first time creates the supplier.
    ``before_commit(product, created)`` runs last inside the transaction (a file import
    records its row there)."""
    sku = (sku or "").strip()
    if not SKU_RE.match(sku):
        raise ServiceError("invalid_sku", _l("SKU 只能包含字母、数字和 - _ .，最长 64 个字符。"), "sku")
    _check(data)
    with transaction():
        supplier = None
        if data.supplier_code:
            code = data.supplier_code.strip().lower()
            if not CODE_RE.match(code):
                raise ServiceError("invalid_supplier", _l("供货商代码只能包含小写字母、数字、- 和 _。"), "supplier")
            supplier = supplier_by_code(brand.id, code)
            if supplier is None:
                supplier = Supplier(brand_id=brand.id, code=code, name=code)
                db.session.add(supplier)
                db.session.flush()
        product = product_by_sku(brand.id, sku)
        created = product is None
        if created:
            product = Product(brand_id=brand.id, sku=sku)
            db.session.add(product)
        product.name = data.name.strip()
        product.price_fen = data.price_fen
        product.supply_cost_fen = data.supply_cost_fen
        product.wholesale_price_fen = (
            data.wholesale_price_fen if data.wholesale_price_fen is not None else product.wholesale_price_fen or data.price_fen
        )
        product.supplier_id = supplier.id if supplier else None
        product.category = (data.category or "").strip() or None
        product.sells_promotion = "promotion" in data.modes
        product.sells_consignment = "consignment" in data.modes
        product.sells_wholesale = "wholesale" in data.modes
        product.active = bool(data.active)
        product.description = (data.description or "").strip()[:2000] or None
        product.image_url = (data.image_url or "").strip() or None
        if before_commit is not None:
            db.session.flush()
            before_commit(product, created)
    return product, created


def product_json(product: Product) -> dict:
    return {
        "sku": product.sku,
        "name": product.name,
        "price_fen": product.price_fen,
        "supply_cost_fen": product.supply_cost_fen,
        "wholesale_price_fen": product.wholesale_price_fen,
        "supplier": product.supplier.code if product.supplier else None,
        "category": product.category,
        "modes": product.modes,
        "active": product.active,
        "description": product.description,
        "image_url": product.image_url,
    }


@dataclass
class SupplierInput:
    code: str
    name: str
    contact_name: str | None = None
    contact_phone: str | None = None
    settlement_account: str | None = None


def save_supplier(brand: Brand, data: SupplierInput, supplier: Supplier | None = None) -> Supplier:
    code = (data.code or "").strip().lower()
    if not CODE_RE.match(code):
        raise ServiceError("invalid_code", _l("供货商代码只能包含小写字母、数字、- 和 _。"), "code")
    if not data.name or len(data.name.strip()) > 80:
        raise ServiceError("invalid_name", _l("请输入 1–80 个字符的名称。"), "name")
    existing = supplier_by_code(brand.id, code)
    if existing is not None and (supplier is None or existing.id != supplier.id):
        raise ServiceError("duplicate_code", _l("该供货商代码已存在。"), "code")
    with transaction():
        if supplier is None:
            supplier = Supplier(brand_id=brand.id, code=code, name=data.name.strip())
            db.session.add(supplier)
        supplier.code, supplier.name = code, data.name.strip()
        supplier.contact_name = (data.contact_name or "").strip() or None
        supplier.contact_phone = (data.contact_phone or "").strip() or None
        supplier.settlement_account = (data.settlement_account or "").strip() or None
    return supplier


def suppliers(brand_id: int) -> list[Supplier]:
    return list(db.session.scalars(select(Supplier).where(Supplier.brand_id == brand_id).order_by(Supplier.code)))


# ---------------------------------------------------------------- how a promoter's shop sells


def stock_by_product(promoter_id: int) -> dict[int, int]:
    """A distributor's stock on hand, by product id."""
    from distweb.models import StockLevel

    return dict(db.session.execute(
        select(StockLevel.product_id, StockLevel.quantity).where(StockLevel.promoter_id == promoter_id)
    ).all())


def shop_stock(promoter) -> dict[int, int]:
    """What a promoter's shop can sell from stock: a distributor's stock on hand; nothing
    for any other promoter (stock left from when it was a distributor stays unsold)."""
    return stock_by_product(promoter.id) if promoter.distributor else {}


def shop_mode(product: Product, stock: dict[int, int], distributor: bool) -> OrderMode | None:
    """How a promoter's shop sells the product. A distributor's (分销商): from its own stock
    (经销), else consigned from the supplier (代销), else for the brand (推广). Any other
    promoter's (推客): for the brand (推广) only, so a product not sold in promotion mode is
    not in its shop."""
    if distributor:
        if product.sells_wholesale and stock.get(product.id, 0) > 0:
            return OrderMode.WHOLESALE
        if product.sells_consignment and product.supplier_id:
            return OrderMode.CONSIGNMENT
    if product.sells_promotion:
        return OrderMode.PROMOTION
    return None
