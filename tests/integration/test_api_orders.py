"""API v1 orders and webhooks, as a shop integrating with distweb would exercise them."""

import json
import time

import pytest

from distweb.extensions import db
from distweb.models import Order, PurchaseOrder, StockLevel, WebhookEvent
from distweb.services import api_keys, webhooks


@pytest.fixture
def shop(app, make, client):
    brand = make.brand()
    seller = make.promoter(name="卖家", phone="13600000001", distributor=True)
    upline = None
    with app.app_context():
        from distweb.models import Brand, Promoter

        brand_row = db.session.get(Brand, brand.id)
        row, key = api_keys.create_key(brand_row, "商城")
        secret = row.webhook_secret
        upline = db.session.get(Promoter, seller.id)

    class Shop:
        promoter = seller
        promoter_code = seller.code

        def call(self, method, path, body=None, headers=None):
            h = {"Authorization": f"Bearer {key}", **(headers or {})}
            kwargs = {"headers": h}
            if body is not None:
                kwargs["data"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
                kwargs["content_type"] = "application/json"
            return client.open("/api/v1" + path, method=method, **kwargs)

        def put_product(self, sku, **fields):
            body = {"name": f"商品{sku}", "price_fen": 5900, "supply_cost_fen": 3100, "supplier": "westlake-tea",
                    "category": "tea", "modes": ["promotion", "consignment", "wholesale"], "active": True}
            body.update(fields)
            return self.call("PUT", f"/products/{sku}", body)

        def order(self, external_id="SHOP-1", **fields):
            body = {"external_id": external_id, "promoter_code": seller.code, "mode": "promotion", "currency": "CNY",
                    "buyer": {"name": "李女士", "phone": "13900000000"},
                    "items": [{"sku": "TEA-001", "quantity": 2, "unit_price_fen": 5900, "paid_fen": 11800}],
                    "paid_at": "2026-11-28T10:00:00+08:00"}
            body.update(fields)
            return self.call("POST", "/orders", body)

        def webhook(self, event_id, event_type, data, timestamp=None, secret_override=None):
            raw = json.dumps({"id": event_id, "type": event_type, "data": data}).encode()
            t = int(timestamp if timestamp is not None else time.time())
            return self.call("POST", "/webhooks/orders", raw,
                             headers={"X-Distweb-Signature": webhooks.sign(secret_override or secret, t, raw)})

    s = Shop()
    assert s.put_product("TEA-001").status_code == 201
    del upline
    return s


def test_products_upsert_by_sku_and_read_back(shop):
    again = shop.put_product("TEA-001", name="明前龙井 250g", price_fen=6900)
    assert again.status_code == 200
    body = shop.call("GET", "/products/TEA-001").get_json()
    assert body["name"] == "明前龙井 250g" and body["price_fen"] == 6900 and body["supplier"] == "westlake-tea"
    assert set(body["modes"]) == {"promotion", "consignment", "wholesale"}


@pytest.mark.parametrize(("fields", "field"), [
    ({"price_fen": 59.0}, "price_fen"), ({"price_fen": "5900"}, "price_fen"), ({"price_fen": -1}, "price_fen"),
    ({"modes": ["teleport"]}, "modes"), ({"supply_cost_fen": 9000}, "supply_cost_fen"),
    ({"price_fen": 2**31}, "price_fen"), ({"wholesale_price_fen": 10**12}, "wholesale_price_fen"),
])
def test_bad_products_are_422(shop, fields, field):
    response = shop.put_product("TEA-002", **fields)
    assert response.status_code == 422 and response.get_json()["error"]["field"] == field
    assert shop.call("GET", "/products/TEA-002").status_code == 404


def test_a_promotion_order_is_paid_and_attributed(shop):
    response = shop.order()
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "paid" and body["total_paid_fen"] == 11800 and body["promoter_code"] == shop.promoter_code
    assert body["purchase_orders"] == [] and body["items"][0]["paid_fen"] == 11800
    assert shop.call("GET", "/orders/SHOP-1").get_json()["external_id"] == "SHOP-1"


def test_a_consignment_order_creates_a_purchase_order_at_supply_cost(shop, app):
    body = shop.order("SHOP-2", mode="consignment").get_json()
    assert len(body["purchase_orders"]) == 1
    po = body["purchase_orders"][0]
    assert po["supplier"] == "westlake-tea" and po["total_cost_fen"] == 6200 and po["status"] == "open"


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"items": []}, "empty_items", "items"),
    ({"items": [{"sku": "NOPE", "quantity": 1}]}, "unknown_sku", "items[0].sku"),
    ({"promoter_code": "ZZZZZZZZ"}, "unknown_promoter", "promoter_code"),
    ({"items": [{"sku": "TEA-001", "quantity": 0}]}, "invalid_quantity", "items[0].quantity"),
    ({"items": [{"sku": "TEA-001", "quantity": -2}]}, "invalid_quantity", "items[0].quantity"),
    ({"items": [{"sku": "TEA-001", "quantity": 1, "paid_fen": 59.0}]}, "invalid_type", "items[0].paid_fen"),
    ({"items": [{"sku": "TEA-001", "quantity": 1, "paid_fen": "5900"}]}, "invalid_type", "items[0].paid_fen"),
    ({"items": [{"sku": "TEA-001", "quantity": 1, "unit_price_fen": 5900, "paid_fen": 6000}]}, "paid_above_price",
     "items[0].paid_fen"),
    ({"total_paid_fen": 1}, "total_mismatch", "total_paid_fen"),
    ({"mode": "barter"}, "invalid_mode", "mode"),
    ({"currency": "USD"}, "invalid_currency", "currency"),
    ({"paid_at": "yesterday"}, "invalid_time", "paid_at"),
    ({"paid_at": "2026-11-28T10:00:00"}, "invalid_time", "paid_at"),
])
def test_bad_orders_are_422_and_write_nothing(shop, app, fields, code, field):
    response = shop.order("BAD-1", **fields)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    with app.app_context():
        assert db.session.query(Order).count() == 0


def test_a_product_not_sellable_in_the_mode_is_refused(shop):
    shop.put_product("TEA-003", modes=["promotion"])
    response = shop.order("SHOP-3", mode="consignment", items=[{"sku": "TEA-003", "quantity": 1}])
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "mode_not_allowed"


def test_duplicate_external_id_is_409_and_not_doubled(shop, app):
    assert shop.order("SHOP-4").status_code == 201
    again = shop.order("SHOP-4")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "duplicate_order"
    with app.app_context():
        assert db.session.query(Order).count() == 1


def test_idempotency_key_replays_an_order(shop, app):
    first = shop.call("POST", "/orders", _order_body("SHOP-5", shop.promoter_code), headers={"Idempotency-Key": "a1"})
    again = shop.call("POST", "/orders", _order_body("SHOP-5", shop.promoter_code), headers={"Idempotency-Key": "a1"})
    assert first.status_code == again.status_code == 201 and again.get_json() == first.get_json()


def _order_body(external_id, code):
    return {"external_id": external_id, "promoter_code": code, "mode": "promotion",
            "items": [{"sku": "TEA-001", "quantity": 1}], "paid_at": "2026-11-28T10:00:00+08:00"}


def test_partial_refunds_over_time_never_exceed_what_was_paid(shop):
    shop.order("SHOP-6", items=[{"sku": "TEA-001", "quantity": 3, "unit_price_fen": 5900, "paid_fen": 17700}])
    first = shop.call("POST", "/orders/SHOP-6/refunds", {"refund_id": "R-1", "items": [{"sku": "TEA-001", "amount_fen": 5900}]})
    assert first.status_code == 201 and first.get_json()["order"]["refunded_fen"] == 5900
    assert first.get_json()["order"]["status"] == "paid"
    too_much = shop.call("POST", "/orders/SHOP-6/refunds", {"refund_id": "R-2", "items": [{"sku": "TEA-001", "amount_fen": 11801}]})
    assert too_much.status_code == 422 and too_much.get_json()["error"]["code"] == "refund_exceeds_paid"
    same_id = shop.call("POST", "/orders/SHOP-6/refunds", {"refund_id": "R-1", "items": [{"sku": "TEA-001", "amount_fen": 1}]})
    assert same_id.status_code == 409
    rest = shop.call("POST", "/orders/SHOP-6/refunds", {"refund_id": "R-3", "items": [{"sku": "TEA-001", "amount_fen": 11800}]})
    assert rest.get_json()["order"]["status"] == "refunded" and rest.get_json()["order"]["refunded_fen"] == 17700


def test_complete_and_cancel_rules(shop):
    shop.order("SHOP-7")
    done = shop.call("POST", "/orders/SHOP-7/complete", {"completed_at": "2026-11-30T10:00:00+08:00"})
    assert done.status_code == 200 and done.get_json()["status"] == "completed"
    late_cancel = shop.call("POST", "/orders/SHOP-7/cancel", {})
    assert late_cancel.status_code == 409
    shop.order("SHOP-8", mode="consignment")
    cancelled = shop.call("POST", "/orders/SHOP-8/cancel", {"reason": "买家取消"})
    assert cancelled.get_json()["status"] == "cancelled"
    assert cancelled.get_json()["purchase_orders"][0]["status"] == "cancelled"
    assert shop.call("POST", "/orders/NOPE/complete", {}).status_code == 404


def test_wholesale_stock_in_and_out_and_oversell_refused(shop, app):
    shop.put_product("TEA-001", wholesale_price_fen=4500)
    purchase = shop.order("STOCK-1", mode="wholesale", items=[{"sku": "TEA-001", "quantity": 10}], buyer={})
    assert purchase.status_code == 201 and purchase.get_json()["stock_purchase"] is True
    assert purchase.get_json()["total_paid_fen"] == 45000
    shop.call("POST", "/orders/STOCK-1/complete", {})
    with app.app_context():
        assert db.session.query(StockLevel.quantity).scalar() == 10
    sale = shop.order("RETAIL-1", mode="wholesale", stock_purchase=False, items=[{"sku": "TEA-001", "quantity": 4}])
    assert sale.status_code == 201 and sale.get_json()["stock_purchase"] is False
    oversell = shop.order("RETAIL-2", mode="wholesale", stock_purchase=False, items=[{"sku": "TEA-001", "quantity": 7}])
    assert oversell.status_code == 409 and oversell.get_json()["error"]["code"] == "out_of_stock"
    with app.app_context():
        assert db.session.query(StockLevel.quantity).scalar() == 6
        assert db.session.query(Order).filter_by(external_id="RETAIL-2").count() == 0


def test_list_orders_with_cursor_and_filters(shop):
    for i in range(3):
        shop.order(f"L-{i}")
    page = shop.call("GET", f"/orders?promoter_code={shop.promoter_code}&status=paid").get_json()
    assert [o["external_id"] for o in page["orders"]] == ["L-2", "L-1", "L-0"] and page["next_cursor"] is None
    assert shop.call("GET", "/orders?cursor=@@@").status_code == 400
    assert shop.call("GET", "/orders?promoter_code=NOBODY").get_json() == {"orders": [], "next_cursor": None}


# ---------------------------------------------------------------- webhooks


def paid_event(external_id, code):
    return {**_order_body(external_id, code)}


def work_off_webhooks(app):
    from rq import SimpleWorker

    from distweb.queues import get_queue, redis_connection

    with app.app_context():
        SimpleWorker([get_queue("webhooks")], connection=redis_connection()).work(burst=True)


def test_the_same_event_delivered_twenty_times_makes_one_order(shop, app):
    first = shop.webhook("evt-1", "order.paid", paid_event("WH-1", shop.promoter_code))
    assert first.status_code == 202 and first.get_json() == {"id": "evt-1", "status": "queued"}
    work_off_webhooks(app)
    statuses = [shop.webhook("evt-1", "order.paid", paid_event("WH-1", shop.promoter_code)).status_code
                for _ in range(19)]
    assert statuses == [200] * 19
    work_off_webhooks(app)
    with app.app_context():
        assert db.session.query(Order).filter_by(external_id="WH-1").count() == 1


def test_a_refund_before_its_order_is_held_then_applied(shop, app):
    refund = {"external_id": "WH-2", "refund_id": "R-9", "items": [{"sku": "TEA-001", "amount_fen": 100}]}
    assert shop.webhook("evt-r", "order.refunded", refund).status_code == 202
    assert shop.webhook("evt-c", "order.completed", {"external_id": "WH-2"}).status_code == 202
    work_off_webhooks(app)
    held = shop.webhook("evt-r", "order.refunded", refund)
    assert held.status_code == 202 and held.get_json()["state"] == "held"
    assert shop.webhook("evt-p", "order.paid", paid_event("WH-2", shop.promoter_code)).status_code == 202
    work_off_webhooks(app)
    order = shop.call("GET", "/orders/WH-2").get_json()
    assert order["refunded_fen"] == 100 and order["status"] == "completed"
    with app.app_context():
        assert {e.status.value for e in db.session.query(WebhookEvent)} == {"applied"}


@pytest.mark.parametrize("variant", ["bad", "old", "future", "missing", "other-secret"])
def test_bad_or_old_signatures_are_refused(shop, app, variant):
    body = paid_event("WH-3", shop.promoter_code)
    if variant == "bad":
        raw = json.dumps({"id": "e", "type": "order.paid", "data": body}).encode()
        response = shop.call("POST", "/webhooks/orders", raw, headers={"X-Distweb-Signature": "t=1,v1=00"})
    elif variant == "missing":
        response = shop.call("POST", "/webhooks/orders", {"id": "e", "type": "order.paid", "data": body})
    elif variant == "other-secret":
        response = shop.webhook("e", "order.paid", body, secret_override="whsec_wrong")
    else:
        response = shop.webhook("e", "order.paid", body, timestamp=time.time() + (-301 if variant == "old" else 301))
    assert response.status_code == 401
    with app.app_context():
        assert db.session.query(Order).count() == 0


def test_a_webhook_with_a_bad_order_is_422_and_can_be_sent_again_fixed(shop, app):
    bad = paid_event("WH-4", shop.promoter_code)
    bad["items"] = [{"sku": "TEA-001", "quantity": 1.5}]
    assert shop.webhook("evt-x", "order.paid", bad).status_code == 422
    assert shop.webhook("evt-x", "order.paid", paid_event("WH-4", shop.promoter_code)).status_code == 202
    work_off_webhooks(app)
    assert shop.call("GET", "/orders/WH-4").get_json()["status"] == "paid"


def test_ten_megabyte_body_is_413(shop):
    response = shop.call("POST", "/orders", b'{"x": "' + b"a" * (10 * 1024 * 1024) + b'"}')
    assert response.status_code == 413


def test_purchase_order_belongs_to_the_supplier(shop, app):
    shop.order("SHOP-9", mode="consignment")
    with app.app_context():
        po = db.session.query(PurchaseOrder).one()
        assert po.supplier.code == "westlake-tea" and po.lines[0].quantity == 2


def test_settlement_runs_and_withdrawals_through_the_api(shop, app):
    from rq import SimpleWorker

    from distweb.queues import all_queues, redis_connection

    shop.call("PUT", "/commission-plan", {"depth": 1, "freeze_days": 0, "max_total_bp": 3000, "rules": [
        {"scope": {}, "level": 1, "kind": "percent", "rate_bp": 1000}]})
    shop.order("PAY-1", items=[{"sku": "TEA-001", "quantity": 10, "unit_price_fen": 5900, "paid_fen": 59000}])
    shop.call("POST", "/orders/PAY-1/complete", {})
    created = shop.call("POST", "/settlement-runs", {"as_of": "2099-01-01T00:00:00+08:00"})
    assert created.status_code == 202 and created.get_json()["status"] == "queued"
    with app.app_context():
        SimpleWorker(all_queues(), connection=redis_connection()).work(burst=True)
    run = shop.call("GET", f"/settlement-runs/{created.get_json()['id']}").get_json()
    assert run["status"] == "succeeded" and run["settled_fen"] == 5900
    assert shop.call("GET", f"/promoters/{shop.promoter_code}").get_json()["balances"]["available_fen"] == 5900
    too_much = shop.call("POST", f"/promoters/{shop.promoter_code}/withdrawals",
                         {"amount_fen": 6000, "method": "alipay", "account": "a@b"})
    assert too_much.status_code == 422 and too_much.get_json()["error"]["code"] == "insufficient_balance"
    floaty = shop.call("POST", f"/promoters/{shop.promoter_code}/withdrawals",
                       {"amount_fen": 50.5, "method": "alipay", "account": "a@b"})
    assert floaty.status_code == 422
    w = shop.call("POST", f"/promoters/{shop.promoter_code}/withdrawals",
                  {"amount_fen": 5000, "method": "alipay", "account": "a@b"}).get_json()
    assert w["status"] == "requested" and w["net_fen"] == 5000
    assert shop.call("POST", f"/withdrawals/{w['id']}/paid", {"reference": "X"}).status_code == 409
    assert shop.call("POST", f"/withdrawals/{w['id']}/approve", {}).get_json()["status"] == "approved"
    assert shop.call("POST", f"/withdrawals/{w['id']}/paid", {"reference": "TX-9"}).get_json()["status"] == "paid"
    balances = shop.call("GET", f"/promoters/{shop.promoter_code}").get_json()["balances"]
    assert balances == {"frozen_fen": 0, "available_fen": 900, "pending_withdrawal_fen": 0, "withdrawn_fen": 5000}


@pytest.mark.parametrize("mode", ["promotion", "consignment"])
def test_the_created_order_is_answered_as_it_reads_back(shop, mode):
    """The POST answer is built from the objects just written (nothing is reloaded); it
    must be exactly what a GET of the order returns."""
    shop.put_product("CUP-001", price_fen=2000, supply_cost_fen=800, supplier="jingdezhen")
    created = shop.order(f"SAME-{mode}", mode=mode, items=[
        {"sku": "TEA-001", "quantity": 2, "unit_price_fen": 5900, "paid_fen": 11799},
        {"sku": "CUP-001", "quantity": 1}])
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body == shop.call("GET", f"/orders/SAME-{mode}").get_json()
    assert body["commissions"] and len(body["purchase_orders"]) == (2 if mode == "consignment" else 0)


@pytest.mark.parametrize("fields", [
    {"mode": "consignment"},
    {"mode": "wholesale", "buyer": {}},  # a stock purchase
    {"mode": "wholesale", "stock_purchase": True, "buyer": {}},
    {"mode": "wholesale", "stock_purchase": False},  # a retail sale from stock
])
def test_only_a_distributor_sells_on_consignment_or_wholesale(shop, make, app, fields):
    plain = make.promoter(name="推客", phone="13600000002")
    response = shop.order("PLAIN-1", promoter_code=plain.code, **fields)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("not_a_distributor", "promoter_code")
    assert "分销商" in error["message"]
    with app.app_context():
        assert db.session.query(Order).count() == 0 and db.session.query(PurchaseOrder).count() == 0
    promotion = shop.order("PLAIN-2", promoter_code=plain.code)
    assert promotion.status_code == 201 and promotion.get_json()["promoter_code"] == plain.code


def test_a_distributor_unset_through_the_api_stops_selling_on_consignment(shop):
    code = shop.promoter_code
    assert shop.call("PATCH", f"/promoters/{code}", {"distributor": False}).get_json()["distributor"] is False
    refused = shop.order("C-1", mode="consignment")
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "not_a_distributor"
    assert shop.call("PATCH", f"/promoters/{code}", {"distributor": True}).status_code == 200
    assert shop.order("C-1", mode="consignment").status_code == 201
