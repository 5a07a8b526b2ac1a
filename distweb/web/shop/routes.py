"""The promoter's shop (微店): a mobile page per promoter; buyers need no account."""

from __future__ import annotations

import re

from flask import Blueprint, abort, make_response, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from distweb.extensions import db, limiter
from distweb.models import Order, Product
from distweb.models.order import OrderMode
from distweb.models.sms import SmsPurpose
from distweb.services import attribution, catalogue, materials, orders, sms
from distweb.services.errors import ServiceError
from distweb.web import sms as sms_web
from distweb.web.forms import attach_error
from distweb.web.htmx import redirect_to
from distweb.web.shop.forms import CheckoutForm

bp = Blueprint("shop", __name__, url_prefix="/s")


def _shop_promoter(code: str):
    from distweb.services.accounts import current_brand

    brand = current_brand()
    promoter = orders.active_promoter(brand.id, code) if brand else None
    if promoter is None:
        abort(404)
    return promoter


@bp.get("/<code>")
def index(code: str):
    promoter = _shop_promoter(code)
    stock = catalogue.shop_stock(promoter)
    products = [p for p in db.session.scalars(
        select(Product).where(Product.brand_id == promoter.brand_id, Product.active.is_(True)).order_by(Product.sku)
    ) if catalogue.shop_mode(p, stock, promoter.distributor)]
    response = make_response(render_template("shop/index.html", promoter=promoter, products=products))
    _touch(response, promoter)
    return response


def _touch(response, promoter) -> None:
    """Visiting a promoter's shop counts as that promoter's share (attribution cookie)."""
    from distweb.services import network

    settings = network.get_settings(promoter.brand_id)
    response.set_cookie(attribution.COOKIE_NAME,
                        attribution.add_touch(request.cookies.get(attribution.COOKIE_NAME), promoter.id),
                        max_age=settings.attribution_window_days * 86400, httponly=True, samesite="Lax",
                        secure=request.is_secure)


def _product(promoter, sku: str) -> Product:
    product = db.session.scalars(
        select(Product).where(Product.brand_id == promoter.brand_id, Product.sku == sku, Product.active.is_(True))
    ).first()
    if product is None:
        abort(404)
    return product


def _checkout_phone() -> str:
    """The rate-limit key of a checkout: the buyer's phone as typed (one phone cannot be
    used to flood checkouts from many addresses)."""
    return "checkout-phone:" + (request.form.get("phone") or "").strip()[:20]


@bp.route("/<code>/p/<sku>", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
@limiter.limit("5 per 10 minutes;20 per day", key_func=_checkout_phone, methods=["POST"],
               exempt_when=sms_web.sending,  # asking for a code is not a checkout (limited on its own)
               error_message=lambda: _("这个手机号下单太频繁，请稍后再试。"))
@sms_web.send_limits
def product(code: str, sku: str):
    promoter = _shop_promoter(code)
    item = _product(promoter, sku)
    stock = catalogue.shop_stock(promoter)
    mode = catalogue.shop_mode(item, stock, promoter.distributor)
    if mode is None:
        abort(404)
    form = CheckoutForm()
    status = 200
    sent = None
    if sms_web.sending():
        sent = sms_web.send_code(form, SmsPurpose.CHECKOUT)
        status = 200 if sent else 422
    elif form.validate_on_submit():
        phone = form.phone.data.strip()
        try:
            # A code typed in proves the phone is the buyer's: checked (an attempt counted)
            # before the order, used with it (the same transaction), never twice.
            code_id = sms.check_code(SmsPurpose.CHECKOUT, phone, form.code.data) if form.code.data else None
            order = orders.place_order(
                promoter_brand(promoter),
                orders.OrderInput(
                    external_id=None, mode=mode.value, promoter_code=promoter.code, source="shop",
                    stock_purchase=False if mode == OrderMode.WHOLESALE else None,
                    items=[orders.ItemInput(sku=item.sku, quantity=form.quantity.data)],
                    buyer=orders.BuyerInput(form.name.data, phone, form.address.data),
                    touches=attribution.read_touches(request.cookies.get(attribution.COOKIE_NAME)),
                    link_touches=attribution.read_link_touches(request.cookies.get(attribution.LINK_COOKIE_NAME)),
                    phone_verified=code_id is not None,
                ),
                before_commit=(lambda _order: sms.consume(code_id)) if code_id is not None else None,
            )
        except ServiceError as err:
            attach_error(form, err, "quantity", aliases={"items": "quantity", "items[0].quantity": "quantity"})
            status = 422
        else:
            materials.record_order(order, request.cookies.get(materials.COOKIE_NAME))
            return redirect_to(url_for("shop.order", token=order.public_token))
    elif request.method == "POST":
        status = 400
    response = make_response(render_template("shop/product.html", promoter=promoter, product=item, form=form,
                                             mode=mode, stock=stock.get(item.id, 0), sent=sent), status)
    _touch(response, promoter)
    return response


def promoter_brand(promoter):
    from distweb.models import Brand

    return db.session.get(Brand, promoter.brand_id)


TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{10,40}$")


@bp.get("/o/<token>")
def order(token: str):
    """The buyer's own order page (the unguessable link is the buyer's key)."""
    if not TOKEN_RE.match(token):
        abort(404)
    found = db.session.scalars(select(Order).where(Order.public_token == token)).first()
    if found is None:
        abort(404)
    found = orders.load_full(found)
    return render_template("shop/order.html", order=found)
