"""Orders in the manager console: filters, an order's page with its timeline, and the
actions a brand takes (mark paid, ship, complete, cancel, refund)."""

from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from distweb.extensions import db
from distweb.models import Order, Promoter
from distweb.models.order import OrderMode, OrderStatus
from distweb.money import parse_yuan
from distweb.services import orders
from distweb.services.errors import NotFound, ServiceError
from distweb.web.forms import before_arg
from distweb.web.htmx import redirect_to, render
from distweb.web.manage.routes import bp

PAGE = 50


def _order(order_id: int) -> Order:
    try:
        return orders.order_by_id(current_user.brand_id, order_id)
    except NotFound:
        abort(404)


@bp.get("/orders", endpoint="orders")
def orders_list():
    stmt = (
        select(Order)
        .options(joinedload(Order.promoter).joinedload(Promoter.user))
        .where(Order.brand_id == current_user.brand_id)
        .order_by(Order.id.desc())
        .limit(PAGE)
    )
    args = {k: v for k, v in request.args.items() if v and k != "before"}
    try:
        if args.get("status"):
            stmt = stmt.where(Order.status == OrderStatus(args["status"]))
        if args.get("mode"):
            stmt = stmt.where(Order.mode == OrderMode(args["mode"]))
    except ValueError:
        pass
    if args.get("q"):
        q = args["q"].strip()[:64]
        stmt = stmt.where(or_(Order.external_id == q, Order.buyer_phone == q, Order.buyer_name == q))
    before = before_arg()
    if before:
        stmt = stmt.where(Order.id < before)
    rows = list(db.session.scalars(stmt))
    return render("manage/orders.html", "manage/_order_rows.html", orders=rows, has_more=len(rows) == PAGE,
                  args=args, statuses=list(OrderStatus), modes=list(OrderMode), nav="orders")


@bp.get("/orders/<int:order_id>")
def order_show(order_id: int):
    from distweb.services import commission, online_pay, profit_sharing

    order = orders.load_full(_order(order_id))
    return render("manage/order.html", order=order, nav="orders", online_payments=online_pay.payments_of(order.id),
                  provider_refunds=online_pay.refunds_of(order.id),
                  commission_lines=commission.lines_for_order(order.id), split=profit_sharing.of_order(order.id))


def _act(order_id: int, action):
    order = _order(order_id)
    try:
        action(order)
    except ServiceError as err:
        flash(str(err.message), "error")
    else:
        flash(_("已保存。"), "success")
    return redirect_to(url_for("manage.order_show", order_id=order.id))


@bp.post("/orders/<int:order_id>/paid")
def order_mark_paid(order_id: int):
    return _act(order_id, lambda o: orders.mark_paid(current_user.brand_id, o.id, actor=f"manager:{current_user.id}"))


@bp.post("/orders/<int:order_id>/ship")
def order_ship(order_id: int):
    return _act(order_id, lambda o: orders.ship(current_user.brand_id, o.id, request.form.get("carrier"),
                                                request.form.get("tracking_no")))


@bp.post("/orders/<int:order_id>/complete")
def order_complete(order_id: int):
    return _act(order_id, lambda o: orders.complete(current_user.brand_id, o.id))


@bp.post("/orders/<int:order_id>/cancel")
def order_cancel(order_id: int):
    return _act(order_id, lambda o: orders.cancel(current_user.brand_id, o.id, request.form.get("reason")))


@bp.post("/orders/<int:order_id>/refund")
def order_refund(order_id: int):
    def do(order):
        lines = []
        for item in order.items:
            text = (request.form.get(f"amount_{item.id}") or "").strip()
            if not text:
                continue
            try:
                amount = parse_yuan(text)
            except ValueError:
                raise ServiceError("invalid_amount", _("请输入金额，最多两位小数。"), "amount") from None
            if amount:
                lines.append(orders.RefundItemInput(sku=item.sku, amount_fen=amount))
        from distweb.services import online_pay

        if online_pay.paid_payment(order.id) is not None:
            # Paid online: the money goes back through the provider, and the refund is made
            # here when the provider confirms it.
            online_pay.start_refund(current_user.brand_id, order.id, lines, request.form.get("reason"),
                                    notify_base=request.url_root)
            return
        refund_id = (request.form.get("refund_id") or "").strip() or f"M{order.id}-{len(order.refunds) + 1}"
        orders.refund(current_user.brand_id, order.id, refund_id, lines, request.form.get("reason"))

    return _act(order_id, do)
