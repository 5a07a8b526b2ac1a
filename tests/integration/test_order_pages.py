"""Orders through the pages: a buyer in a promoter's shop, payment, the supplier portal,
the manager's order page, and what promoters may see."""

import json
import re
import time

import pytest

from distweb.extensions import db
from distweb.models import Order, PurchaseOrder
from distweb.models.order import OrderStatus
from distweb.services import catalogue, webhooks
from tests.conftest import Browser
from tests.support.factories import PASSWORD


@pytest.fixture
def world(app, make):
    brand = make.brand()
    top = make.promoter(name="上级", phone="13500000001")
    seller = make.promoter(name="店主", phone="13500000002", upline=top, distributor=True)
    supplier_user = make.supplier_user("westlake")
    with app.app_context():
        from distweb.models import Brand

        brand_row = db.session.get(Brand, brand.id)
        catalogue.upsert_product(brand_row, "TEA-001", catalogue.ProductInput(
            name="明前龙井", price_fen=5900, supply_cost_fen=3100, supplier_code="westlake",
            modes=("promotion", "consignment")))
        catalogue.upsert_product(brand_row, "CUP-001", catalogue.ProductInput(
            name="茶杯", price_fen=2000, modes=("promotion",)))
    return {"top": top, "seller": seller, "supplier": supplier_user}


def checkout(client, code, sku, **overrides):
    browser = Browser(client)
    data = {"quantity": "2", "name": "李女士", "phone": "13912341234", "address": "杭州市西湖区"}
    data.update(overrides)
    return browser.post(f"/s/{code}/p/{sku}", data)


def test_buyer_orders_in_a_shop_and_the_order_is_attributed_to_the_shop_owner(app, world, client):
    seller = world["seller"]
    shop = client.get(f"/s/{seller.code}").get_data(as_text=True)
    assert "明前龙井" in shop and "¥59.00" in shop
    response = checkout(client, seller.code, "TEA-001")
    assert response.status_code == 302 and "/s/o/" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "待付款" in page and "¥118.00" in page
    with app.app_context():
        order = db.session.query(Order).one()
        assert order.mode.value == "consignment" and order.status == OrderStatus.CREATED
        assert order.promoter_id == seller.id and order.chain_l2_id == world["top"].id
        assert order.attribution_source == "shop" and order.total_paid_fen == 11800


@pytest.mark.parametrize(("overrides", "message"), [
    ({"quantity": "0"}, "数量需在 1–999 之间"),
    ({"phone": "123"}, "请输入 11 位手机号码"),
    ({"address": ""}, "请填写收货地址"),
])
def test_bad_checkout_input_is_a_form_message_and_writes_nothing(app, world, client, overrides, message):
    response = checkout(client, world["seller"].code, "TEA-001", **overrides)
    assert response.status_code in (400, 422) and message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Order).count() == 0


def test_shops_of_suspended_or_unknown_promoters_and_unknown_products_are_404(app, world, client, make):
    from distweb.models.network import PromoterStatus

    gone = make.promoter(name="停用", status=PromoterStatus.SUSPENDED)
    assert client.get(f"/s/{gone.code}").status_code == 404
    assert client.get("/s/NOBODY99").status_code == 404
    assert client.get(f"/s/{world['seller'].code}/p/NOPE").status_code == 404
    assert client.get("/s/o/not-a-real-token-at-all").status_code == 404


def add_product(app, sku, name, modes, **fields):
    with app.app_context():
        from distweb.models import Brand

        catalogue.upsert_product(db.session.query(Brand).one(), sku, catalogue.ProductInput(
            name=name, price_fen=8800, supply_cost_fen=4000, supplier_code="westlake", modes=modes, **fields))


def test_a_plain_promoters_shop_sells_for_the_brand_and_hides_consignment_only_products(app, world, client):
    add_product(app, "TEA-009", "代销专供白茶", ("consignment",))
    plain, distributor = world["top"], world["seller"]
    plain_shop = client.get(f"/s/{plain.code}").get_data(as_text=True)
    assert "明前龙井" in plain_shop and "茶杯" in plain_shop and "代销专供白茶" not in plain_shop
    assert "代销专供白茶" in client.get(f"/s/{distributor.code}").get_data(as_text=True)
    assert client.get(f"/s/{plain.code}/p/TEA-009").status_code == 404
    assert "品牌官方发货" in client.get(f"/s/{plain.code}/p/TEA-001").get_data(as_text=True)
    assert "供货商直接发货" in client.get(f"/s/{distributor.code}/p/TEA-001").get_data(as_text=True)
    response = checkout(client, plain.code, "TEA-001")
    assert response.status_code == 302
    with app.app_context():
        order = db.session.query(Order).one()
        assert order.mode.value == "promotion" and order.promoter_id == plain.id
        assert order.attribution_source == "shop" and order.total_paid_fen == 11800


def test_stock_left_with_a_former_distributor_is_not_sold_from_its_shop(app, world, client):
    from distweb.models import Brand, Promoter
    from distweb.models.base import utcnow
    from distweb.services import network, orders

    add_product(app, "TEA-005", "福鼎白茶", ("promotion", "wholesale"), wholesale_price_fen=6000)
    seller = world["seller"]
    with app.app_context():
        brand = db.session.query(Brand).one()
        stock = orders.place_order(brand, orders.OrderInput(
            external_id="STOCK-1", mode="wholesale", promoter_code=seller.code,
            items=[orders.ItemInput("TEA-005", 5)], paid_at=utcnow()))
        orders.complete(brand.id, stock.id)
    page = client.get(f"/s/{seller.code}/p/TEA-005").get_data(as_text=True)
    assert "现货 5 件" in page
    with app.app_context():
        network.set_distributor(None, db.session.get(Promoter, seller.id), False)
    page = client.get(f"/s/{seller.code}/p/TEA-005").get_data(as_text=True)
    assert "品牌官方发货" in page and "现货" not in page
    assert checkout(client, seller.code, "TEA-005", quantity="1").status_code == 302
    with app.app_context():
        sale = db.session.query(Order).filter(Order.external_id != "STOCK-1").one()
        assert sale.mode.value == "promotion" and sale.promoter_id == seller.id


def sign_and_post(client, app, body):
    with app.app_context():
        from distweb.models import Brand
        from distweb.services import payments

        secret = payments.payment_secret(db.session.query(Brand).one())
    raw = json.dumps(body).encode()
    return client.post("/pay/notify", data=raw, content_type="application/json",
                       headers={"X-Distweb-Signature": webhooks.sign(secret, int(time.time()), raw)})


def test_signed_payment_notification_marks_the_order_paid_once(app, world, client):
    checkout(client, world["seller"].code, "TEA-001")
    with app.app_context():
        external_id = db.session.query(Order.external_id).scalar()
    wrong = sign_and_post(client, app, {"external_id": external_id, "paid_fen": 100})
    assert wrong.status_code == 422 and wrong.get_json()["error"]["code"] == "amount_mismatch"
    ok = sign_and_post(client, app, {"external_id": external_id, "paid_fen": 11800, "transaction_id": "WX1"})
    assert ok.status_code == 200 and ok.get_json()["status"] == "paid"
    again = sign_and_post(client, app, {"external_id": external_id, "paid_fen": 11800, "transaction_id": "WX1"})
    assert again.status_code == 200
    with app.app_context():
        assert db.session.query(PurchaseOrder).count() == 1  # paid once, one purchase order
    unsigned = client.post("/pay/notify", json={"external_id": external_id, "paid_fen": 11800})
    assert unsigned.status_code == 401


def test_consignment_from_shop_to_supplier_shipping_to_promoter_view(app, world, client):
    checkout(client, world["seller"].code, "TEA-001")
    with app.app_context():
        order_id = db.session.query(Order.id).scalar()
    manager = Browser(app.test_client())
    manager.login("boss@example.com", PASSWORD)
    page = f"/manage/orders/{order_id}"
    assert manager.post(f"{page}/paid", token_from=page).status_code == 302
    shown = manager.get(page).get_data(as_text=True)
    assert "已付款" in shown and "采购单" in shown and "¥62.00" in shown

    supplier = Browser(app.test_client())
    supplier.login("westlake@example.com", PASSWORD)
    portal = supplier.get("/supplier/").get_data(as_text=True)
    po_id = re.search(r"/supplier/po/(\d+)", portal).group(1)
    assert "¥62.00" in portal
    missing = supplier.post(f"/supplier/po/{po_id}/ship", {"carrier": "顺丰", "tracking_no": ""},
                            token_from=f"/supplier/po/{po_id}")
    assert "请填写快递公司和运单号" in supplier.get(missing.headers["Location"]).get_data(as_text=True)
    supplier.post(f"/supplier/po/{po_id}/ship", {"carrier": "顺丰速运", "tracking_no": "SF123456"},
                  token_from=f"/supplier/po/{po_id}")

    promoter = Browser(app.test_client())
    promoter.login("13500000002", PASSWORD)
    detail = promoter.get(f"/promoter/orders/{order_id}").get_data(as_text=True)
    assert "已发货" in detail and "顺丰速运 SF123456" in detail and "供货商已发货" in detail
    upline = Browser(app.test_client())
    upline.login("13500000001", PASSWORD)
    assert upline.get(f"/promoter/orders/{order_id}").status_code == 200  # its team's order, level 2
    assert "团队" in upline.get(f"/promoter/orders/{order_id}").get_data(as_text=True)
    team_list = upline.get("/promoter/orders?level=2").get_data(as_text=True)
    assert f"/promoter/orders/{order_id}" in team_list
    assert f"/promoter/orders/{order_id}" not in upline.get("/promoter/orders").get_data(as_text=True)


def test_a_supplier_cannot_see_another_suppliers_purchase_orders(app, world, client, make):
    checkout(client, world["seller"].code, "TEA-001")
    with app.app_context():
        from distweb.services import orders

        order = db.session.query(Order).one()
        orders.mark_paid(order.brand_id, order.id)
        po_id = db.session.query(PurchaseOrder.id).scalar()
    make.supplier_user("other")
    other = Browser(app.test_client())
    other.login("other@example.com", PASSWORD)
    assert other.get(f"/supplier/po/{po_id}").status_code == 404
    assert other.post(f"/supplier/po/{po_id}/ship", {"carrier": "x", "tracking_no": "y"},
                      token_from="/supplier/").status_code == 404


def test_a_promoter_cannot_open_an_order_outside_its_chain(app, world, client, make):
    checkout(client, world["seller"].code, "TEA-001")
    make.promoter(name="路人", phone="13500000009")
    stranger = Browser(app.test_client())
    stranger.login("13500000009", PASSWORD)
    with app.app_context():
        order_id = db.session.query(Order.id).scalar()
    assert stranger.get(f"/promoter/orders/{order_id}").status_code == 404


def test_manager_refund_in_yuan_and_cancel_rules(app, world, client):
    checkout(client, world["seller"].code, "CUP-001", quantity="3")
    with app.app_context():
        order = db.session.query(Order).one()
        item_id, order_id = order.items[0].id, order.id
    manager = Browser(app.test_client())
    manager.login("boss@example.com", PASSWORD)
    page = f"/manage/orders/{order_id}"
    manager.post(f"{page}/paid", token_from=page)
    manager.post(f"{page}/refund", {f"amount_{item_id}": "20.5", "reason": "破损"}, token_from=page)
    shown = manager.get(page).get_data(as_text=True)
    assert "已退 ¥20.50" in shown
    manager.post(f"{page}/refund", {f"amount_{item_id}": "12.345"}, token_from=page)
    assert "最多两位小数" in manager.get(page).get_data(as_text=True)
    manager.post(f"{page}/ship", {"carrier": "中通", "tracking_no": "ZT1"}, token_from=page)
    manager.post(f"{page}/cancel", {"reason": "太晚"}, token_from=page)
    assert "已发货的订单不能取消" in manager.get(page).get_data(as_text=True)
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.refunded_fen == 2050 and order.status == OrderStatus.SHIPPED


def test_manager_creates_a_product_and_refuses_bad_prices(app, world):
    manager = Browser(app.test_client())
    manager.login("boss@example.com", PASSWORD)
    form = {"sku": "GIFT-9", "name": "礼盒", "category": "礼盒", "price": "368.00", "supply_cost": "210",
            "wholesale_price": "", "supplier_code": "westlake", "sells_promotion": "y", "active": "y"}
    assert manager.post("/manage/products/new", form).status_code == 302
    with app.app_context():
        product = catalogue.product_by_sku(db.session.query(Order.brand_id).scalar() or 1, "GIFT-9") or \
            db.session.query(__import__("distweb.models", fromlist=["Product"]).Product).filter_by(sku="GIFT-9").one()
        assert product.price_fen == 36800 and product.supply_cost_fen == 21000
    bad = manager.post("/manage/products/new", {**form, "sku": "GIFT-10", "price": "1.005"})
    assert bad.status_code == 400 and "最多两位小数" in bad.get_data(as_text=True)
    above = manager.post("/manage/products/new", {**form, "sku": "GIFT-11", "supply_cost": "999"})
    assert above.status_code == 422 and "供货价不能高于售价" in above.get_data(as_text=True)
