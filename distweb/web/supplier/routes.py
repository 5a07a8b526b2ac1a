"""The supplier portal (phone-friendly): purchase orders to ship, and what is owed."""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import selectinload

from distweb import exports
from distweb.extensions import db
from distweb.models import Order, Product, PurchaseOrder
from distweb.models.fulfilment import PurchaseOrderLine, PurchaseOrderStatus
from distweb.models.ledger import AccountKind
from distweb.models.user import Role
from distweb.services import carriers, ledger, orders
from distweb.services.errors import ServiceError
from distweb.web.access import require_role
from distweb.web.downloads import attachment_headers
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


PO_PAGE_SIZE = 50
PO_STATUSES = tuple(s.value for s in PurchaseOrderStatus)


def _po_filters() -> tuple[str, str]:
    status = request.args.get("status") or ""
    if status not in PO_STATUSES:
        status = ""
    return status, (request.args.get("q") or "").strip()[:60]


def _po_query(supplier_id: int, status: str, query: str):
    """This supplier's purchase orders (never another's), open ones first, filtered by status
    and by order number, buyer name or phone, tracking number or product name."""
    stmt = (select(PurchaseOrder)
            .options(selectinload(PurchaseOrder.lines), selectinload(PurchaseOrder.order))
            .join(Order, Order.id == PurchaseOrder.order_id)
            .where(PurchaseOrder.supplier_id == supplier_id))
    if status:
        stmt = stmt.where(PurchaseOrder.status == PurchaseOrderStatus(status))
    if query:
        like = f"%{query}%"
        lines = select(PurchaseOrderLine.purchase_order_id).where(PurchaseOrderLine.name.like(like))
        stmt = stmt.where(or_(Order.external_id.like(like), Order.buyer_name.like(like), Order.buyer_phone.like(like),
                              PurchaseOrder.tracking_no.like(like), PurchaseOrder.id.in_(lines)))
    return stmt.order_by(case((PurchaseOrder.status == PurchaseOrderStatus.OPEN, 0), else_=1), PurchaseOrder.id.desc())


@bp.get("/")
def index():
    supplier_id = current_user.supplier_id
    status, query = _po_filters()
    page_no = max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))
    rows = db.session.scalars(_po_query(supplier_id, status, query)
                              .offset((page_no - 1) * PO_PAGE_SIZE).limit(PO_PAGE_SIZE + 1)).all()
    products = db.session.scalars(
        select(Product).where(Product.brand_id == current_user.brand_id, Product.supplier_id == supplier_id)
        .order_by(Product.sku)
    ).all()
    return render("supplier/index.html", "supplier/_po_list.html", supplier=current_user.supplier,
                  pos=rows[:PO_PAGE_SIZE], has_more=len(rows) > PO_PAGE_SIZE, page_no=page_no, status=status, query=query,
                  statuses=PO_STATUSES, products=products, owed=_owed(supplier_id))


PO_EXPORT_COLUMNS = (
    (_l("采购单号"), exports.NUMBER), (_l("订单号"), exports.IDENTIFIER), (_l("状态"), exports.TEXT),
    (_l("商品"), exports.TEXT), (_l("采购金额（元）"), exports.NUMBER), (_l("收货人"), exports.TEXT),
    (_l("电话"), exports.IDENTIFIER), (_l("地址"), exports.TEXT), (_l("快递公司"), exports.TEXT),
    (_l("运单号"), exports.IDENTIFIER), (_l("创建时间"), exports.TEXT), (_l("发货时间"), exports.TEXT),
)


@bp.get("/po.csv")
def po_export():
    """The purchase orders as filtered, for the supplier's own bookkeeping (CSV; phone and
    tracking numbers kept as text)."""
    from flask import Response

    from distweb.i18n import local_datetime
    from distweb.labels import PO_STATUS
    from distweb.money import fen_to_decimal

    status, query = _po_filters()

    def rows():
        for po in db.session.scalars(_po_query(current_user.supplier_id, status, query).limit(20_000)):
            order = po.order
            yield (po.id, order.external_id, str(PO_STATUS.get(po.status.value, po.status.value)),
                   "，".join(f"{line.name} × {line.quantity}" for line in po.lines),
                   fen_to_decimal(po.total_cost_fen), order.buyer_name, order.buyer_phone, order.buyer_address,
                   po.carrier, po.tracking_no, local_datetime(po.created_at) if po.created_at else "",
                   local_datetime(po.shipped_at) if po.shipped_at else "")

    body = exports.csv_text([str(label) for label, _kind in PO_EXPORT_COLUMNS], rows(),
                            [kind for _label, kind in PO_EXPORT_COLUMNS])
    return Response(body, mimetype="text/csv", headers=attachment_headers("purchase-orders.csv"))


def _po(po_id: int) -> PurchaseOrder:
    po = db.session.get(PurchaseOrder, po_id)
    if po is None or po.supplier_id != current_user.supplier_id:
        abort(404)
    return po


@bp.get("/po/<int:po_id>")
def po_show(po_id: int):
    po = _po(po_id)
    order = db.session.get(Order, po.order_id)
    return render("supplier/po.html", po=po, order=order, carriers=carriers.CARRIERS, other=carriers.OTHER,
                  other_label=carriers.OTHER_LABEL)


@bp.post("/po/<int:po_id>/ship")
def po_ship(po_id: int):
    po = _po(po_id)
    try:
        carrier = carriers.resolve(request.form.get("carrier"), request.form.get("carrier_other"))
        orders.ship_purchase_order(current_user.supplier_id, po.id, carrier, request.form.get("tracking_no"))
    except ServiceError as err:
        flash(str(err.message), "error")
        return redirect_to(url_for("supplier.po_show", po_id=po.id))
    flash(_("已发货，买家的订单已更新。"), "success")
    return redirect_to(url_for("supplier.index"))
