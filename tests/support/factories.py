"""Test data built through the services, so tests exercise the real rules."""

from __future__ import annotations

import functools
import itertools
from datetime import timedelta

from flask import has_app_context
from sqlalchemy import inspect as sa_inspect

from distweb.extensions import db
from distweb.models import Order, OrderItem, Product, Promoter, Supplier
from distweb.models.base import utcnow
from distweb.models.network import PromoterStatus, Rank
from distweb.models.order import OrderMode, OrderStatus
from distweb.models.user import Role
from distweb.services import accounts, network
from distweb.services.tx import transaction

PASSWORD = "secret123"
_seq = itertools.count(1)


def _detached(method):
    """Run a factory in its own app context; hand back a loaded, detached object."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.app.app_context():
            obj = method(self, *args, **kwargs)
            if obj is not None:
                db.session.refresh(obj)
                for name in ("user", "promoter", "brand", "supplier", "items"):
                    if name in sa_inspect(type(obj)).relationships:
                        getattr(obj, name)
            db.session.expunge_all()
            db.session.remove()
        if has_app_context():
            # A test holding its own app context must see what we just wrote: end its
            # transaction, whose snapshot (SQLite WAL) predates our commit.
            db.session.commit()
        return obj

    return wrapper


class Factories:
    def __init__(self, app):
        self.app = app

    @_detached
    def brand(self, name="测试品牌"):
        brand = accounts.current_brand()
        if brand is None:
            brand, _, _ = accounts.init_brand(name, "boss@example.com", PASSWORD)
        return brand

    @_detached
    def manager(self, email=None):
        brand = self.brand()
        if email is None:
            return accounts.find_user_by_login("boss@example.com")
        with transaction():
            user = accounts.create_user(brand, Role.MANAGER, "经理", PASSWORD, email=email)
        return user

    @_detached
    def promoter(self, name="王小明", upline=None, phone=None, status=PromoterStatus.ACTIVE, rank=Rank.PROMOTER,
                 distributor=False):
        """A promoter; ``distributor=True`` for one that sells on consignment or wholesale."""
        brand = self.brand()
        n = next(_seq)
        phone = phone or f"138{n:08d}"
        with transaction():
            upline_row = db.session.get(Promoter, upline.id) if upline else None
            promoter = network.add_promoter(brand, name, phone, PASSWORD, upline_row, rank=rank, status=status,
                                            distributor=distributor)
        return promoter

    @_detached
    def supplier_user(self, code="sup"):
        brand = self.brand()
        with transaction():
            supplier = Supplier(brand_id=brand.id, code=code, name="供货商")
            db.session.add(supplier)
            db.session.flush()
            user = accounts.create_user(brand, Role.SUPPLIER, "供货商", PASSWORD, email=f"{code}@example.com",
                                        supplier_id=supplier.id)
        return user

    @_detached
    def product(self, sku="TEA-001", price_fen=5900, supply_cost_fen=3100):
        brand = self.brand()
        with transaction():
            product = Product(brand_id=brand.id, sku=sku, name=f"商品 {sku}", price_fen=price_fen,
                              supply_cost_fen=supply_cost_fen, category="茶叶")
            db.session.add(product)
        return product

    @_detached
    def order(self, promoter, product, quantity=1, status=OrderStatus.PAID, days_ago=0, mode=OrderMode.PROMOTION):
        n = next(_seq)
        placed = utcnow() - timedelta(days=days_ago)
        with transaction():
            order = Order(brand_id=promoter.brand_id, external_id=f"T-{n}", mode=mode, status=status,
                          promoter_id=promoter.id, total_paid_fen=product.price_fen * quantity, placed_at=placed,
                          paid_at=placed)
            order.items.append(OrderItem(product_id=product.id, sku=product.sku, name=product.name, quantity=quantity,
                                         unit_price_fen=product.price_fen, paid_fen=product.price_fen * quantity))
            db.session.add(order)
        return order
