"""Inbound webhooks that race, wait and fail (issue 14): no event acknowledged is left
unapplied, and an event's status says what happened to it."""

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from distweb.extensions import db
from distweb.models import Brand, Order, Refund, WebhookEvent
from distweb.models.base import utcnow
from distweb.models.user import Role
from distweb.services import accounts, api_keys, orders, webhooks
from distweb.services.errors import NotFound
from tests.conftest import Browser
from tests.support.factories import PASSWORD


class Shop:
    """A brand's shop calling the API with its key, from one client (one connection)."""

    def __init__(self, client, key, secret, code):
        self.client, self.key, self.secret, self.code = client, key, secret, code

    def twin(self, app):
        """The same shop from another client: another request, session and connection."""
        return Shop(app.test_client(), self.key, self.secret, self.code)

    def call(self, method, path, body=None, headers=None):
        kwargs = {"headers": {"Authorization": f"Bearer {self.key}", **(headers or {})}}
        if body is not None:
            kwargs["data"] = body if isinstance(body, bytes) else json.dumps(body)
            kwargs["content_type"] = "application/json"
        return self.client.open("/api/v1" + path, method=method, **kwargs)

    def order(self, external_id):
        return self.call("POST", "/orders", paid(external_id, self.code))

    def webhook(self, event_id, event_type, data):
        raw = json.dumps({"id": event_id, "type": event_type, "data": data}).encode()
        signature = webhooks.sign(self.secret, int(time.time()), raw)
        return self.call("POST", "/webhooks/orders", raw, headers={"X-Distweb-Signature": signature})


def paid(external_id, code):
    return {"external_id": external_id, "promoter_code": code, "mode": "promotion",
            "items": [{"sku": "TEA-001", "quantity": 1}], "paid_at": "2026-11-28T10:00:00+08:00"}


def refund(external_id, refund_id="R-1", amount_fen=100):
    return {"external_id": external_id, "refund_id": refund_id, "items": [{"sku": "TEA-001", "amount_fen": amount_fen}]}


@pytest.fixture
def shop(app, make, client):
    brand = make.brand()
    seller = make.promoter(name="卖家", phone="13600000001")
    with app.app_context():
        row, key = api_keys.create_key(db.session.get(Brand, brand.id), "商城")
        secret = row.webhook_secret
    s = Shop(client, key, secret, seller.code)
    assert s.call("PUT", "/products/TEA-001", {"name": "龙井", "price_fen": 5900, "supply_cost_fen": 3100,
                                               "supplier": "westlake-tea", "modes": ["promotion"]}).status_code == 201
    return s


def events(app) -> dict[str, WebhookEvent]:
    with app.app_context():
        rows = db.session.scalars(select(WebhookEvent)).all()
        db.session.expunge_all()
    return {row.event_id: row for row in rows}


def order_json(shop, external_id):
    return shop.call("GET", f"/orders/{external_id}").get_json()


def later(minutes):
    return utcnow() + timedelta(minutes=minutes)


# ---------------------------------------------------------------- the hold/release race


def test_a_completion_that_finds_no_order_just_before_the_order_is_paid_is_applied(shop, app, monkeypatch):
    """The completion looks for its order and finds none; before it is recorded as held, the
    order.paid is applied and releases what it finds held. Issue 14: the completion was
    then committed as held after the release, and nothing ever applied it."""
    real_get_order = orders.get_order
    paid_meanwhile = []

    def get_order(brand_id, external_id, lock=False):
        try:
            return real_get_order(brand_id, external_id, lock)
        except NotFound:
            if external_id == "RACE-1" and not paid_meanwhile:
                paid_meanwhile.append(shop.twin(app).webhook("evt-paid", "order.paid", paid("RACE-1", shop.code)))
            raise

    monkeypatch.setattr(orders, "get_order", get_order)
    completed = shop.webhook("evt-done", "order.completed", {"external_id": "RACE-1"})
    monkeypatch.undo()
    assert paid_meanwhile and paid_meanwhile[0].status_code == 200
    assert completed.status_code == 200 and completed.get_json() == {"id": "evt-done", "status": "applied"}
    assert order_json(shop, "RACE-1")["status"] == "completed"
    assert {e: row.status.value for e, row in events(app).items()} == {"evt-paid": "applied", "evt-done": "applied"}


def test_an_event_with_a_malformed_body_is_refused_at_once_not_held(shop, app):
    bad = {"external_id": "LATER-1", "refund_id": "R-1", "items": [{"sku": "TEA-001", "amount_fen": "100"}]}
    refused = shop.webhook("evt-bad", "order.refunded", bad)
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "amount_fen"
    assert events(app) == {}  # nothing kept: the shop may send it again, fixed
    assert shop.webhook("evt-bad", "order.refunded", refund("LATER-1")).status_code == 202


# ---------------------------------------------------------------- statuses say what happened


def test_a_held_refund_released_by_two_deliveries_at_once_reads_applied(shop, app):
    """Two completions of one order arrive together; each releases the refund held for the
    order. Issue 14: one applied it, the other then found the refund there and marked the
    event ``rejected: duplicate_refund``."""
    assert shop.webhook("evt-refund", "order.refunded", refund("DUP-1")).status_code == 202
    assert shop.order("DUP-1").status_code == 201  # through the REST API: it releases nothing itself
    second = []

    def the_other_delivery_right_after_this_one_reads_the_held_events(state):
        where = getattr(state.statement, "whereclause", None)
        if second or not state.is_select or where is None or "order_external_id" not in str(where):
            return None
        second.append(None)
        held = state.invoke_statement().freeze()
        second[0] = shop.twin(app).webhook("evt-done-2", "order.completed", {"external_id": "DUP-1"})
        return held()

    sa_event.listen(Session, "do_orm_execute", the_other_delivery_right_after_this_one_reads_the_held_events)
    try:
        first = shop.webhook("evt-done-1", "order.completed", {"external_id": "DUP-1"})
    finally:
        sa_event.remove(Session, "do_orm_execute", the_other_delivery_right_after_this_one_reads_the_held_events)
    assert second and second[0].status_code == 200
    assert first.status_code == 200
    rows = events(app)
    assert rows["evt-refund"].status.value == "applied" and rows["evt-refund"].error is None
    assert rows["evt-refund"].applied_at is not None
    order = order_json(shop, "DUP-1")
    assert order["refunded_fen"] == 100 and order["status"] == "completed"


def test_the_same_change_under_another_event_id_reads_duplicate_and_the_first_stays_applied(shop, app):
    assert shop.webhook("evt-p1", "order.paid", paid("DUP-2", shop.code)).get_json()["status"] == "applied"
    assert shop.webhook("evt-r1", "order.refunded", refund("DUP-2")).get_json() == {"id": "evt-r1", "status": "applied"}
    again = shop.webhook("evt-r2", "order.refunded", refund("DUP-2"))
    assert again.status_code == 200 and again.get_json() == {"id": "evt-r2", "status": "duplicate"}
    paid_again = shop.webhook("evt-p2", "order.paid", paid("DUP-2", shop.code))
    assert paid_again.status_code == 200 and paid_again.get_json()["status"] == "duplicate"
    replay = shop.webhook("evt-r1", "order.refunded", refund("DUP-2"))
    assert replay.status_code == 200 and replay.get_json() == {"id": "evt-r1", "status": "duplicate", "state": "applied"}
    rows = events(app)
    assert {e: row.status.value for e, row in rows.items()} == {
        "evt-p1": "applied", "evt-r1": "applied", "evt-r2": "duplicate", "evt-p2": "duplicate"}
    assert rows["evt-r2"].error.startswith("duplicate_refund") and rows["evt-p2"].error.startswith("duplicate_order")
    assert order_json(shop, "DUP-2")["refunded_fen"] == 100
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Refund.id))) == 1


def test_a_refused_event_is_answered_and_not_kept_so_it_can_be_sent_again(shop, app):
    assert shop.order("NO-1").status_code == 201
    too_much = shop.webhook("evt-r", "order.refunded", refund("NO-1", amount_fen=999999))
    assert too_much.status_code == 422 and too_much.get_json()["error"]["code"] == "refund_exceeds_paid"
    assert events(app) == {}
    assert shop.webhook("evt-r", "order.refunded", refund("NO-1")).get_json() == {"id": "evt-r", "status": "applied"}


def test_an_event_that_breaks_as_it_arrives_is_stored_failed_and_answered_202(shop, app, monkeypatch):
    assert shop.order("BRK-1").status_code == 201
    monkeypatch.setattr(orders, "complete", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("connection reset")))
    broke = shop.webhook("evt-done", "order.completed", {"external_id": "BRK-1"})
    monkeypatch.undo()
    assert broke.status_code == 202 and broke.get_json() == {"id": "evt-done", "status": "failed"}
    with app.app_context():
        assert webhooks.sweep(later(2)) == 1
    assert order_json(shop, "BRK-1")["status"] == "completed"


# ---------------------------------------------------------------- the sweep


def test_the_sweep_applies_events_held_longer_than_a_minute_once(shop, app):
    assert shop.webhook("evt-refund", "order.refunded", refund("SW-1")).status_code == 202
    assert shop.webhook("evt-done", "order.completed", {"external_id": "SW-1"}).status_code == 202
    assert shop.order("SW-1").status_code == 201  # the REST API releases nothing: they stay held
    with app.app_context():
        assert webhooks.sweep() == 0  # held for less than a minute: left alone
    assert {row.status.value for row in events(app).values()} == {"held"}
    with app.app_context():
        assert webhooks.sweep(later(2)) == 2
        assert webhooks.sweep(later(5)) == 0  # applied ones are never tried again
    order = order_json(shop, "SW-1")
    assert order["refunded_fen"] == 100 and order["status"] == "completed"
    rows = events(app)
    assert {e: (row.status.value, row.attempts) for e, row in rows.items()} == {
        "evt-refund": ("applied", 2), "evt-done": ("applied", 2)}


def test_an_event_that_fails_to_apply_is_failed_and_the_sweep_tries_it_again(shop, app, monkeypatch):
    assert shop.webhook("evt-done", "order.completed", {"external_id": "SW-2"}).status_code == 202
    assert shop.order("SW-2").status_code == 201

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(orders, "complete", broken)
    with app.app_context():
        assert webhooks.sweep(later(2)) == 0
    row = events(app)["evt-done"]
    assert row.status.value == "failed" and "database went away" in row.error and row.attempts == 2
    replay = shop.webhook("evt-done", "order.completed", {"external_id": "SW-2"})
    assert replay.status_code == 202 and replay.get_json()["state"] == "failed"  # stored; it will be applied
    monkeypatch.undo()
    with app.app_context():
        assert webhooks.sweep() == 0  # tried less than a minute ago
        assert webhooks.sweep(later(2)) == 1
    assert order_json(shop, "SW-2")["status"] == "completed"
    assert events(app)["evt-done"].status.value == "applied"


def test_a_failed_event_out_of_tries_waits_for_a_manager(shop, app):
    assert shop.webhook("evt-done", "order.completed", {"external_id": "SW-3"}).status_code == 202
    assert shop.order("SW-3").status_code == 201
    with app.app_context():
        db.session.execute(update(WebhookEvent).values(status="failed", attempts=webhooks.MAX_ATTEMPTS))
        db.session.commit()
        assert webhooks.sweep(later(10)) == 0
    assert order_json(shop, "SW-3")["status"] == "paid"


def test_the_workers_regular_sweep_applies_held_events(shop, app):
    from worker.main import sweep

    assert shop.webhook("evt-done", "order.completed", {"external_id": "SW-4"}).status_code == 202
    assert shop.order("SW-4").status_code == 201
    with app.app_context():
        db.session.execute(update(WebhookEvent).values(attempted_at=utcnow() - timedelta(minutes=2)))
        db.session.commit()
        sweep()
    assert order_json(shop, "SW-4")["status"] == "completed"


# ---------------------------------------------------------------- the manager page


@pytest.fixture
def waiting(shop, app, monkeypatch):
    """One event held for an order that has not come, one failed, one applied."""
    assert shop.webhook("evt-held", "order.refunded", refund("NEVER-1")).status_code == 202
    assert shop.webhook("evt-failed", "order.completed", {"external_id": "PG-1"}).status_code == 202
    assert shop.order("PG-1").status_code == 201
    assert shop.webhook("evt-ok", "order.paid", paid("PG-2", shop.code)).status_code == 200
    monkeypatch.setattr(orders, "complete", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("磁盘已满")))
    with app.app_context():
        webhooks.sweep(later(2))
    monkeypatch.undo()
    return {e: row.id for e, row in events(app).items()}


def test_a_manager_sees_held_and_failed_events_and_retries_one(app, browser, shop, waiting):
    browser.login("boss@example.com", PASSWORD)
    page = browser.get("/manage/webhooks").get_data(as_text=True)
    assert "evt-held" in page and "NEVER-1" in page and "等待订单" in page
    assert "evt-failed" in page and "PG-1" in page and "应用失败" in page and "磁盘已满" in page
    assert "evt-ok" not in page
    assert 'href="/manage/webhooks"' in browser.get("/manage/jobs").get_data(as_text=True)  # in the navigation

    retried = browser.post(f"/manage/webhooks/{waiting['evt-failed']}/retry", token_from="/manage/webhooks")
    assert retried.status_code == 302
    assert order_json(shop, "PG-1")["status"] == "completed"
    rows = events(app)
    assert rows["evt-failed"].status.value == "applied" and rows["evt-failed"].attempts == 3
    page = browser.get("/manage/webhooks").get_data(as_text=True)
    assert "evt-failed" not in page and "evt-held" in page

    browser.post(f"/manage/webhooks/{waiting['evt-held']}/retry", token_from="/manage/webhooks")
    assert events(app)["evt-held"].status.value == "held"  # its order has still not come


def test_a_retry_without_the_csrf_token_is_refused(app, client, shop, waiting):
    manager = Browser(client)
    manager.login("boss@example.com", PASSWORD)
    assert client.post(f"/manage/webhooks/{waiting['evt-failed']}/retry").status_code == 400
    assert events(app)["evt-failed"].status.value == "failed"


def test_another_brands_manager_neither_sees_nor_retries_the_events(app, client, shop, waiting):
    with app.app_context():
        other = Brand(name="别家", short_name="别家")
        db.session.add(other)
        db.session.flush()
        accounts.create_user(other, Role.MANAGER, "别家经理", PASSWORD, email="other@example.com")
        db.session.commit()
    stranger = Browser(client)
    stranger.login("other@example.com", PASSWORD)
    page = stranger.get("/manage/webhooks")
    assert page.status_code == 200
    assert "evt-held" not in page.get_data(as_text=True) and "evt-failed" not in page.get_data(as_text=True)
    refused = stranger.post(f"/manage/webhooks/{waiting['evt-failed']}/retry", token_from="/manage/webhooks")
    assert refused.status_code == 404
    row = events(app)["evt-failed"]
    assert row.status.value == "failed" and row.attempts == 2
    assert order_json(shop, "PG-1")["status"] == "paid"


def test_the_page_says_when_nothing_waits(app, browser, make):
    make.brand()
    browser.login("boss@example.com", PASSWORD)
    page = browser.get("/manage/webhooks")
    assert page.status_code == 200 and "没有待处理的事件" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Order.id))) == 0
