"""The promoter's shop (微店): a mobile page per promoter; buyers need no account."""

from __future__ import annotations

import re

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
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
    from distweb.services import online_pay
    from distweb.web.shop.forms import PayForm

    return render_template("shop/order.html", order=found, pay_options=pay_options(found), pay_form=PayForm(),
                           pay_state=online_pay.buyer_status(found))


# ---------------------------------------------------------------- paying online


def _buyer_order(token: str) -> Order:
    if not TOKEN_RE.match(token):
        abort(404)
    found = db.session.scalars(select(Order).where(Order.public_token == token)).first()
    if found is None:
        abort(404)
    return found


def pay_options(order: Order) -> list[tuple[str, str]]:
    """The providers the buyer may pay this order with: (name, label)."""
    from distweb.services import online_pay

    if order.status.value != "created" or order.total_paid_fen <= 0:
        return []
    return [(name, str(online_pay.PROVIDER_LABELS[name])) for name in online_pay.enabled(order.brand_id)]


@bp.post("/o/<token>/pay")
@limiter.limit("20 per minute")
def pay(token: str):
    """Start paying with the chosen provider, through the channel this browser takes
    (WeChat: JSAPI inside WeChat, H5 on a phone, Native QR on a desktop; Alipay: 手机网站支付
    on a phone, 电脑网站支付 on a desktop)."""
    from flask import flash, session

    from distweb.services import online_pay
    from distweb.web.shop.forms import PayForm

    found = _buyer_order(token)
    form = PayForm()
    if not form.validate_on_submit():
        abort(400)
    provider = form.provider.data
    if provider not in dict(pay_options(found)):
        flash(_("该订单当前不能使用这种方式支付。"), "error")
        return redirect_to(url_for("shop.order", token=token))
    browser = online_pay.browser_kind(request.headers.get("User-Agent"))
    openid = session.get("wx_openid") if browser == "wechat" else None
    if provider == "wechat" and browser == "wechat" and not openid:
        if getattr(request, "htmx", None):
            return redirect_to(url_for("shop.wechat_oauth", token=token))
        # A form post may not be redirected off the site (the CSP's form-action 'self'), and
        # WeChat's OAuth is off it: a page that goes on by itself (a tap, without scripts).
        return render_template("shop/go.html", target=url_for("shop.wechat_oauth", token=token))
    try:
        payment = online_pay.start_payment(found, provider, browser, online_pay.CheckoutContext(
            notify_base=request.url_root, return_url=url_for("shop.order", token=token, _external=True),
            client_ip=request.remote_addr, openid=openid))
    except ServiceError as err:
        flash(str(err.message), "error")
        return redirect_to(url_for("shop.order", token=token))
    return redirect_to(url_for("shop.payment", token=token, number=payment.out_trade_no))


@bp.get("/o/<token>/pay/<number>")
def payment(token: str, number: str):
    """The attempt's page: the QR code to scan, the provider's page to open, or WeChat's
    in-app payment; it polls the order's status until paid, failed or closed."""
    from distweb.models import Payment
    from distweb.services import online_pay

    found = _buyer_order(token)
    attempt = db.session.scalars(select(Payment).where(Payment.order_id == found.id,
                                                       Payment.out_trade_no == number)).first()
    if attempt is None:
        abort(404)
    qr = None
    if attempt.action.get("kind") == "qr" and attempt.action.get("code"):
        import segno

        qr = segno.make(attempt.action["code"], error="m").svg_data_uri(scale=6, border=2)
    return render_template("shop/payment.html", order=found, attempt=attempt, qr=qr,
                           label=online_pay.PROVIDER_LABELS.get(attempt.provider, attempt.provider),
                           state=online_pay.buyer_status(found))


@bp.get("/o/<token>/status")
def payment_status(token: str):
    """The buyer's page polls this: paid, pending, failed, closed (or unpaid)."""
    from distweb.services import online_pay

    found = _buyer_order(token)
    response = make_response(online_pay.buyer_status(found))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/o/<token>/wechat")
def wechat_oauth(token: str):
    """Inside WeChat, JSAPI needs the buyer's openid: WeChat's OAuth (snsapi_base, no prompt)."""
    from distweb.services import online_pay

    found = _buyer_order(token)
    try:
        provider = online_pay.provider_for(found.brand_id, "wechat")
    except ServiceError:
        abort(404)
    return redirect(provider.oauth_url(url_for("shop.wechat_oauth_back", _external=True), token))


@bp.get("/wechat/back")
def wechat_oauth_back():
    from flask import flash, session

    from distweb.services import online_pay
    from distweb.services.payment_providers import ProviderError

    token = request.args.get("state") or ""
    found = _buyer_order(token)
    code = (request.args.get("code") or "")[:128]
    if code:
        try:
            session["wx_openid"] = online_pay.provider_for(found.brand_id, "wechat").openid_for_code(code)
        except (ServiceError, ProviderError):
            flash(_("暂时无法发起支付，请稍后再试或换一种支付方式。"), "error")
        else:
            flash(_("请再次点击“微信支付”完成付款。"), "info")
    return redirect(url_for("shop.order", token=token))
