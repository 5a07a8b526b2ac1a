"""API v1 products and orders (docs/API.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import g, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from distweb.extensions import db
from distweb.models import Order, Promoter
from distweb.models.order import OrderStatus
from distweb.services import catalogue, commission, commission_view, orders
from distweb.services.order_input import order_input_from, parse_paid_at, parse_time  # noqa: F401 — re-exported
from distweb.web.api.base import ApiError, bp, field, idempotent, json_body

LIST_LIMIT = 50
# order_input_from, parse_time, parse_paid_at: the one reading of an order body and of its
# times (services/order_input.py), shared with the webhooks, the payment notice and imports.


# ---------------------------------------------------------------- products


@bp.put("/products/<sku>")
def product_put(sku: str):
    body = json_body()
    modes = field(body, "modes", list, required=False, nullable=True) or ["promotion"]
    if not all(isinstance(m, str) for m in modes):
        raise ApiError(422, "invalid_type", _("字段 %(name)s 的类型不正确。", name="modes"), "modes")
    data = catalogue.ProductInput(
        name=field(body, "name", str, max_length=120),
        price_fen=field(body, "price_fen", int),
        supply_cost_fen=field(body, "supply_cost_fen", int, required=False) or 0,
        wholesale_price_fen=field(body, "wholesale_price_fen", int, required=False, nullable=True),
        supplier_code=field(body, "supplier", str, required=False, nullable=True, max_length=40),
        category=field(body, "category", str, required=False, nullable=True, max_length=40),
        modes=tuple(modes),
        active=field(body, "active", bool, required=False, nullable=True) is not False,
        description=field(body, "description", str, required=False, nullable=True, max_length=2000),
        image_url=field(body, "image_url", str, required=False, nullable=True, max_length=300),
    )
    for name in ("price_fen", "supply_cost_fen", "wholesale_price_fen"):
        value = getattr(data, name)
        if value is not None and value < 0:
            raise ApiError(422, "negative_amount", _("金额不能为负。"), name)
    product, created = catalogue.upsert_product(g.brand, sku, data)
    return catalogue.product_json(product), 201 if created else 200


@bp.get("/products/<sku>")
def product_get(sku: str):
    product = catalogue.product_by_sku(g.brand.id, sku)
    if product is None:
        raise ApiError(404, "not_found", _("商品不存在。"))
    return catalogue.product_json(product)


# ---------------------------------------------------------------- orders


def _utc(moment: datetime | None) -> str | None:
    """Times are answered in UTC, as they read back from the database (an order being
    placed still holds the client's own offset)."""
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def order_json(order: Order, reload: bool = True) -> dict:
    """The order as docs/API.md shows it. ``reload=False``: an order being placed, inside
    its transaction: its items, refunds and purchase orders are in hand, and its commission
    lines are the ones ``on_paid`` just wrote; nothing is read."""
    if reload:
        order = orders.load_full(order)
    promoter = db.session.get(Promoter, order.promoter_id) if order.promoter_id else None
    return {
        "external_id": order.external_id,
        "status": order.status.value,
        "mode": order.mode.value,
        "stock_purchase": order.is_stock_purchase,
        "promoter_code": promoter.code if promoter else None,
        "attribution": order.attribution_source,
        "currency": "CNY",
        "total_paid_fen": order.total_paid_fen,
        "refunded_fen": order.refunded_fen,
        "buyer": {"name": order.buyer_name, "phone": order.buyer_phone, "address": order.buyer_address},
        "placed_at": _utc(order.placed_at),
        "paid_at": _utc(order.paid_at),
        "shipped_at": _utc(order.shipped_at),
        "completed_at": _utc(order.completed_at),
        "cancelled_at": _utc(order.cancelled_at),
        "items": [
            {"sku": i.sku, "name": i.name, "quantity": i.quantity, "unit_price_fen": i.unit_price_fen,
             "paid_fen": i.paid_fen, "refunded_fen": i.refunded_fen}
            for i in order.items
        ],
        "refunds": [{"refund_id": r.refund_id, "amount_fen": r.amount_fen, "created_at": _utc(r.created_at)}
                    for r in order.refunds],
        "commissions": commission_view.lines_json(order, api=True) if reload else commission.accrued_lines_json(order),
        "purchase_orders": [
            {"id": po.id, "supplier": getattr(po, "supplier_code_now", None) or po.supplier.code, "status": po.status.value, "total_cost_fen": po.total_cost_fen,
             "carrier": po.carrier, "tracking_no": po.tracking_no}
            for po in order.purchase_orders
        ],
    }


@bp.post("/orders")
@idempotent
def order_create():
    response: dict = {}
    # Built inside the order's transaction from the objects just written: nothing is read
    # back after the commit.
    orders.place_order(g.brand, order_input_from(json_body()),
                       before_commit=lambda order: response.update(order_json(order, reload=False)),
                       settings=g.attribution_settings)
    return response, 201


def _order(external_id: str) -> Order:
    return orders.get_order(g.brand.id, external_id)


@bp.get("/orders/<external_id>")
def order_get(external_id: str):
    return order_json(_order(external_id))


@bp.post("/orders/<external_id>/complete")
@idempotent
def order_complete(external_id: str):
    body = json_body() if request.get_data(cache=True) else {}
    order = orders.complete(g.brand.id, _order(external_id).id, parse_time(body, "completed_at"))
    return order_json(order)


@bp.post("/orders/<external_id>/cancel")
@idempotent
def order_cancel(external_id: str):
    body = json_body() if request.get_data(cache=True) else {}
    reason = field(body, "reason", str, required=False, nullable=True)
    return order_json(orders.cancel(g.brand.id, _order(external_id).id, reason))


@bp.post("/orders/<external_id>/paid")
@idempotent
def order_paid(external_id: str):
    body = json_body() if request.get_data(cache=True) else {}
    return order_json(orders.mark_paid(g.brand.id, _order(external_id).id, parse_paid_at(body), actor="api"))


@bp.post("/orders/<external_id>/refunds")
@idempotent
def order_refund(external_id: str):
    body = json_body()
    refund_id = field(body, "refund_id", str, max_length=64)
    lines = []
    for i, raw in enumerate(field(body, "items", list)):
        if not isinstance(raw, dict):
            raise ApiError(422, "invalid_type", _("字段 %(name)s 的类型不正确。", name=f"items[{i}]"), f"items[{i}]")
        try:
            lines.append(orders.RefundItemInput(sku=field(raw, "sku", str, max_length=64),
                                                amount_fen=field(raw, "amount_fen", int)))
        except ApiError as err:
            err.field = f"items[{i}].{err.field}"
            raise
    order = _order(external_id)
    record = orders.refund(g.brand.id, order.id, refund_id, lines,
                           field(body, "reason", str, required=False, nullable=True))
    return {"refund_id": record.refund_id, "amount_fen": record.amount_fen, "order": order_json(order)}, 201


CURSOR_RE = re.compile(r"^[0-9]{1,18}$")


def _cursor_decode(cursor: str | None) -> int | None:
    """Cursors are opaque to clients; today they are the last order's row number."""
    if not cursor:
        return None
    if not CURSOR_RE.match(cursor):
        raise ApiError(400, "invalid_cursor", _("cursor 无效。"), "cursor")
    from distweb import MAX_ID

    return min(int(cursor), MAX_ID)  # clamped to what an id column can hold


def _cursor_encode(order_id: int) -> str:
    return str(order_id)


@bp.get("/orders")
def order_list():
    stmt = (
        select(Order).options(selectinload(Order.items))
        .where(Order.brand_id == g.brand.id).order_by(Order.id.desc()).limit(LIST_LIMIT + 1)
    )
    code = request.args.get("promoter_code")
    if code:
        from distweb.services import network

        promoter = network.by_code(code, g.brand.id)
        if promoter is None:
            return {"orders": [], "next_cursor": None}  # nobody by that code has orders
        stmt = stmt.where(Order.promoter_id == promoter.id)
    status = request.args.get("status")
    if status:
        try:
            stmt = stmt.where(Order.status == OrderStatus(status))
        except ValueError:
            raise ApiError(422, "invalid_status", _("status 无效。"), "status") from None
    before = _cursor_decode(request.args.get("cursor"))
    if before:
        stmt = stmt.where(Order.id < before)
    rows = list(db.session.scalars(stmt))
    page, more = rows[:LIST_LIMIT], len(rows) > LIST_LIMIT
    return {"orders": [order_json(o) for o in page], "next_cursor": _cursor_encode(page[-1].id) if more else None}
