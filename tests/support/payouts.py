"""A brand with both stand-in providers enabled and a promoter with money to withdraw: the
world of the payout tests (the ``payout_world`` fixture, registered in
tests/integration/conftest.py; a module takes it as its ``world``)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from distweb.extensions import db
from distweb.models import Brand
from distweb.models.base import utcnow
from distweb.services import catalogue, commission, online_pay, orders, settlement, withdrawals

_funding = itertools.count(1)


@pytest.fixture
def payout_world(app, app_ctx, make, wechat, alipay, trusted):
    wechat.failures.clear()
    alipay.failures.clear()
    brand_ref = make.brand()
    seller = make.promoter(name="卖家")
    brand = db.session.get(Brand, brand_ref.id)
    commission.save_plan(brand.id, {"depth": 1, "freeze_days": 7, "max_total_bp": 3000, "rules": [
        {"scope": {}, "level": 1, "kind": "percent", "rate_bp": 1000}]})
    settings, secrets = wechat.settings()
    online_pay.save_config(brand.id, "wechat", True, settings, secrets)
    settings, secrets = alipay.settings()
    online_pay.save_config(brand.id, "alipay", True, settings, {**secrets, **alipay.certificates()})
    fund(brand, seller, 100000)
    return {"brand": brand, "seller": seller}


def fund(brand, seller, fen):
    """Available money the way it gets there: a sale's 10 ％ commission, completed past its
    freeze window and settled by a run."""
    n = next(_funding)
    catalogue.upsert_product(brand, f"FUND-{n}", catalogue.ProductInput(name="充值", price_fen=fen * 10))
    order = orders.place_order(brand, orders.OrderInput(
        external_id=f"F-{n}", mode="promotion", promoter_code=seller.code,
        items=[orders.ItemInput(f"FUND-{n}", 1)], paid_at=utcnow() - timedelta(days=12)))
    orders.complete(order.brand_id, order.id, utcnow() - timedelta(days=10))
    settlement.execute_run(settlement.start_run(brand.id, enqueue=False).id)
    db.session.commit()


def approved(world, fen, method, account, name="张三"):
    w = withdrawals.request(world["seller"].id, withdrawals.Request(fen, method, name, account))
    return withdrawals.approve(w.brand_id, w.id)
