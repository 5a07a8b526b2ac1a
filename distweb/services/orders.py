"""Orders in three modes, from the promoter's shop or a brand's shop through the API.

Lifecycle: created → paid → shipped → completed; cancel before shipping; refunds (per item,
several over time, never beyond what was paid). Every transition is timestamped on the
order and recorded as an event on its timeline. Consignment orders create a purchase order
to each supplier when paid; wholesale stock purchases fill the distributor's stock when
completed, and the distributor's own retail sales draw it down (never below zero).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload, make_transient_to_detached, selectinload

from distweb.extensions import db
from distweb.models import (
    Brand,
    Order,
    OrderEvent,
    OrderItem,
    Product,
    Promoter,
    PurchaseOrder,
    PurchaseOrderLine,
    Refund,
    RefundLine,
    StockLevel,
    StockMovement,
    User,
)
from distweb.models.base import utcnow
from distweb.models.fulfilment import PurchaseOrderKind, PurchaseOrderStatus
from distweb.models.network import PromoterStatus
from distweb.models.order import OrderMode, OrderStatus
from distweb.services import attribution, network, versions
from distweb.services.catalogue import MAX_UNIT_PRICE_FEN
from distweb.services.errors import Conflict, NotFound, ServiceError
from distweb.services.tx import transaction

EXTERNAL_ID_MAX = 64
# The largest order accepted, whoever places it (API, webhook, shop): a line of at most
# 1,000,000 units at a unit price of at most MAX_UNIT_PRICE_FEN (¥10,000,000.00, as for a
# product), and at most ¥100,000,000.00 paid for the whole order. Far above any real order,
# and far inside the 64-bit money columns, whatever a client sends.
MAX_QUANTITY = 1_000_000
MAX_ORDER_FEN = 10_000_000_000


@dataclass
class ItemInput:
    sku: str
    quantity: int
    unit_price_fen: int | None = None  # None: the product's price for the mode
    paid_fen: int | None = None  # None: unit price × quantity


@dataclass
class BuyerInput:
    name: str | None = None
    phone: str | None = None
    address: str | None = None


@dataclass
class OrderInput:
    external_id: str | None
    mode: str
    items: list[ItemInput]
    promoter_code: str | None = None
    buyer: BuyerInput = field(default_factory=BuyerInput)
    paid_at: datetime | None = None
    total_paid_fen: int | None = None
    stock_purchase: bool | None = None
    source: str = "api"
    touches: list[tuple[int, int]] = field(default_factory=list)
    # The tracked links the buyer's browser followed (a shop checkout's proof for binding).
    link_touches: list[tuple[int, int]] = field(default_factory=list)
    placed_at: datetime | None = None  # imports and demo data; otherwise now
    # A shop checkout whose buyer proved the phone by the SMS code sent to it (the caller
    # checked the code and uses it in this order's transaction): the other proof for binding.
    phone_verified: bool = False


class Buyer(NamedTuple):
    """The buying user's id and, when that user is a promoter, its promoter id."""

    id: int
    promoter_id: int | None


_PRODUCTS = select(Product).options(joinedload(Product.supplier)).where(
    Product.brand_id == bindparam("brand_id"), Product.sku.in_(bindparam("skus", expanding=True)))
# What checking an order reads of its products and seller (``check_order``): rows, not entities.
_PRODUCT_ROWS = select(Product.sku, Product.active, Product.sells_promotion, Product.sells_consignment,
                       Product.sells_wholesale, Product.price_fen, Product.wholesale_price_fen,
                       Product.supplier_id).where(
    Product.brand_id == bindparam("brand_id"), Product.sku.in_(bindparam("skus", expanding=True)))
_SELLER = select(Promoter.id, Promoter.distributor).where(
    Promoter.brand_id == bindparam("brand_id"), Promoter.code == bindparam("code"))
_BUYER = select(User.id, Promoter.id).outerjoin(Promoter, Promoter.user_id == User.id).where(
    User.phone == bindparam("phone")).limit(1)


@functools.cache
def _order_context() -> list:
    """What placing an order reads beside its promoter and uplines, as labelled scalar
    subqueries of the promoter query (one round trip, the same on every database): the
    buyer's account and its promoter (``phone``), the plan in force, and the buyer's binding
    (``buyer_key``). Built once."""
    from distweb.services.commission import plan_in_force_columns

    buyer = aliased(Promoter)
    return [
        select(User.id).where(User.phone == bindparam("phone")).limit(1).scalar_subquery().label("buyer_user_id"),
        select(buyer.id).join(User, User.id == buyer.user_id).where(User.phone == bindparam("phone")).limit(1)
        .scalar_subquery().label("buyer_promoter_id"),
        *plan_in_force_columns(),
        *attribution.binding_columns(),
    ]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def get_order(brand_id: int, external_id: str, lock: bool = False) -> Order:
    stmt = select(Order).where(Order.brand_id == brand_id, Order.external_id == external_id)
    if lock:
        stmt = stmt.with_for_update()
    order = db.session.scalars(stmt).first()
    if order is None:
        raise NotFound("order_not_found", _l("订单不存在。"), "external_id")
    return order


def order_by_id(brand_id: int, order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or order.brand_id != brand_id:
        raise NotFound("order_not_found", _l("订单不存在。"))
    return order


_ORDERS = Order.__table__
_ITEMS = OrderItem.__table__
_EVENTS = OrderEvent.__table__
_PURCHASE_ORDERS = PurchaseOrder.__table__
_PO_LINES = PurchaseOrderLine.__table__
_INSERT_ORDER = insert(_ORDERS).returning(_ORDERS.c.id)
_INSERT_ITEMS = insert(_ITEMS).returning(_ITEMS.c.id, sort_by_parameter_order=True)
_INSERT_PURCHASE_ORDERS = insert(_PURCHASE_ORDERS).returning(_PURCHASE_ORDERS.c.id, sort_by_parameter_order=True)
_INSERT_PO_LINES = insert(_PO_LINES)
_INSERT_EVENTS = insert(_EVENTS)


def _event_row(order: Order, kind: str, at: datetime | None = None, **detail) -> dict:
    """Every change to an order writes one: the promoters whose figures it changes are
    touched here (``versions``)."""
    versions.touch_order(order)
    return {"order_id": order.id, "kind": kind, "at": at or utcnow(), "detail": detail}


def _event(order: Order, kind: str, at: datetime | None = None, **detail) -> None:
    """One event on the order's timeline, written at once (events are never edited)."""
    _write_events([_event_row(order, kind, at, **detail)])


def _write_events(rows: list[dict]) -> None:
    """Events in one INSERT, in timeline order (their ids give that order)."""
    if rows:
        db.session.connection().execute(_INSERT_EVENTS, rows)


def _row(obj, table) -> dict:
    """Every column of a new object (all set by its constructor) but its id, for a Core INSERT."""
    return {c.key: obj.__dict__[c.key] for c in table.columns if c.key != "id"}


def _adopt(order: Order) -> None:
    """Make an order written with Core statements (its items and purchase orders with it)
    part of the session as if it had been loaded: clean, nothing left to flush, and expired
    with everything else when the transaction commits."""
    for obj in (*order.items, *order.purchase_orders):
        make_transient_to_detached(obj)
    make_transient_to_detached(order)
    db.session.add(order)


def _sellable(product, mode: OrderMode) -> bool:
    """A Product or a ``_PRODUCT_ROWS`` row."""
    return product.active and getattr(product, f"sells_{mode.value}")


# ---------------------------------------------------------------- placing


def place_order(brand: Brand, data: OrderInput, before_commit: Callable[[Order], None] | None = None,
                settings=None) -> Order:
    """Validate everything, then write the order, its items, attribution and (when paid)
    its purchase orders in one transaction. ``before_commit(order)`` runs last inside that
    transaction, with the order, its items, purchase orders and commission written (the API
    builds its response there, from the objects in hand, instead of reloading them).

    ``brand``: the Brand, or anything with its ``id``. ``settings``: the brand's programme
    settings as the caller read them in this request (anything with the attribution
    settings' names, such as ``api_keys.AttributionSettings``); by default read here."""
    mode, external_id = _checked_head(data)

    promoter = None
    buyer = data.buyer
    phone = buyer.phone.strip() if buyer.phone else None
    buyer_user, context = None, None
    if data.promoter_code:
        # The promoter with its uplines, and beside them in the same statement the buyer's
        # account, the plan in force and the buyer's binding (``_order_context``).
        stored_phone = (buyer.phone or "").strip()[:20]  # as the order keeps it (its binding's key)
        buyer_key = attribution.buyer_key_for_phone(stored_phone) if stored_phone else None
        promoter, context = network.by_code_with_uplines_and(data.promoter_code, brand.id, _order_context(),
                                                             {"phone": phone, "buyer_key": buyer_key})
        if promoter is None:
            raise ServiceError("unknown_promoter", _l("推客邀请码不存在。"), "promoter_code")
        user_id, buyer_promoter_id, plan_version, plan_body, *binding = context
        buyer_user = Buyer(user_id, buyer_promoter_id) if user_id is not None else None
        from distweb.services.commission import remember_current_plan

        remember_current_plan(brand.id, plan_version, plan_body)
        context = attribution.binding_from(binding)
    stock_purchase = _checked_seller(mode, data, promoter)
    lines, total = _checked_lines(brand.id, data, mode, stock_purchase)
    if phone is not None and not data.promoter_code:
        # The buyer's account, if any, and whether it is a promoter: a row, not entities.
        found = db.session.connection().execute(_BUYER, {"phone": phone}).first()
        buyer_user = Buyer(*found) if found is not None else None
    paid = data.paid_at is not None
    placed_at = _check_time(data.placed_at, "placed_at")
    try:
        with transaction():
            # Every column is given here: the order is written with Core statements and then
            # joins the session as if loaded (see _adopt), so nothing may be left to a default.
            order = Order(
                brand_id=brand.id,
                external_id=external_id or _new_external_id(),
                mode=mode,
                # Paid when placed: written paid at once (no insert, then update).
                status=OrderStatus.PAID if paid else OrderStatus.CREATED,
                promoter_id=None, chain_l1_id=None, chain_l2_id=None, chain_l3_id=None, distributor_id=None,
                attribution_source=None, binds_buyer=False,
                is_stock_purchase=stock_purchase,
                source=data.source,
                public_token=secrets.token_urlsafe(18),
                buyer_name=(buyer.name or "").strip()[:60] or None,
                buyer_phone=(buyer.phone or "").strip()[:20] or None,
                buyer_address=(buyer.address or "").strip()[:200] or None,
                buyer_user_id=buyer_user.id if buyer_user else None,
                carrier=None, tracking_no=None,
                total_paid_fen=total,
                refunded_fen=0,
                placed_at=placed_at,
                paid_at=data.paid_at, shipped_at=None, completed_at=None, cancelled_at=None,
                # A new order has none: known empty, never lazily loaded.
                refunds=[],
                purchase_orders=[],
            )
            _attribute(brand, order, mode, promoter, stock_purchase, buyer_user, data, settings,
                       binding=context if data.promoter_code else attribution.NOT_READ)
            connection = db.session.connection()
            items = [
                OrderItem(order_id=None, product_id=product.id, sku=product.sku, name=product.name,
                          quantity=item.quantity, unit_price_fen=unit, paid_fen=paid_fen,
                          supply_cost_fen=product.supply_cost_fen * item.quantity, refunded_fen=0)
                for product, item, unit, paid_fen in lines
            ]
            retail = mode == OrderMode.WHOLESALE and not stock_purchase
            # The (brand, external_id) key refuses a duplicate here: no query beforehand.
            order.id = connection.execute(_INSERT_ORDER, _row(order, _ORDERS)).scalar_one()
            for item in items:
                item.order_id = order.id
            item_ids = connection.execute(_INSERT_ITEMS, [_row(i, _ITEMS) for i in items]).scalars().all()
            for item, item_id, (product, *_rest) in zip(items, item_ids, lines, strict=True):
                item.id = item_id
                item.product = product
            order.items = items
            if paid and mode == OrderMode.CONSIGNMENT:
                order.purchase_orders = _create_purchase_orders(order)
            _adopt(order)
            events = [_event_row(order, "placed", at=order.placed_at, source=data.source)]
            if retail:
                _move_stock(order, -1, "sale")
            if paid:
                _paid(order, order.purchase_orders, events=events, new_order=True)
            _write_events(events)
            if before_commit is not None:
                before_commit(order)
    except IntegrityError:
        if external_id and db.session.scalar(
            select(Order.id).where(Order.brand_id == brand.id, Order.external_id == external_id)
        ):
            raise Conflict("duplicate_order", _l("external_id 已存在。"), "external_id") from None
        raise
    return order


def check_order(brand_id: int, data: OrderInput) -> None:
    """Refuse now, writing nothing, what ``place_order`` would refuse of this order given the
    brand's promoters and catalogue as they are: a webhook's order.paid is checked as it
    arrives (the shop is answered 422 and may send it fixed), then placed by a worker, which
    checks everything again."""
    mode, _external_id = _checked_head(data)
    promoter = None
    if data.promoter_code:
        code = data.promoter_code.strip().upper()
        promoter = db.session.execute(_SELLER, {"brand_id": brand_id, "code": code}).first() if code else None
        if promoter is None:
            raise ServiceError("unknown_promoter", _l("推客邀请码不存在。"), "promoter_code")
    _checked_lines(brand_id, data, mode, _checked_seller(mode, data, promoter), _PRODUCT_ROWS)


def _checked_head(data: OrderInput) -> tuple[OrderMode, str | None]:
    try:
        mode = OrderMode(data.mode)
    except ValueError:
        raise ServiceError("invalid_mode", _l("mode 只能是 promotion、consignment 或 wholesale。"), "mode") from None
    external_id = (data.external_id or "").strip() or None
    if external_id is not None and len(external_id) > EXTERNAL_ID_MAX:
        raise ServiceError("invalid_external_id", _l("external_id 最长 64 个字符。"), "external_id")
    if not data.items:
        raise ServiceError("empty_items", _l("订单至少需要一个商品。"), "items")
    return mode, external_id


def _checked_seller(mode: OrderMode, data: OrderInput, promoter) -> bool:
    """Whether the order is a stock purchase; refused when its mode needs a distributor.
    ``promoter``: the Promoter, a ``_SELLER`` row, or None."""
    stock_purchase = mode == OrderMode.WHOLESALE and data.stock_purchase is not False
    if mode == OrderMode.WHOLESALE and promoter is None:
        raise ServiceError("distributor_required", _l("经销订单需要指定分销商（promoter_code）。"), "promoter_code")
    if mode == OrderMode.CONSIGNMENT and promoter is None:
        raise ServiceError("distributor_required", _l("代销订单需要指定销售它的分销商（promoter_code）。"), "promoter_code")
    if promoter is not None and mode != OrderMode.PROMOTION:
        network.require_distributor(promoter)  # consignment and wholesale are distributors' only
    return stock_purchase


def _checked_lines(brand_id: int, data: OrderInput, mode: OrderMode, stock_purchase: bool,
                   statement=_PRODUCTS) -> tuple[list[tuple[Product, ItemInput, int, int]], int]:
    """The order's lines (product, item, unit price, paid) and their total, checked; the
    products read by ``statement`` (entities, or ``_PRODUCT_ROWS`` to check only)."""
    lines: list[tuple[Product, ItemInput, int, int]] = []
    seen: set[str] = set()
    # Every product in one query (their suppliers with them, for purchase orders); the
    # checks below still go item by item, so the first bad item is the one reported.
    skus = {item.sku for item in data.items if isinstance(item.sku, str) and item.sku}
    rows = db.session.scalars if statement is _PRODUCTS else db.session.execute
    products = {p.sku: p for p in rows(statement, {"brand_id": brand_id, "skus": list(skus)})} if skus else {}
    for i, item in enumerate(data.items):
        where = f"items[{i}]"
        if not isinstance(item.sku, str) or not item.sku:
            raise ServiceError("invalid_sku", _l("缺少 SKU。"), f"{where}.sku")
        if item.sku in seen:
            raise ServiceError("duplicate_sku", _l("同一订单中 SKU 不能重复。"), f"{where}.sku")
        seen.add(item.sku)
        product = products.get(item.sku)
        if product is None:
            raise ServiceError("unknown_sku", _l("SKU %(sku)s 不存在。", sku=item.sku), f"{where}.sku")
        if not _sellable(product, mode):
            raise ServiceError("mode_not_allowed", _l("商品 %(sku)s 不能以该模式销售。", sku=item.sku), f"{where}.sku")
        if not _is_int(item.quantity) or item.quantity < 1:
            raise ServiceError("invalid_quantity", _l("数量必须是不小于 1 的整数。"), f"{where}.quantity")
        if item.quantity > MAX_QUANTITY:
            raise ServiceError("quantity_too_large", _l("每个商品的数量不能超过 1,000,000。"), f"{where}.quantity")
        default_unit = product.wholesale_price_fen if stock_purchase else product.price_fen
        unit = default_unit if item.unit_price_fen is None else item.unit_price_fen
        if not _is_int(unit) or unit < 0:
            raise ServiceError("invalid_amount", _l("金额必须是非负整数（分）。"), f"{where}.unit_price_fen")
        if unit > MAX_UNIT_PRICE_FEN:
            raise ServiceError("amount_too_large", _l("单价不能超过 ¥10,000,000.00。"), f"{where}.unit_price_fen")
        paid = unit * item.quantity if item.paid_fen is None else item.paid_fen
        if not _is_int(paid) or paid < 0:
            raise ServiceError("invalid_amount", _l("金额必须是非负整数（分）。"), f"{where}.paid_fen")
        if paid > unit * item.quantity:
            raise ServiceError("paid_above_price", _l("实付金额不能超过单价 × 数量。"), f"{where}.paid_fen")
        if mode == OrderMode.CONSIGNMENT and product.supplier_id is None:
            raise ServiceError("no_supplier", _l("代销商品 %(sku)s 没有供货商。", sku=item.sku), f"{where}.sku")
        lines.append((product, item, unit, paid))
    total = sum(paid for *_, paid in lines)
    if total > MAX_ORDER_FEN:
        raise ServiceError("amount_too_large", _l("一笔订单的实付合计不能超过 ¥100,000,000.00。"), "total_paid_fen")
    if data.total_paid_fen is not None and data.total_paid_fen != total:
        raise ServiceError("total_mismatch", _l("total_paid_fen 与各行实付之和不一致。"), "total_paid_fen")
    return lines, total


def _new_external_id() -> str:
    return "DW" + utcnow().strftime("%y%m%d") + secrets.token_hex(4).upper()


def _attribute(brand, order, mode, promoter, stock_purchase, buyer_user, data: OrderInput, settings=None,
               binding=attribution.NOT_READ) -> None:
    if settings is None or settings.brand_id != brand.id:
        settings = network.get_settings(brand.id)
    if mode == OrderMode.WHOLESALE:
        order.distributor_id = promoter.id
    if mode == OrderMode.WHOLESALE and not stock_purchase:
        # The distributor's own retail sale from its stock: tracked, no commission chain.
        order.promoter_id = promoter.id
        order.attribution_source = "retail"
        return
    if stock_purchase:
        # The distributor buys for itself: its upline earns (self-purchase rules apply).
        buyer_user = Buyer(promoter.user_id, promoter.id)
        chosen, source = promoter.id, "stock"
    elif mode == OrderMode.CONSIGNMENT:
        # The seller of record is the distributor whose shop sold: the margin is its own,
        # whatever binding the buyer has elsewhere (bindings credit promotion orders only).
        chosen, source = promoter.id, "api" if data.source == "api" else "shop"
    else:
        buyer_key = attribution.buyer_key_for_phone(order.buyer_phone) if order.buyer_phone else None
        buyer_promoter_id = buyer_user.promoter_id if buyer_user is not None else None
        explicit = promoter.id if promoter is not None else None
        now = utcnow()
        chosen, source = attribution.resolve_promoter(settings, buyer_key, data.touches, explicit, now=now,
                                                      binding=binding)
        order.binds_buyer = _binds_on_payment(settings, data, buyer_key, chosen, source, buyer_promoter_id, now)
        if order.binds_buyer and order.paid_at is not None:  # paid as it is placed: bind now
            attribution.bind_buyer(settings, buyer_key, chosen, now, binding=binding)
        if data.source == "api" and promoter is not None and source != "binding":
            source = "api"
    from distweb.services.commission import current_plan

    _version, plan = current_plan(brand.id)
    chain = attribution.snapshot_chain(settings, chosen, buyer_user=buyer_user, self_purchase=plan.self_purchase,
                                       source=source)
    order.promoter_id = chain.promoter_id
    order.attribution_source = chain.source
    order.chain_l1_id, order.chain_l2_id, order.chain_l3_id = chain.positions


def _binds_on_payment(settings, data: OrderInput, buyer_key: str | None, chosen: int | None, source: str | None,
                      buyer_promoter_id: int | None, now: datetime) -> bool:
    """Whether paying this order binds its buyer to ``chosen``: a share chose the promoter
    (not the buyer's binding), the buyer is not that promoter itself (no self-binding), and,
    for an anonymous shop checkout, the buyer proved the phone by the SMS code sent to it or
    the buyer's browser followed that promoter's tracked link (a phone merely typed into a
    shop page proves nothing). Orders from the brand's own systems (API, webhooks, imports)
    carry the buyer the shop platform knows."""
    if buyer_key is None or chosen is None or source == "binding" or chosen == buyer_promoter_id:
        return False
    if data.source == "shop":
        return data.phone_verified or attribution.followed_link_of(data.link_touches, chosen, settings, now)
    return True


# ---------------------------------------------------------------- stock


def _stock_level(order: Order, product_id: int, lock: bool = True) -> StockLevel:
    stmt = select(StockLevel).where(StockLevel.promoter_id == order.distributor_id, StockLevel.product_id == product_id)
    if lock:
        stmt = stmt.with_for_update()
    level = db.session.scalars(stmt).first()
    if level is None:
        level = StockLevel(brand_id=order.brand_id, promoter_id=order.distributor_id, product_id=product_id, quantity=0)
        db.session.add(level)
        db.session.flush()
    return level


def _move_stock(order: Order, sign: int, reason: str) -> None:
    """Add (sign +1) or take (sign -1) the order's quantities to/from the distributor's
    stock. Taking more than there is refuses the whole order."""
    for item in order.items:
        level = _stock_level(order, item.product_id)
        delta = sign * item.quantity
        if sign < 0:
            # One conditional UPDATE: concurrent sales can never take the same units twice.
            result = db.session.execute(
                update(StockLevel)
                .where(StockLevel.id == level.id, StockLevel.quantity >= item.quantity)
                .values(quantity=StockLevel.quantity + delta)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                raise Conflict("out_of_stock", _l("%(name)s 库存不足。", name=item.name), "items")
        else:
            db.session.execute(
                update(StockLevel).where(StockLevel.id == level.id).values(quantity=StockLevel.quantity + delta)
                .execution_options(synchronize_session=False)
            )
        db.session.add(StockMovement(stock_level_id=level.id, delta=delta, reason=reason, order_id=order.id))


def stock_for(promoter_id: int) -> list[StockLevel]:
    return list(
        db.session.scalars(
            select(StockLevel).options(selectinload(StockLevel.product))
            .where(StockLevel.promoter_id == promoter_id).order_by(StockLevel.id)
        )
    )


def stock_movements(promoter_id: int, limit: int = 50) -> list[tuple[StockMovement, StockLevel]]:
    return list(
        db.session.execute(
            select(StockMovement, StockLevel)
            .join(StockLevel, StockLevel.id == StockMovement.stock_level_id)
            .options(selectinload(StockLevel.product))
            .where(StockLevel.promoter_id == promoter_id)
            .order_by(StockMovement.id.desc())
            .limit(limit)
        ).all()
    )


# ---------------------------------------------------------------- transitions


def _check_time(at: datetime | None, field_name: str) -> datetime:
    if at is None:
        return utcnow()
    if at.tzinfo is None:
        raise ServiceError("naive_time", _l("时间必须带时区，例如 2026-11-28T10:00:00+08:00。"), field_name)
    return at


def _mark_paid(order: Order, paid_at: datetime, by: str | None = None) -> None:
    order.status = OrderStatus.PAID
    order.paid_at = paid_at
    if order.binds_buyer and order.promoter_id is not None and order.buyer_phone:
        # The binding its placement earned, made now that the buyer paid (by the binding
        # mode in force now: a buyer another paid order bound meanwhile stays bound).
        attribution.bind_buyer(network.get_settings(order.brand_id),
                               attribution.buyer_key_for_phone(order.buyer_phone), order.promoter_id)
    _paid(order, _create_purchase_orders(order) if order.mode == OrderMode.CONSIGNMENT else [], by)


def _paid(order: Order, purchase_orders: list[PurchaseOrder], by: str | None = None,
          events: list[dict] | None = None, new_order: bool = False) -> None:
    """What payment brings: the events (paid, then each purchase order; added to ``events``
    when given, for the caller to write, else written now), the commission, and the
    promoter's notice."""
    rows = [_event_row(order, "paid", at=order.paid_at, amount_fen=order.total_paid_fen, by=by)]
    now = utcnow()
    for po in purchase_orders:
        rows.append(_event_row(order, "purchase_order", at=now, supplier_id=po.supplier_id, purchase_order_id=po.id,
                               cost_fen=po.total_cost_fen))
    if events is not None:
        events.extend(rows)
    else:
        _write_events(rows)
    _paid_effects(order, new_order)


def _paid_effects(order: Order, new_order: bool = False) -> None:
    """Payment's effects beyond the events: the commission and the promoter's notice
    (``new_order``: the order was written in this transaction, so it has no lines yet)."""
    from distweb.services import commission_hooks, notifications, rollups

    rollups.order_paid(order)
    commission_hooks.order_paid(order, new_order)
    notifications.order_paid(order)


def _create_purchase_orders(order: Order) -> list[PurchaseOrder]:
    """One purchase order per supplier, with its lines: two INSERTs. Returns them as new
    objects with their ids (not in the session; ``place_order`` adopts them with its order)."""
    by_supplier: dict[int, list[OrderItem]] = {}
    for item in order.items:
        by_supplier.setdefault(item.product.supplier_id, []).append(item)
    now = utcnow()
    created = [
        PurchaseOrder(brand_id=order.brand_id, order_id=order.id, supplier_id=supplier_id,
                      kind=PurchaseOrderKind.CONSIGNMENT, status=PurchaseOrderStatus.OPEN,
                      total_cost_fen=sum(i.supply_cost_fen for i in items), carrier=None, tracking_no=None,
                      created_at=now, shipped_at=None)
        for supplier_id, items in by_supplier.items()
    ]
    connection = db.session.connection()
    ids = connection.execute(_INSERT_PURCHASE_ORDERS, [_row(po, _PURCHASE_ORDERS) for po in created]).scalars().all()
    lines = []
    for po, po_id, items in zip(created, ids, by_supplier.values(), strict=True):
        po.id = po_id
        po.supplier = items[0].product.supplier
        lines += [{"purchase_order_id": po_id, "order_item_id": item.id, "sku": item.sku, "name": item.name,
                   "quantity": item.quantity, "cost_fen": item.supply_cost_fen} for item in items]
    connection.execute(_INSERT_PO_LINES, lines)
    return created


def mark_paid(brand_id: int, order_id: int, paid_at: datetime | None = None, actor: str = "manager",
              before_commit: Callable[[Order], None] | None = None) -> Order:
    """``before_commit(order)`` runs last inside the transaction that made the order paid
    (not when it was paid already): what records the payment commits with it or not at all."""
    with transaction():
        order = _locked(brand_id, order_id)
        if order.status == OrderStatus.PAID and order.paid_at is not None:
            return order  # a repeated notification changes nothing
        if order.status != OrderStatus.CREATED:
            raise Conflict("invalid_transition", _l("只有待付款的订单可以标记为已付款。"), "status")
        _mark_paid(order, _check_time(paid_at, "paid_at"), by=actor)
        if before_commit is not None:
            before_commit(order)
    return order


def _locked(brand_id: int, order_id: int) -> Order:
    """The order, locked, as it is now: ``populate_existing`` so that an Order this session
    read before the lock (the request's own look-up) takes the row's committed state instead
    of keeping what it read then (two notifications of one payment at once on PostgreSQL:
    the second waits for the lock, then must see the order paid)."""
    order = db.session.scalars(select(Order).where(Order.id == order_id).with_for_update()
                               .execution_options(populate_existing=True)).first()
    if order is None or order.brand_id != brand_id:
        raise NotFound("order_not_found", _l("订单不存在。"))
    return order


def ship(brand_id: int, order_id: int, carrier: str | None, tracking_no: str | None, at: datetime | None = None) -> Order:
    carrier, tracking_no = (carrier or "").strip()[:40], (tracking_no or "").strip()[:60]
    if not carrier or not tracking_no:
        raise ServiceError("tracking_required", _l("请填写快递公司和运单号。"), "tracking_no")
    with transaction():
        order = _locked(brand_id, order_id)
        if order.status != OrderStatus.PAID:
            raise Conflict("invalid_transition", _l("只有已付款的订单可以发货。"), "status")
        _ship(order, carrier, tracking_no, _check_time(at, "shipped_at"))
    return order


def _ship(order: Order, carrier: str, tracking_no: str, at: datetime) -> None:
    order.status = OrderStatus.SHIPPED
    order.shipped_at = at
    order.carrier, order.tracking_no = carrier, tracking_no
    _event(order, "shipped", at=at, carrier=carrier, tracking_no=tracking_no)


def ship_purchase_order(supplier_id: int, po_id: int, carrier: str | None, tracking_no: str | None,
                        at: datetime | None = None) -> PurchaseOrder:
    """The supplier ships a consignment purchase order straight to the buyer; when every
    purchase order of the buyer's order has shipped, the order is shipped."""
    carrier, tracking_no = (carrier or "").strip()[:40], (tracking_no or "").strip()[:60]
    if not carrier or not tracking_no:
        raise ServiceError("tracking_required", _l("请填写快递公司和运单号。"), "tracking_no")
    with transaction():
        po = db.session.scalars(select(PurchaseOrder).where(PurchaseOrder.id == po_id).with_for_update()).first()
        if po is None or po.supplier_id != supplier_id:
            raise NotFound("purchase_order_not_found", _l("采购单不存在。"))
        if po.status != PurchaseOrderStatus.OPEN:
            raise Conflict("invalid_transition", _l("该采购单已发货或已取消。"), "status")
        now = _check_time(at, "shipped_at")
        po.status, po.carrier, po.tracking_no, po.shipped_at = PurchaseOrderStatus.SHIPPED, carrier, tracking_no, now
        order = _locked(po.brand_id, po.order_id)
        _event(order, "supplier_shipped", at=now, purchase_order_id=po.id, carrier=carrier, tracking_no=tracking_no)
        if order.status == OrderStatus.PAID and all(p.status != PurchaseOrderStatus.OPEN for p in order.purchase_orders):
            _ship(order, carrier, tracking_no, now)
    return po


def complete(brand_id: int, order_id: int, completed_at: datetime | None = None) -> Order:
    """Received by the buyer: the freeze window counts from here."""
    at = _check_time(completed_at, "completed_at")
    with transaction():
        order = _locked(brand_id, order_id)
        if order.status == OrderStatus.COMPLETED:
            return order
        if order.status not in (OrderStatus.PAID, OrderStatus.SHIPPED):
            raise Conflict("invalid_transition", _l("只有已付款或已发货的订单可以确认收货。"), "status")
        order.status = OrderStatus.COMPLETED
        order.completed_at = at
        _event(order, "completed", at=at)
        if order.mode == OrderMode.WHOLESALE and order.is_stock_purchase:
            _move_stock(order, +1, "purchase")
        from distweb.services import commission_hooks

        commission_hooks.order_completed(order)
    return order


def cancel(brand_id: int, order_id: int, reason: str | None = None, at: datetime | None = None) -> Order:
    """Before shipping only; reverses everything (purchase orders, stock, commission)."""
    with transaction():
        order = _locked(brand_id, order_id)
        if order.status == OrderStatus.CANCELLED:
            return order
        if order.status not in (OrderStatus.CREATED, OrderStatus.PAID):
            raise Conflict("invalid_transition", _l("已发货的订单不能取消，请走退款。"), "status")
        was_paid = order.status == OrderStatus.PAID
        order.status = OrderStatus.CANCELLED
        order.cancelled_at = _check_time(at, "cancelled_at")
        for po in order.purchase_orders:
            if po.status == PurchaseOrderStatus.OPEN:
                po.status = PurchaseOrderStatus.CANCELLED
        if order.mode == OrderMode.WHOLESALE and not order.is_stock_purchase:
            _move_stock(order, +1, "cancel")
        _event(order, "cancelled", at=order.cancelled_at, reason=(reason or "").strip()[:200] or None)
        if was_paid:
            from distweb.services import commission_hooks, rollups

            rollups.order_cancelled(order)
            commission_hooks.order_cancelled(order)
    return order


@dataclass
class RefundItemInput:
    sku: str
    amount_fen: int


def refund(brand_id: int, order_id: int, refund_id: str, items: list[RefundItemInput],
           reason: str | None = None, at: datetime | None = None) -> Refund:
    """Refund amounts per item; several refunds over time, never beyond what was paid.
    A refund id is used once per order."""
    refund_id = (refund_id or "").strip() if isinstance(refund_id, str) else ""
    if not refund_id or len(refund_id) > 64:
        raise ServiceError("invalid_refund_id", _l("refund_id 需为 1–64 个字符。"), "refund_id")
    if not items:
        raise ServiceError("empty_items", _l("退款至少需要一个商品。"), "items")
    with transaction():
        order = _locked(brand_id, order_id)
        if db.session.scalar(select(Refund.id).where(Refund.order_id == order.id, Refund.refund_id == refund_id)):
            raise Conflict("duplicate_refund", _l("该 refund_id 已经退过款。"), "refund_id")
        if order.status in (OrderStatus.CREATED, OrderStatus.CANCELLED):
            raise Conflict("not_paid", _l("订单未付款或已取消，无需退款。"), "status")
        by_sku = {item.sku: item for item in order.items}
        record = Refund(order_id=order.id, refund_id=refund_id, amount_fen=0, reason=(reason or "").strip()[:200] or None,
                        created_at=_check_time(at, "created_at"))
        seen = set()
        for i, line in enumerate(items):
            where = f"items[{i}]"
            item = by_sku.get(line.sku)
            if item is None:
                raise ServiceError("unknown_sku", _l("订单中没有 SKU %(sku)s。", sku=line.sku), f"{where}.sku")
            if line.sku in seen:
                raise ServiceError("duplicate_sku", _l("同一退款中 SKU 不能重复。"), f"{where}.sku")
            seen.add(line.sku)
            if not _is_int(line.amount_fen) or line.amount_fen <= 0:
                raise ServiceError("invalid_amount", _l("退款金额必须是正整数（分）。"), f"{where}.amount_fen")
            if item.refunded_fen + line.amount_fen > item.paid_fen:
                raise ServiceError("refund_exceeds_paid", _l("退款金额超过了该商品的实付金额。"), f"{where}.amount_fen")
            item.refunded_fen += line.amount_fen
            record.lines.append(RefundLine(order_item_id=item.id, amount_fen=line.amount_fen))
            record.amount_fen += line.amount_fen
        order.refunded_fen += record.amount_fen
        db.session.add(record)
        db.session.flush()
        _event(order, "refunded", at=record.created_at, refund_id=refund_id, amount_fen=record.amount_fen)
        if order.refunded_fen == order.total_paid_fen:
            order.status = OrderStatus.REFUNDED
        from distweb.services import commission_hooks, rollups

        rollups.order_refunded(order, record)
        commission_hooks.order_refunded(order, record)
    return record


# ---------------------------------------------------------------- reading


def load_full(order: Order) -> Order:
    """Items, events and purchase orders, for pages and the API."""
    return db.session.scalars(
        select(Order)
        .options(selectinload(Order.items), selectinload(Order.events), selectinload(Order.purchase_orders),
                 selectinload(Order.refunds))
        .where(Order.id == order.id)
    ).one()


def promoter_can_see(promoter: Promoter, order: Order) -> int | None:
    """The level at which a promoter sees an order (1 = brought it, 2/3 = its team's), or None."""
    if order.brand_id != promoter.brand_id:
        return None
    if order.promoter_id == promoter.id:
        return 1
    if order.chain_l2_id == promoter.id:
        return 2
    if order.chain_l3_id == promoter.id:
        return 3
    return None


def active_promoter(brand_id: int, code: str) -> Promoter | None:
    promoter = network.by_code(code, brand_id)
    if promoter is None or promoter.status != PromoterStatus.ACTIVE:
        return None
    return promoter
