"""Products and suppliers in the manager console."""

from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from distweb.models import Supplier
from distweb.models.user import Role
from distweb.services import accounts, catalogue, reports
from distweb.services.errors import NotFound, ServiceError
from distweb.services.tx import transaction
from distweb.web.forms import attach_error
from distweb.web.htmx import redirect_to, render
from distweb.web.manage.forms import ProductForm, SupplierForm
from distweb.web.manage.routes import bp


@bp.get("/products")
def products():
    return render("manage/products.html", products=reports.brand_products(current_user.brand_id), nav="products")


def _supplier_choices(form: ProductForm) -> None:
    form.supplier_code.choices = [SelectChoice("", _("（无）"))] + [
        SelectChoice(s.code, f"{s.name} ({s.code})") for s in catalogue.suppliers(current_user.brand_id)
    ]


@bp.route("/products/new", methods=["GET", "POST"], defaults={"product_id": None})
@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
def product_edit(product_id: int | None):
    product = None
    if product_id is not None:
        try:
            product = catalogue.get_product(current_user.brand_id, product_id)
        except NotFound:
            abort(404)
    form = ProductForm()
    _supplier_choices(form)
    if request.method == "GET" and product is not None:
        form.sku.data, form.name.data, form.category.data = product.sku, product.name, product.category
        form.price.set_fen(product.price_fen)
        form.supply_cost.set_fen(product.supply_cost_fen)
        form.wholesale_price.set_fen(product.wholesale_price_fen)
        form.supplier_code.data = product.supplier.code if product.supplier else ""
        form.sells_promotion.data, form.sells_consignment.data = product.sells_promotion, product.sells_consignment
        form.sells_wholesale.data, form.active.data = product.sells_wholesale, product.active
        form.image_url.data, form.description.data = product.image_url, product.description
    elif request.method == "GET":
        form.sells_promotion.data = True
    status = 200
    if form.validate_on_submit():
        modes = tuple(m for m in ("promotion", "consignment", "wholesale") if getattr(form, f"sells_{m}").data)
        data = catalogue.ProductInput(
            name=form.name.data, price_fen=form.price.fen or 0, supply_cost_fen=form.supply_cost.fen or 0,
            wholesale_price_fen=form.wholesale_price.fen, supplier_code=form.supplier_code.data or None,
            category=form.category.data, modes=modes, active=form.active.data,
            description=form.description.data, image_url=form.image_url.data,
        )
        try:
            if product is not None and form.sku.data.strip() != product.sku:
                raise ServiceError("sku_fixed", _("SKU 创建后不能修改。"), "sku")
            saved, _created = catalogue.upsert_product(current_user.brand, form.sku.data, data)
        except ServiceError as err:
            attach_error(form, err, "name", aliases={"price_fen": "price", "supply_cost_fen": "supply_cost",
                                                     "wholesale_price_fen": "wholesale_price",
                                                     "supplier": "supplier_code", "modes": "sells_promotion"})
            status = 422
        else:
            flash(_("商品已保存。"), "success")
            return redirect_to(url_for("manage.products"))
    elif request.method == "POST":
        status = 400
    return render("manage/product_form.html", form=form, product=product, nav="products"), status


@bp.get("/suppliers")
def suppliers():
    return render("manage/suppliers.html", suppliers=catalogue.suppliers(current_user.brand_id), nav="suppliers")


@bp.route("/suppliers/new", methods=["GET", "POST"], defaults={"supplier_id": None})
@bp.route("/suppliers/<int:supplier_id>", methods=["GET", "POST"])
def supplier_edit(supplier_id: int | None):
    from distweb.extensions import db

    supplier = None
    if supplier_id is not None:
        supplier = db.session.get(Supplier, supplier_id)
        if supplier is None or supplier.brand_id != current_user.brand_id:
            abort(404)
    form = SupplierForm(obj=supplier) if request.method == "GET" else SupplierForm()
    status = 200
    if form.validate_on_submit():
        try:
            saved = catalogue.save_supplier(current_user.brand, catalogue.SupplierInput(
                code=form.code.data, name=form.name.data, contact_name=form.contact_name.data,
                contact_phone=form.contact_phone.data, settlement_account=form.settlement_account.data,
            ), supplier)
            if form.login_email.data:
                with transaction():
                    accounts.create_user(current_user.brand, Role.SUPPLIER, saved.name, form.login_password.data or "",
                                         email=form.login_email.data, supplier_id=saved.id)
        except ServiceError as err:
            attach_error(form, err, "name", aliases={"email": "login_email", "password": "login_password"})
            status = 422
        else:
            flash(_("供货商已保存。"), "success")
            return redirect_to(url_for("manage.suppliers"))
    elif request.method == "POST":
        status = 400
    return render("manage/supplier_form.html", form=form, supplier=supplier, nav="suppliers"), status
