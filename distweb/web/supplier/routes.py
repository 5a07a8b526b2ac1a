"""The supplier portal (purchase orders arrive with the orders issue)."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user
from sqlalchemy import select

from distweb.extensions import db
from distweb.models import Product
from distweb.models.user import Role
from distweb.web.access import require_role
from distweb.web.htmx import render

bp = Blueprint("supplier", __name__, url_prefix="/supplier")
require_role(bp, Role.SUPPLIER)


@bp.get("/")
def index():
    products = db.session.scalars(
        select(Product)
        .where(Product.brand_id == current_user.brand_id, Product.supplier_id == current_user.supplier_id)
        .order_by(Product.sku)
    ).all()
    return render("supplier/index.html", supplier=current_user.supplier, products=products)
