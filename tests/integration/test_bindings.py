"""Buyer bindings cannot be stolen: a binding is made when an order is paid, never by an
unpaid one; an anonymous shop checkout binds only with the buyer's phone verified by SMS code
or a tracked-link touch of that promoter from the buyer's browser; checkouts are rate-limited
per phone as well as per address."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from distweb.extensions import db
from distweb.models import Brand, BuyerBinding, Order
from distweb.models.base import utcnow
from distweb.models.network import BindingMode
from distweb.services import attribution, catalogue, network, orders
from tests.conftest import csrf_token_from

VICTIM = "13911112222"


@pytest.fixture
def world(app, make):
    brand = make.brand()
    thief = make.promoter(name="盗客", phone="13500000001")
    honest = make.promoter(name="诚实", phone="13500000002")
    with app.app_context():
        catalogue.upsert_product(db.session.get(Brand, brand.id), "TEA-1", catalogue.ProductInput(
            name="明前龙井", price_fen=5900, modes=("promotion",)))
    return {"brand": brand, "thief": thief, "honest": honest}


def checkout(client, code, phone=VICTIM, remote_addr="203.0.113.7"):
    environ = {"REMOTE_ADDR": remote_addr}
    page = client.get(f"/s/{code}/p/TEA-1", environ_base=environ).get_data(as_text=True)
    return client.post(f"/s/{code}/p/TEA-1", environ_base=environ, data={
        "csrf_token": csrf_token_from(page), "quantity": "1", "name": "买家", "phone": phone, "address": "杭州"})


def pay_all(app, brand_id):
    with app.app_context():
        for order_id in db.session.scalars(select(Order.id).where(Order.status == "created")).all():
            orders.mark_paid(brand_id, order_id)


def binding_of(app, phone=VICTIM):
    with app.app_context():
        row = db.session.scalars(select(BuyerBinding).where(
            BuyerBinding.buyer_key == attribution.buyer_key_for_phone(phone))).first()
        return row.promoter_id if row else None


def credited(app):
    with app.app_context():
        return [o.promoter_id for o in db.session.scalars(select(Order).order_by(Order.id))]


def test_an_unpaid_order_typed_in_anothers_phone_takes_nothing(app, world):
    """The theft: a promoter places an unpaid order in a victim's phone in its own shop, then
    the victim follows an honest promoter's link and buys there: the honest one is credited
    and, once the victim pays, the victim is bound to the honest one."""
    thief, honest = world["thief"], world["honest"]
    attacker = app.test_client()
    assert attacker.get(f"/r/{thief.code}").status_code == 302  # even with its own link followed
    assert checkout(attacker, thief.code).status_code == 302
    assert binding_of(app) is None  # unpaid: binds no one

    victim = app.test_client()
    assert victim.get(f"/r/{honest.code}/TEA-1").status_code == 302
    assert checkout(victim, honest.code, remote_addr="198.51.100.9").status_code == 302
    assert credited(app) == [thief.id, honest.id]
    with app.app_context():
        victims_order = db.session.scalars(select(Order).order_by(Order.id.desc())).first()
        orders.mark_paid(world["brand"].id, victims_order.id)
    assert binding_of(app) == honest.id
    pay_all(app, world["brand"].id)  # the thief paying its own order later changes nothing
    assert binding_of(app) == honest.id


def test_a_shop_checkout_without_a_tracked_link_never_binds(app, world):
    """A shop visit alone (anyone can open a shop and type a phone number) credits the order
    but binds no buyer, even when paid."""
    buyer = app.test_client()
    assert checkout(buyer, world["thief"].code).status_code == 302
    pay_all(app, world["brand"].id)
    assert credited(app) == [world["thief"].id]
    assert binding_of(app) is None
    with app.app_context():
        assert db.session.scalars(select(Order)).one().binds_buyer is False


def test_a_tracked_link_of_another_promoter_does_not_bind_in_this_shop(app, world):
    buyer = app.test_client()
    buyer.get(f"/r/{world['honest'].code}")
    assert checkout(buyer, world["thief"].code).status_code == 302  # then opened the thief's shop
    pay_all(app, world["brand"].id)
    assert binding_of(app) is None


def test_api_orders_bind_on_payment_not_on_placement(app, world):
    thief, honest = world["thief"], world["honest"]
    with app.app_context():
        brand = db.session.get(Brand, world["brand"].id)
        unpaid = orders.place_order(brand, orders.OrderInput(
            external_id="U-1", mode="promotion", promoter_code=thief.code,
            items=[orders.ItemInput("TEA-1", 1)], buyer=orders.BuyerInput("买家", VICTIM)))
        assert unpaid.binds_buyer is True
    assert binding_of(app) is None
    with app.app_context():
        brand = db.session.get(Brand, world["brand"].id)
        orders.place_order(brand, orders.OrderInput(
            external_id="P-1", mode="promotion", promoter_code=honest.code,
            items=[orders.ItemInput("TEA-1", 1)], buyer=orders.BuyerInput("买家", VICTIM), paid_at=utcnow()))
    assert binding_of(app) == honest.id  # paid as placed: bound at once
    with app.app_context():
        orders.mark_paid(world["brand"].id, unpaid.id)
    assert binding_of(app) == honest.id  # the earlier unpaid order, paid later, takes nothing


def test_in_overwrite_mode_each_paid_order_moves_the_binding(app, world):
    thief, honest = world["thief"], world["honest"]
    with app.app_context():
        settings = network.get_settings(world["brand"].id)
        settings.binding_mode = BindingMode.OVERWRITE
        db.session.commit()
        brand = db.session.get(Brand, world["brand"].id)
        for n, who in enumerate((honest, thief)):
            orders.place_order(brand, orders.OrderInput(
                external_id=f"O-{n}", mode="promotion", promoter_code=who.code,
                items=[orders.ItemInput("TEA-1", 1)], buyer=orders.BuyerInput("买家", VICTIM)))
    assert binding_of(app) is None
    pay_all(app, world["brand"].id)  # paid in order: honest, then thief
    assert binding_of(app) == thief.id


def test_checkouts_are_limited_per_phone_from_any_address(app, world):
    shop = world["honest"].code
    statuses = [checkout(app.test_client(), shop, remote_addr=f"198.51.100.{i}").status_code for i in range(6)]
    assert statuses == [302] * 5 + [429]
    refused = checkout(app.test_client(), shop, remote_addr="198.51.100.77")
    assert refused.status_code == 429 and "这个手机号下单太频繁" in refused.get_data(as_text=True)
    other_phone = checkout(app.test_client(), shop, phone="13922223333", remote_addr="198.51.100.78")
    assert other_phone.status_code == 302
    with app.app_context():
        assert db.session.query(Order).count() == 6


# ---------------------------------------------------------------- a verified phone


def checkout_verified(client, code, outbox, phone=VICTIM, remote_addr="203.0.113.7", sms_code=None):
    """获取验证码 on the product page, then the checkout with the code the phone received."""
    environ = {"REMOTE_ADDR": remote_addr}
    url = f"/s/{code}/p/TEA-1"
    page = client.get(url, environ_base=environ).get_data(as_text=True)
    sent = client.post(url, environ_base=environ, data={"csrf_token": csrf_token_from(page), "phone": phone,
                                                         "send_code": "1"})
    assert sent.status_code == 200 and "验证码已发送至" in sent.get_data(as_text=True)
    return client.post(url, environ_base=environ, data={
        "csrf_token": csrf_token_from(page), "quantity": "1", "name": "买家", "phone": phone, "address": "杭州",
        "code": sms_code or outbox.last_code(phone)})


def test_a_checkout_with_the_buyers_verified_phone_binds_on_payment_without_a_link(app, world, sms_outbox):
    buyer = app.test_client()  # opened the shop directly: no tracked link followed
    assert checkout_verified(buyer, world["honest"].code, sms_outbox).status_code == 302
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        assert order.binds_buyer is True and order.promoter_id == world["honest"].id
    assert binding_of(app) is None  # not before it is paid
    pay_all(app, world["brand"].id)
    assert binding_of(app) == world["honest"].id


def test_the_same_checkout_unverified_and_without_a_link_does_not_bind(app, world, sms_outbox):
    buyer = app.test_client()
    assert checkout(buyer, world["honest"].code).status_code == 302  # no code typed
    pay_all(app, world["brand"].id)
    assert binding_of(app) is None
    with app.app_context():
        assert db.session.scalars(select(Order)).one().binds_buyer is False


def test_a_thief_cannot_verify_a_victims_phone(app, world, sms_outbox):
    """The code goes to the victim's phone: a guess is a form message and places nothing."""
    attacker = app.test_client()

    def guess(outbox_code):
        return f"{(int(outbox_code) + 1) % 1_000_000:06d}"

    environ = {"REMOTE_ADDR": "203.0.113.66"}
    url = f"/s/{world['thief'].code}/p/TEA-1"
    page = attacker.get(url, environ_base=environ).get_data(as_text=True)
    attacker.post(url, environ_base=environ, data={"csrf_token": csrf_token_from(page), "phone": VICTIM,
                                                   "send_code": "1"})
    code = sms_outbox.last_code(VICTIM)  # what only the victim's phone shows
    response = attacker.post(url, environ_base=environ, data={
        "csrf_token": csrf_token_from(page), "quantity": "1", "name": "买家", "phone": VICTIM, "address": "杭州",
        "code": guess(code)})
    assert response.status_code == 422 and "验证码不正确" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Order).count() == 0


def test_a_checkout_code_is_used_by_one_order_only(app, world, sms_outbox):
    buyer = app.test_client()
    assert checkout_verified(buyer, world["honest"].code, sms_outbox).status_code == 302
    code = sms_outbox.last_code(VICTIM)
    page = buyer.get(f"/s/{world['thief'].code}/p/TEA-1").get_data(as_text=True)
    again = buyer.post(f"/s/{world['thief'].code}/p/TEA-1", data={
        "csrf_token": csrf_token_from(page), "quantity": "1", "name": "买家", "phone": VICTIM, "address": "杭州",
        "code": code})
    assert again.status_code == 422 and "验证码已失效" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Order).count() == 1


def test_the_code_and_the_order_are_written_together_or_not_at_all(app, world, sms_outbox, monkeypatch):
    """The code is used inside the order's transaction: when that transaction fails after
    using it, neither the order nor the use is kept, and the buyer can try again."""
    from distweb.services import sms
    from distweb.services.errors import ServiceError

    real = sms.consume

    def use_then_fail(code_id):
        real(code_id)
        monkeypatch.setattr(sms, "consume", real)
        raise ServiceError("out_of_stock", "库存不足。", "items")

    monkeypatch.setattr(sms, "consume", use_then_fail)
    buyer = app.test_client()
    refused = checkout_verified(buyer, world["honest"].code, sms_outbox)
    assert refused.status_code == 422 and "库存不足" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Order).count() == 0
    page = buyer.get(f"/s/{world['honest'].code}/p/TEA-1").get_data(as_text=True)
    retried = buyer.post(f"/s/{world['honest'].code}/p/TEA-1", data={
        "csrf_token": csrf_token_from(page), "quantity": "1", "name": "买家", "phone": VICTIM, "address": "杭州",
        "code": sms_outbox.last_code(VICTIM)})
    assert retried.status_code == 302
    pay_all(app, world["brand"].id)
    assert binding_of(app) == world["honest"].id


def test_asking_for_a_code_is_not_counted_as_a_checkout(app, world, sms_outbox):
    shop = world["honest"].code
    assert checkout_verified(app.test_client(), shop, sms_outbox, remote_addr="198.51.100.1").status_code == 302
    statuses = [checkout(app.test_client(), shop, remote_addr=f"198.51.100.{i}").status_code for i in range(2, 7)]
    assert statuses == [302] * 4 + [429]  # five checkouts per phone, the code request not among them
