"""Bad input through the API is a clear 4xx in the API's error shape and writes nothing; a
database that drops its connections is a 503, and the next request works. Issue 14, items
6 (a malformed commission plan), 7 (``ledger verify`` on orders priced by the default plan)
and 8 (amounts past 32 bits, deep JSON, lone surrogates, far-future payments, disconnects)."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from distweb.extensions import db
from distweb.models import CommissionLine, CommissionPlan, Order, Product, Promoter, WebhookEvent
from distweb.services import api_keys, webhooks

PAID_AT = "2026-11-28T10:00:00+08:00"


@pytest.fixture
def shop(app, make, client):
    make.brand()
    upline = make.promoter(name="上级", phone="13600000009")
    seller = make.promoter(name="卖家", phone="13600000001", upline=upline, distributor=True)
    with app.app_context():
        from distweb.models import Brand

        brand = db.session.scalars(select(Brand)).one()
        row, key = api_keys.create_key(brand, "商城")
        secret = row.webhook_secret

    class Shop:
        promoter_code = seller.code

        def call(self, method, path, body=None, headers=None):
            kwargs = {"headers": {"Authorization": f"Bearer {key}", **(headers or {})}}
            if body is not None:
                kwargs["data"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
                kwargs["content_type"] = "application/json"
            return client.open("/api/v1" + path, method=method, **kwargs)

        def order(self, external_id="SHOP-1", **fields):
            return self.call("POST", "/orders", self.order_body(external_id, **fields))

        def order_body(self, external_id="SHOP-1", **fields):
            body = {"external_id": external_id, "promoter_code": seller.code, "mode": "promotion", "currency": "CNY",
                    "buyer": {"name": "李女士", "phone": "13900000000"},
                    "items": [{"sku": "TEA-001", "quantity": 2}], "paid_at": PAID_AT}
            body.update(fields)
            return body

        def webhook(self, event_id, event_type, data=None, raw=None):
            raw = raw if raw is not None else json.dumps({"id": event_id, "type": event_type, "data": data}).encode()
            signature = webhooks.sign(secret, int(time.time()), raw)
            return self.call("POST", "/webhooks/orders", raw, headers={"X-Distweb-Signature": signature})

    s = Shop()
    product = {"name": "明前龙井", "price_fen": 5000, "supply_cost_fen": 3000, "supplier": "westlake-tea",
               "category": "tea", "modes": ["promotion", "consignment"], "active": True}
    assert s.call("PUT", "/products/TEA-001", product).status_code == 201
    return s


def error_of(response) -> tuple[int, str, str | None]:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return response.status_code, body["error"]["code"], body["error"]["field"]


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------- 6: a malformed commission plan

RULE = {"scope": {"sku": None, "category": None, "rank": None}, "level": 1, "kind": "percent", "base": "paid",
        "rate_bp": 1000}


@pytest.mark.parametrize(("body", "code", "field"), [
    ({}, "missing_field", "rules"),
    ({"x": 1}, "unknown_field", "x"),
    ({"depth": 1, "freeze_days": 7}, "missing_field", "rules"),
    ({"Rules": [RULE]}, "unknown_field", "Rules"),
    ({"rules": [RULE], "max_total": 3000}, "unknown_field", "max_total"),
    ({"rules": [{**RULE, "rate": 10}]}, "unknown_field", "rules[0].rate"),
    ({"rules": [{**RULE, "scope": {"skus": ["TEA-001"]}}]}, "unknown_field", "rules[0].scope.skus"),
    ({"rules": [{"scope": {}, "level": 1, "kind": "tiered", "base": "paid", "tier_mode": "slab",
                 "tiers": [{"from_fen": 0, "rate_bp": 500, "to_fen": 10000}]}]}, "unknown_field", "rules[0].tiers[0].to_fen"),
    ({"rules": [RULE], "note": 5}, "invalid_type", "note"),
])
def test_a_malformed_plan_is_422_and_saves_no_version(shop, app, body, code, field):
    before = shop.call("GET", "/commission-plan").get_json()
    response = shop.call("PUT", "/commission-plan", body)
    assert error_of(response) == (422, code, field)
    assert count(app, CommissionPlan) == 0
    assert shop.call("GET", "/commission-plan").get_json() == before  # the default plan, still paying


def test_a_plan_body_that_is_not_an_object_is_400_and_saves_nothing(shop, app):
    for raw in ('"Rules"', "[]", "null", "42"):
        assert error_of(shop.call("PUT", "/commission-plan", raw))[:2] == (400, "invalid_json")
    assert count(app, CommissionPlan) == 0


def test_the_plan_as_read_can_be_written_back_with_a_note(shop, app):
    """What GET answers (with its ``version``) is a valid PUT body; so is an empty rule set
    given on purpose."""
    plan = shop.call("GET", "/commission-plan").get_json()
    again = shop.call("PUT", "/commission-plan", {**plan, "note": "原样保存"})
    assert again.status_code == 200 and again.get_json()["version"] == 1
    assert again.get_json()["rules"] == plan["rules"]
    none = shop.call("PUT", "/commission-plan", {"depth": 1, "rules": []})
    assert none.status_code == 200 and none.get_json()["rules"] == []
    assert count(app, CommissionPlan) == 2


@pytest.mark.parametrize(("text", "shown"), [
    (json.dumps({"rules": [RULE], "x": 1}), "未知字段 x"),
    (json.dumps({"depth": 1}), "缺少字段 rules"),
    ("[" * 50_000 + "]" * 50_000, "64"),
    (r'{"rules": [], "depth": 1, "rounding": "\ud800"}', "无效字符"),
])
def test_the_editors_import_refuses_what_the_api_refuses(app, make, text, shown):
    from tests.conftest import Browser
    from tests.support.factories import PASSWORD

    make.brand()
    browser = Browser(app.test_client())
    browser.login("boss@example.com", PASSWORD)
    response = browser.post("/manage/commission/import", {"json": text}, token_from="/manage/commission",
                            follow_redirects=True)
    assert response.status_code == 200 and shown in response.get_data(as_text=True)
    assert count(app, CommissionPlan) == 0


# ---------------------------------------------------------------- 7: ledger verify and the default plan


def test_verify_reprices_lines_of_the_default_plan_with_the_default_plan(shop, app, runner):
    """An order paid before any plan was saved was priced with the built-in default plan
    (its lines carry no version); saving a plan later changes nothing about it."""
    assert shop.order("DEFAULT-1").status_code == 201
    lines = shop.call("GET", "/orders/DEFAULT-1").get_json()["commissions"]
    assert sorted((c["level"], c["amount_fen"], c["rule_version"]) for c in lines) == [(1, 1000, None), (2, 500, None)]
    changed = shop.call("PUT", "/commission-plan", {"depth": 1, "rules": [{**RULE, "rate_bp": 2000}]})
    assert changed.status_code == 200
    assert shop.order("PLAN-1").status_code == 201  # priced with the new plan: 20% at level 1 only

    ok = runner.invoke(args=["ledger", "verify"])
    assert ok.exit_code == 0 and "ledger ok" in ok.output, ok.output

    with app.app_context():
        order_id = db.session.scalar(select(Order.id).where(Order.external_id == "DEFAULT-1"))
        db.session.execute(text("UPDATE commission_lines SET amount_fen = amount_fen + 1 "
                                "WHERE order_id = :id AND level = 2"), {"id": order_id})
        db.session.commit()
    bad = runner.invoke(args=["ledger", "verify"])
    assert bad.exit_code == 1
    assert "order DEFAULT-1: lines" in bad.output and "order PLAN-1" not in bad.output


# ---------------------------------------------------------------- 8a: amounts past 32 bits, and absurd ones


def test_an_order_past_32_bits_is_stored_and_read_back_exactly(shop, app):
    """1,000,000 × ¥50 = ¥50,000,000 (5×10^9 fen): within the stated maximums."""
    response = shop.order("BIG-1", items=[{"sku": "TEA-001", "quantity": 1_000_000}])
    assert response.status_code == 201, response.get_json()
    order = shop.call("GET", "/orders/BIG-1").get_json()
    assert order["total_paid_fen"] == 5_000_000_000 and order["items"][0]["quantity"] == 1_000_000
    assert sorted(c["amount_fen"] for c in order["commissions"]) == [250_000_000, 500_000_000]
    refund = shop.call("POST", "/orders/BIG-1/refunds",
                       {"refund_id": "R-1", "items": [{"sku": "TEA-001", "amount_fen": 2_500_000_001}]})
    assert refund.status_code == 201 and refund.get_json()["order"]["refunded_fen"] == 2_500_000_001
    seller = shop.call("GET", f"/promoters/{shop.promoter_code}").get_json()["balances"]
    assert seller["frozen_fen"] == 250_000_000  # 10% of the ¥24,999,999.99 not refunded, rounded


@pytest.mark.parametrize(("item", "code", "field", "stated"), [
    ({"sku": "TEA-001", "quantity": 10**12}, "quantity_too_large", "items[0].quantity", "1,000,000"),
    ({"sku": "TEA-001", "quantity": 1_000_001}, "quantity_too_large", "items[0].quantity", "1,000,000"),
    ({"sku": "TEA-001", "quantity": 2**70}, "quantity_too_large", "items[0].quantity", "1,000,000"),
    ({"sku": "TEA-001", "quantity": 1, "unit_price_fen": 2**63}, "amount_too_large", "items[0].unit_price_fen",
     "10,000,000.00"),
    ({"sku": "TEA-001", "quantity": 1_000_000, "unit_price_fen": 10_001}, "amount_too_large", "total_paid_fen",
     "100,000,000.00"),
])
def test_absurd_amounts_are_422_with_the_maximum_and_write_nothing(shop, app, item, code, field, stated):
    response = shop.order("HUGE-1", items=[item])
    assert error_of(response) == (422, code, field)
    assert stated in response.get_json()["error"]["message"]
    event = shop.webhook("evt-huge", "order.paid", shop.order_body("HUGE-2", items=[item]))
    assert error_of(event) == (422, code, field)
    assert count(app, Order) == 0 and count(app, WebhookEvent) == 0


def test_the_largest_order_allowed_is_exactly_the_maximum(shop):
    response = shop.order("MAX-1", items=[{"sku": "TEA-001", "quantity": 1_000_000, "unit_price_fen": 10_000}])
    assert response.status_code == 201 and response.get_json()["total_paid_fen"] == 10_000_000_000


def test_the_money_columns_are_64_bit(app_ctx):
    """Every column holding fen or a quantity (what the API lets grow past 2^31)."""
    from sqlalchemy import BigInteger

    narrow = [f"{table.name}.{column.name}" for table in db.metadata.sorted_tables for column in table.columns
              if (column.name.endswith("_fen") or column.name in ("quantity", "delta"))
              and not isinstance(column.type, BigInteger)]
    assert narrow == []


# ---------------------------------------------------------------- 8b: JSON nested too deep


def deep(levels: int) -> str:
    return '{"external_id": ' + "[" * levels + "]" * levels + "}"


JSON_ENDPOINTS = [("POST", "/orders"), ("PUT", "/commission-plan"), ("PUT", "/products/TEA-002"),
                  ("POST", "/promoters"), ("PATCH", "/promoters/{code}"), ("PUT", "/withdrawal-rules"),
                  ("POST", "/settlement-runs"), ("POST", "/orders/SHOP-1/refunds"), ("POST", "/orders/SHOP-1/cancel"),
                  ("POST", "/orders/SHOP-1/complete")]


@pytest.mark.parametrize("levels", [50_000, 65])
@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
def test_json_nested_too_deep_is_400_and_writes_nothing(shop, app, method, path, levels):
    assert shop.order("SHOP-1").status_code == 201
    response = shop.call(method, path.format(code=shop.promoter_code), deep(levels))
    assert error_of(response)[:2] == (400, "invalid_json")
    assert "64" in response.get_json()["error"]["message"]
    assert count(app, Order) == 1 and count(app, CommissionPlan) == 0 and count(app, Product) == 1
    assert count(app, Promoter) == 2
    assert shop.call("GET", "/orders/SHOP-1").get_json()["status"] == "paid"


@pytest.mark.parametrize("levels", [50_000, 65])
def test_a_signed_webhook_nested_too_deep_is_400_and_stores_nothing(shop, app, levels):
    raw = ('{"id": "evt-deep", "type": "order.paid", "data": ' + "[" * levels + "]" * levels + "}").encode()
    response = shop.webhook("evt-deep", "order.paid", raw=raw)
    assert error_of(response)[:2] == (400, "invalid_json")
    assert count(app, WebhookEvent) == 0 and count(app, Order) == 0


def test_json_nested_as_deep_as_allowed_is_still_read(shop):
    body = shop.order_body("NESTED-1")
    body["buyer"]["extra"] = json.loads("[" * 60 + "]" * 60)  # unknown buyer fields are ignored
    assert shop.call("POST", "/orders", body).status_code == 201


# ---------------------------------------------------------------- 8c: lone surrogates


@pytest.mark.parametrize(("change", "field"), [
    ({"external_id": "SHOP-\ud800"}, "external_id"),
    ({"buyer": {"name": "李\udfff", "phone": "13900000000"}}, "buyer.name"),
    ({"items": [{"sku": "TEA-\udc00", "quantity": 1}]}, "items[0].sku"),
    ({"note\ud800": 1}, None),
])
def test_a_lone_surrogate_is_422_and_writes_nothing(shop, app, change, field):
    body = {**shop.order_body("SHOP-S"), **change}
    response = shop.call("POST", "/orders", body)
    assert error_of(response) == (422, "invalid_text", field)
    event = shop.webhook("evt-s", "order.paid", body)
    assert error_of(event) == (422, "invalid_text", f"data.{field}" if field else "data")
    assert count(app, Order) == 0 and count(app, WebhookEvent) == 0


def test_a_lone_surrogate_in_a_held_webhook_event_or_a_plan_is_422(shop, app):
    refund = {"external_id": "LATER-1", "refund_id": "R-\ud800", "items": [{"sku": "TEA-001", "amount_fen": 1}]}
    assert error_of(shop.webhook("evt-r", "order.refunded", refund)) == (422, "invalid_text", "data.refund_id")
    plan = {"rules": [{**RULE, "scope": {"sku": None, "category": "茶\ud800", "rank": None}}]}
    assert error_of(shop.call("PUT", "/commission-plan", plan)) == (422, "invalid_text", "rules[0].scope.category")
    assert count(app, WebhookEvent) == 0 and count(app, CommissionPlan) == 0


def test_a_nul_character_anywhere_is_422(shop, app):
    refund = {"external_id": "LATER-1", "refund_id": "R-1", "reason": "a\x00b",
              "items": [{"sku": "TEA-001", "amount_fen": 1}]}
    assert error_of(shop.webhook("evt-n", "order.refunded", refund)) == (422, "invalid_text", "data.reason")
    assert count(app, WebhookEvent) == 0


def test_characters_beyond_the_basic_plane_are_fine(shop):
    """An emoji arrives as a surrogate pair in escaped JSON: one character, not a lone half."""
    response = shop.call("POST", "/orders", shop.order_body("EMOJI-1", buyer={"name": "李😀", "phone": None}))
    assert response.status_code == 201 and response.get_json()["buyer"]["name"] == "李😀"


# ---------------------------------------------------------------- 8d: payments from the future


@pytest.mark.parametrize("paid_at", [
    "9999-12-31T00:00:00+08:00",
    "9999-12-31T23:00:00-08:00",  # past the last representable UTC instant
    "in two days",
])
def test_a_payment_more_than_a_day_ahead_is_422_and_writes_nothing(shop, app, paid_at):
    if paid_at == "in two days":
        paid_at = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    response = shop.order("FUTURE-1", paid_at=paid_at)
    status, code, field = error_of(response)
    assert (status, field) == (422, "paid_at") and code in ("paid_at_in_future", "invalid_time")
    event = shop.webhook("evt-f", "order.paid", shop.order_body("FUTURE-2", paid_at=paid_at))
    assert error_of(event)[0] == 422 and error_of(event)[2] == "paid_at"
    assert count(app, Order) == 0 and count(app, WebhookEvent) == 0


def test_a_payment_recorded_later_is_refused_from_the_future_too(shop, app):
    body = shop.order_body("LATER-PAID")
    del body["paid_at"]
    assert shop.call("POST", "/orders", body).get_json()["status"] == "created"
    ahead = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    assert error_of(shop.call("POST", "/orders/LATER-PAID/paid", {"paid_at": ahead})) == (
        422, "paid_at_in_future", "paid_at")
    assert shop.call("GET", "/orders/LATER-PAID").get_json()["status"] == "created"
    assert count(app, CommissionLine) == 0


def test_a_payment_notification_deep_or_from_the_future_is_refused(shop, app, client):
    """/pay/notify (signed with the brand's payment secret) reads its body the same way."""
    body = shop.order_body("NOTIFY-1")
    del body["paid_at"]
    assert shop.call("POST", "/orders", body).get_json()["status"] == "created"
    with app.app_context():
        from distweb.models import Brand
        from distweb.services import payments

        secret = payments.payment_secret(db.session.scalars(select(Brand)).one())

    def notify(raw: bytes):
        return client.post("/pay/notify", data=raw, content_type="application/json",
                           headers={"X-Distweb-Signature": webhooks.sign(secret, int(time.time()), raw)})

    deep_body = ('{"external_id": "NOTIFY-1", "paid_fen": 10000, "x": ' + "[" * 50_000 + "]" * 50_000 + "}").encode()
    assert error_of(notify(deep_body))[:2] == (400, "invalid_json")
    ahead = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    future = json.dumps({"external_id": "NOTIFY-1", "paid_fen": 10000, "paid_at": ahead}).encode()
    assert error_of(notify(future)) == (422, "paid_at_in_future", "paid_at")
    assert shop.call("GET", "/orders/NOTIFY-1").get_json()["status"] == "created"
    paid = notify(json.dumps({"external_id": "NOTIFY-1", "paid_fen": 10000}).encode())
    assert paid.status_code == 200 and paid.get_json()["status"] == "paid"


def test_clock_skew_of_an_hour_is_accepted(shop):
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert shop.order("SKEW-1", paid_at=soon).status_code == 201


@pytest.mark.parametrize("name", ["completed_at", "as_of"])
def test_a_time_past_the_representable_range_is_422(shop, app, name):
    assert shop.order("SHOP-1").status_code == 201
    path = "/orders/SHOP-1/complete" if name == "completed_at" else "/settlement-runs"
    response = shop.call("POST", path, {name: "0001-01-01T00:00:00+08:00"})
    assert error_of(response) == (422, "invalid_time", name)
    assert shop.call("GET", "/orders/SHOP-1").get_json()["status"] == "paid"


# ---------------------------------------------------------------- 8e: the database drops connections


def _drop_the_connection():
    """What a database restart or pg_terminate_backend does to a request that is using its
    connection: the server ends it. (SQLite has no server: the driver's error, as
    SQLAlchemy reports a lost connection, is raised instead.)"""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with db.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        for _ in range(50):  # the backend ends asynchronously
            with db.engine.connect() as other:
                if not other.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).first():
                    break
            time.sleep(0.05)
        db.session.execute(text("SELECT 1"))
        raise AssertionError("the connection should be gone")
    from sqlalchemy.exc import OperationalError

    connection.invalidate()
    raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"),
                           connection_invalidated=True)


@pytest.mark.parametrize(("method", "path", "body", "where"), [
    ("GET", "/commission-plan", None, "current_plan"),
    ("PUT", "/commission-plan", {"rules": [RULE]}, "catalogue_items"),
])
def test_a_dropped_database_connection_is_503_and_the_next_request_works(shop, app, monkeypatch, method, path, body,
                                                                         where):
    from distweb.services import commission

    monkeypatch.setattr(commission, where, lambda brand_id: _drop_the_connection())
    response = shop.call(method, path, body)
    assert error_of(response)[:2] == (503, "service_unavailable")
    monkeypatch.undo()
    assert count(app, CommissionPlan) == 0
    assert shop.call("GET", "/commission-plan").status_code == 200
    assert shop.order("AFTER-1").status_code == 201


def test_a_connection_dropped_while_placing_an_order_is_503_and_writes_nothing(shop, app, monkeypatch):
    from distweb.services import notifications

    monkeypatch.setattr(notifications, "order_paid", lambda order: _drop_the_connection())
    assert error_of(shop.order("DROP-1"))[:2] == (503, "service_unavailable")
    monkeypatch.undo()
    assert count(app, Order) == 0 and count(app, CommissionLine) == 0
    assert shop.order("DROP-1").status_code == 201
