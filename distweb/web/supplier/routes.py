"""The supplier portal (phone-friendly): purchase orders to ship, and what is owed."""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from distweb.extensions import db
from distweb.models import Order, Product, PurchaseOrder
from distweb.models.fulfilment import PurchaseOrderStatus
from distweb.models.ledger import AccountKind
from distweb.models.user import Role
from distweb.services import ledger, orders
from distweb.services.errors import ServiceError
from distweb.web.access import require_role
from distweb.web.htmx import redirect_to, render

bp = Blueprint("supplier", __name__, url_prefix="/supplier")
require_role(bp, Role.SUPPLIER)


def _owed(supplier_id: int) -> dict:
    """What the brand owes the supplier is the ledger's supplier payable: its costs of the
    consignment orders paid, less the commission it funds and less refunds. Purchase orders
    still to ship are shown beside it as work to do, not as money."""
    open_fen = db.session.scalar(
        select(func.coalesce(func.sum(PurchaseOrder.total_cost_fen), 0))
        .where(PurchaseOrder.supplier_id == supplier_id, PurchaseOrder.status == PurchaseOrderStatus.OPEN))
    return {"open_fen": int(open_fen),
            "payable_fen": ledger.balance(current_user.brand_id, AccountKind.SUPPLIER_PAYABLE, supplier_id)}


@bp.get("/")
def index():
    supplier_id = current_user.supplier_id
    pos = db.session.scalars(
        select(PurchaseOrder)
        .options(selectinload(PurchaseOrder.lines), selectinload(PurchaseOrder.order))
        .where(PurchaseOrder.supplier_id == supplier_id)
        .order_by(case((PurchaseOrder.status == PurchaseOrderStatus.OPEN, 0), else_=1), PurchaseOrder.id.desc())
        .limit(100)
    ).all()
    products = db.session.scalars(
        select(Product).where(Product.brand_id == current_user.brand_id, Product.supplier_id == supplier_id)
        .order_by(Product.sku)
    ).all()
    return render("supplier/index.html", supplier=current_user.supplier, pos=pos, products=products,
                  owed=_owed(supplier_id))


def _po(po_id: int) -> PurchaseOrder:
    po = db.session.get(PurchaseOrder, po_id)
    if po is None or po.supplier_id != current_user.supplier_id:
        abort(404)
    return po


@bp.get("/po/<int:po_id>")
def po_show(po_id: int):
    po = _po(po_id)
    order = db.session.get(Order, po.order_id)
    return render("supplier/po.html", po=po, order=order)


@bp.post("/po/<int:po_id>/ship")
def po_ship(po_id: int):
    po = _po(po_id)
    try:
        orders.ship_purchase_order(current_user.supplier_id, po.id, request.form.get("carrier"),
                                   request.form.get("tracking_no"))
    except ServiceError as err:
        flash(str(err.message), "error")
        return redirect_to(url_for("supplier.po_show", po_id=po.id))
    flash(_("已发货，买家的订单已更新。"), "success")
    return redirect_to(url_for("supplier.index"))
