"""Inbound webhooks through the queue (issues 14 and 18): an event is stored and answered 202
at once, applied by a worker in order per order, exactly once; what fails is tried again with
back-off and then parked for a manager; nothing acknowledged is left unapplied."""

import json
import threading
import time
from datetime import timedelta

import pytest
from rq import SimpleWorker, Worker
from sqlalchemy import select, update

from distweb.extensions import db
from distweb.models import Brand, CommissionLine, Order, OrderEvent, Refund, WebhookEvent
from distweb.models.base import utcnow
from distweb.models.user import Role
from distweb.queues import get_queue, redis_connection
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


def work(app):
    """What the workers do: run the webhooks queue's jobs until it is empty."""
    with app.app_context():
        SimpleWorker([get_queue("webhooks")], connection=redis_connection()).work(burst=True)
        db.session.remove()


def sweep(app, at=None):
    with app.app_context():
        applied = webhooks.sweep(at)
        db.session.remove()
    return applied


def events(app) -> dict[str, WebhookEvent]:
    with app.app_context():
        rows = db.session.scalars(select(WebhookEvent)).all()
        db.session.expunge_all()
    return {row.event_id: row for row in rows}


def states(app) -> dict[str, str]:
    return {e: row.status.value for e, row in events(app).items()}


def order_json(shop, external_id):
    return shop.call("GET", f"/orders/{external_id}").get_json()


def timeline(app, external_id) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(OrderEvent.kind).join(Order, Order.id == OrderEvent.order_id)
                                       .where(Order.external_id == external_id).order_by(OrderEvent.id)))


def later(minutes=0, seconds=0):
    return utcnow() + timedelta(minutes=minutes, seconds=seconds)


def queued_jobs() -> int:
    return get_queue("webhooks").count


# ---------------------------------------------------------------- stored, answered 202, applied by a worker


def test_an_event_is_stored_and_answered_202_then_applied_by_a_worker(shop, app):
    answer = shop.webhook("evt-1", "order.paid", paid("Q-1", shop.code))
    assert answer.status_code == 202 and answer.get_json() == {"id": "evt-1", "status": "queued"}
    assert shop.call("GET", "/orders/Q-1").status_code == 404  # not applied in the request
    row = events(app)["evt-1"]
    assert row.status.value == "queued" and row.attempts == 0 and row.order_external_id == "Q-1"
    assert row.payload == paid("Q-1", shop.code)
    with app.app_context():
        assert queued_jobs() == 1  # a drain of its lane, on the webhooks queue
    work(app)
    order = order_json(shop, "Q-1")
    assert order["status"] == "paid" and order["total_paid_fen"] == 5900
    assert [(c["level"], c["amount_fen"]) for c in order["commissions"]] == [(1, 590)]
    row = events(app)["evt-1"]
    assert row.status.value == "applied" and row.attempts == 1 and row.applied_at is not None


def test_events_arriving_together_need_one_drain_job(shop, app):
    for i in range(5):
        assert shop.webhook(f"evt-{i}", "order.paid", paid(f"Q-{i}", shop.code)).status_code == 202
    with app.app_context():
        lanes = {webhooks.lane_of(row.brand_id, row.order_external_id) for row in events(app).values()}
        assert queued_jobs() == len(lanes)  # one per lane, however many events
    work(app)
    assert set(states(app).values()) == {"applied"}


def test_each_stored_delivery_counts_in_its_seconds_intake_and_a_replay_does_not(shop, app):
    first = int(time.time())
    for i in range(4):
        assert shop.webhook(f"evt-{i}", "order.paid", paid(f"Q-{i}", shop.code)).status_code == 202
    assert shop.webhook("evt-0", "order.paid", paid("Q-0", shop.code)).status_code == 202  # a replay
    last = int(time.time())
    with app.app_context():
        counted = redis_connection().mget([webhooks._intake_key(t) for t in range(first, last + 1)])
        assert sum(int(n or 0) for n in counted) == 4
        assert webhooks.intake_rate() >= 1


@pytest.mark.parametrize("percent, intake, rests", [(20, 50, True), (100, 50, False), (20, 0, False)])
def test_during_a_burst_the_drains_rest_four_times_what_they_spent_at_twenty_percent(
        shop, app, monkeypatch, percent, intake, rests):
    """WEBHOOK_BURST_APPLY_PERCENT 20: while deliveries arrive at WEBHOOK_BURST_RATE or more a
    second, each applied event is followed by a rest of 80/20 of its time; 100 (or no burst): none."""
    for i in range(3):
        shop.webhook(f"evt-{i}", "order.paid", paid(f"Q-{i}", shop.code))
    monkeypatch.setitem(app.config, "WEBHOOK_BURST_RATE", 50)
    monkeypatch.setitem(app.config, "WEBHOOK_BURST_APPLY_PERCENT", percent)
    rested = []
    monkeypatch.setattr(webhooks.Pace, "sleep", staticmethod(rested.append))
    spent = []
    real_attempt = webhooks.attempt

    def timed_attempt(*args, **kwargs):
        began = time.monotonic()
        try:
            return real_attempt(*args, **kwargs)
        finally:
            spent.append(time.monotonic() - began)

    monkeypatch.setattr(webhooks, "attempt", timed_attempt)
    with app.app_context():
        now = int(time.time())
        for second in range(now, now + 3):  # this second's intake, and the next ones' should the drain start late
            redis_connection().set(webhooks._intake_key(second), intake, ex=10)
        lanes = sorted({webhooks.lane_of(row.brand_id, row.order_external_id) for row in events(app).values()})
        assert sum(webhooks.drain(lane) for lane in lanes) == 3
        db.session.remove()
    assert set(states(app).values()) == {"applied"}
    if rests:
        assert len(rested) == 3
        # Each rest is four times the event's time, measured around more than the attempt itself.
        assert all(rest >= 4 * took for rest, took in zip(rested, spent, strict=True))
    else:
        assert rested == []


def test_the_same_event_delivered_twenty_times_makes_one_order(shop, app):
    answers = [shop.webhook("evt-1", "order.paid", paid("DUP-1", shop.code)) for _ in range(10)]
    assert [a.status_code for a in answers] == [202] * 10
    assert answers[0].get_json() == {"id": "evt-1", "status": "queued"}
    assert all(a.get_json() == {"id": "evt-1", "status": "duplicate", "state": "queued"} for a in answers[1:])
    work(app)
    replays = [shop.webhook("evt-1", "order.paid", paid("DUP-1", shop.code)) for _ in range(10)]
    assert all(r.status_code == 200 and r.get_json() == {"id": "evt-1", "status": "duplicate", "state": "applied"}
               for r in replays)
    work(app)
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Order.id))) == 1
        assert db.session.scalar(select(db.func.count(CommissionLine.id))) == 1
        assert db.session.scalar(select(db.func.count(WebhookEvent.id))) == 1


def test_the_same_change_under_another_event_id_reads_duplicate_and_the_first_stays_applied(shop, app):
    assert shop.webhook("evt-p1", "order.paid", paid("DUP-2", shop.code)).status_code == 202
    assert shop.webhook("evt-r1", "order.refunded", refund("DUP-2")).status_code == 202
    assert shop.webhook("evt-r2", "order.refunded", refund("DUP-2")).status_code == 202
    assert shop.webhook("evt-p2", "order.paid", paid("DUP-2", shop.code)).status_code == 202
    work(app)
    rows = events(app)
    assert {e: row.status.value for e, row in rows.items()} == {
        "evt-p1": "applied", "evt-r1": "applied", "evt-r2": "duplicate", "evt-p2": "duplicate"}
    assert rows["evt-r2"].error.startswith("duplicate_refund") and rows["evt-p2"].error.startswith("duplicate_order")
    assert order_json(shop, "DUP-2")["refunded_fen"] == 100
    replay = shop.webhook("evt-r1", "order.refunded", refund("DUP-2"))
    assert replay.status_code == 200 and replay.get_json() == {"id": "evt-r1", "status": "duplicate", "state": "applied"}
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Refund.id))) == 1
        assert db.session.scalar(select(db.func.count(Order.id))) == 1


def test_an_event_with_a_malformed_body_is_refused_at_once_and_not_stored(shop, app):
    bad = {"external_id": "LATER-1", "refund_id": "R-1", "items": [{"sku": "TEA-001", "amount_fen": "100"}]}
    refused = shop.webhook("evt-bad", "order.refunded", bad)
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "amount_fen"
    unknown = shop.webhook("evt-sku", "order.paid", {**paid("LATER-2", shop.code), "items": [{"sku": "NOPE", "quantity": 1}]})
    assert unknown.status_code == 422 and unknown.get_json()["error"]["code"] == "unknown_sku"
    nobody = shop.webhook("evt-who", "order.paid", {**paid("LATER-3", shop.code), "promoter_code": "NOBODY"})
    assert nobody.status_code == 422 and nobody.get_json()["error"]["code"] == "unknown_promoter"
    assert events(app) == {}  # nothing kept: the shop may send them again, fixed
    assert shop.webhook("evt-bad", "order.refunded", refund("LATER-1")).status_code == 202
    assert shop.webhook("evt-sku", "order.paid", paid("LATER-2", shop.code)).status_code == 202


def test_a_refused_event_is_a_dead_letter_and_can_be_sent_again_fixed_under_its_id(shop, app):
    assert shop.order("NO-1").status_code == 201
    assert shop.webhook("evt-r", "order.refunded", refund("NO-1", amount_fen=999999)).status_code == 202
    work(app)
    row = events(app)["evt-r"]
    assert row.status.value == "rejected" and row.error.startswith("refund_exceeds_paid")
    same = shop.webhook("evt-r", "order.refunded", refund("NO-1", amount_fen=999999))
    assert same.status_code == 200 and same.get_json()["state"] == "rejected"  # the same body: acknowledged
    fixed = shop.webhook("evt-r", "order.refunded", refund("NO-1"))
    assert fixed.status_code == 202 and fixed.get_json() == {"id": "evt-r", "status": "queued"}
    work(app)
    assert states(app) == {"evt-r": "applied"}
    assert order_json(shop, "NO-1")["refunded_fen"] == 100


# ---------------------------------------------------------------- in order per order


def test_an_orders_events_are_applied_in_the_order_they_arrived(shop, app):
    """Three orders' events interleaved: each order's timeline is its events' arrival order
    (a refund then a completion is not a completion then a refund)."""
    sent = []
    for n in range(3):
        sent.append((f"p{n}", "order.paid", paid(f"ORD-{n}", shop.code)))
    for n in range(3):
        sent.append((f"r{n}", "order.refunded", refund(f"ORD-{n}")))
        sent.append((f"c{n}", "order.completed", {"external_id": f"ORD-{n}"}))
    sent.append(("x0", "order.cancelled", {"external_id": "ORD-0"}))  # after its completion: refused
    for event_id, kind, data in sent:
        assert shop.webhook(event_id, kind, data).status_code == 202
    work(app)
    for n in range(3):
        assert timeline(app, f"ORD-{n}") == ["placed", "paid", "refunded", "completed"]
        assert order_json(shop, f"ORD-{n}")["status"] == "completed"
    assert states(app)["x0"] == "rejected"
    with app.app_context():
        applied = db.session.scalars(select(WebhookEvent.event_id).where(WebhookEvent.status == "applied")
                                     .order_by(WebhookEvent.applied_at, WebhookEvent.id)).all()
    for n in range(3):
        assert [e for e in applied if e.endswith(str(n))] == [f"p{n}", f"r{n}", f"c{n}"]


def test_a_refund_before_its_order_is_held_then_applied_before_the_later_events(shop, app):
    held = shop.webhook("evt-r", "order.refunded", refund("WH-2"))
    assert held.status_code == 202 and held.get_json() == {"id": "evt-r", "status": "queued"}
    work(app)
    assert states(app) == {"evt-r": "held"}
    assert shop.webhook("evt-r", "order.refunded", refund("WH-2")).get_json()["state"] == "held"
    assert shop.webhook("evt-p", "order.paid", paid("WH-2", shop.code)).status_code == 202
    assert shop.webhook("evt-c", "order.completed", {"external_id": "WH-2"}).status_code == 202
    work(app)
    order = order_json(shop, "WH-2")
    assert order["refunded_fen"] == 100 and order["status"] == "completed"
    assert timeline(app, "WH-2") == ["placed", "paid", "refunded", "completed"]
    assert states(app) == {"evt-r": "applied", "evt-p": "applied", "evt-c": "applied"}
    assert events(app)["evt-r"].attempts == 2


def test_a_completion_whose_order_arrives_while_it_is_being_held_is_applied(shop, app, monkeypatch):
    """The completion looks for its order and finds none; before it is recorded as held, the
    order is placed (through the REST API, which releases nothing). Issue 14: nothing would
    ever have applied it; the hold looks again once recorded."""
    real_get_order = orders.get_order
    placed = []

    def get_order(brand_id, external_id, lock=False):
        try:
            return real_get_order(brand_id, external_id, lock)
        except NotFound:
            if external_id == "RACE-1" and not placed:
                placed.append(shop.twin(app).order("RACE-1"))
            raise

    assert shop.webhook("evt-done", "order.completed", {"external_id": "RACE-1"}).status_code == 202
    monkeypatch.setattr(orders, "get_order", get_order)
    work(app)
    monkeypatch.undo()
    assert placed and placed[0].status_code == 201
    assert order_json(shop, "RACE-1")["status"] == "completed"
    assert states(app) == {"evt-done": "applied"}


def test_two_workers_draining_one_lane_at_once_apply_each_event_once_in_order(shop, app):
    for n in range(12):
        shop.webhook(f"p{n}", "order.paid", paid(f"TW-{n}", shop.code))
        shop.webhook(f"r{n}", "order.refunded", refund(f"TW-{n}"))
        shop.webhook(f"c{n}", "order.completed", {"external_id": f"TW-{n}"})
    lanes = sorted({row.lane for row in events(app).values()})
    errors = []

    def drain_all():
        try:
            with app.app_context():
                for lane in lanes:
                    webhooks.drain(lane)
                db.session.remove()
        except Exception as err:  # noqa: BLE001 — reported below
            errors.append(err)

    threads = [threading.Thread(target=drain_all) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert set(states(app).values()) == {"applied"}
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Order.id))) == 12
        assert db.session.scalar(select(db.func.count(Refund.id))) == 12
        lines = db.session.execute(select(CommissionLine.order_item_id, CommissionLine.kind, db.func.count())
                                   .group_by(CommissionLine.order_item_id, CommissionLine.kind)).all()
        assert len(lines) == 12 and {n for *_, n in lines} == {1}
    for n in range(12):
        assert timeline(app, f"TW-{n}") == ["placed", "paid", "refunded", "completed"]


# ---------------------------------------------------------------- failures: back-off, then dead letters


def broken(*args, **kwargs):
    raise RuntimeError("磁盘已满")


def test_a_failed_event_is_tried_again_with_back_off_and_its_orders_later_events_wait(shop, app, monkeypatch):
    assert shop.webhook("evt-p", "order.paid", paid("BO-1", shop.code)).status_code == 202
    assert shop.webhook("evt-r", "order.refunded", refund("BO-1")).status_code == 202
    assert shop.webhook("evt-c", "order.completed", {"external_id": "BO-1"}).status_code == 202
    monkeypatch.setattr(orders, "refund", broken)
    before = utcnow()
    work(app)
    rows = events(app)
    assert {e: r.status.value for e, r in rows.items()} == {"evt-p": "applied", "evt-r": "failed", "evt-c": "queued"}
    assert "磁盘已满" in rows["evt-r"].error and rows["evt-r"].attempts == 1
    wait = rows["evt-r"].next_attempt_at - before
    assert timedelta(seconds=webhooks.BACKOFF_SECONDS[0]) <= wait < timedelta(seconds=webhooks.BACKOFF_SECONDS[0] + 30)
    assert order_json(shop, "BO-1")["status"] == "paid"  # the completion waits behind the refund
    assert sweep(app) == 0  # not due yet
    assert sweep(app, later(seconds=webhooks.BACKOFF_SECONDS[0] + 1)) == 0  # due, and failed again
    rows = events(app)
    assert rows["evt-r"].attempts == 2 and rows["evt-c"].status.value == "queued"
    assert rows["evt-r"].next_attempt_at - rows["evt-r"].attempted_at == timedelta(seconds=webhooks.BACKOFF_SECONDS[1])
    monkeypatch.undo()
    assert sweep(app, later(seconds=webhooks.BACKOFF_SECONDS[1] + 1)) == 2
    assert states(app) == {"evt-p": "applied", "evt-r": "applied", "evt-c": "applied"}
    assert timeline(app, "BO-1") == ["placed", "paid", "refunded", "completed"]


def test_an_event_failing_every_try_becomes_a_dead_letter_the_sweep_leaves(shop, app, monkeypatch):
    assert shop.order("DL-1").status_code == 201
    assert shop.webhook("evt-c", "order.completed", {"external_id": "DL-1"}).status_code == 202
    monkeypatch.setattr(orders, "complete", broken)
    work(app)
    at = utcnow()
    for _ in range(webhooks.MAX_ATTEMPTS - 1):
        at = events(app)["evt-c"].next_attempt_at + timedelta(seconds=1)
        sweep(app, at)
    row = events(app)["evt-c"]
    assert row.status.value == "dead" and row.attempts == webhooks.MAX_ATTEMPTS and row.next_attempt_at is None
    monkeypatch.undo()
    assert sweep(app, at + timedelta(days=1)) == 0  # parked: only a manager retries it
    assert order_json(shop, "DL-1")["status"] == "paid"
    assert shop.webhook("evt-c", "order.completed", {"external_id": "DL-1"}).get_json()["state"] == "dead"


# ---------------------------------------------------------------- nothing lost without Redis or a worker


def test_an_event_stored_while_redis_is_down_is_applied_by_the_sweep(app_without_redis, shop, app):
    cut_off = Shop(app_without_redis.test_client(), shop.key, shop.secret, shop.code)
    answer = cut_off.webhook("evt-1", "order.paid", paid("NR-1", shop.code))
    assert answer.status_code == 202 and answer.get_json() == {"id": "evt-1", "status": "queued"}
    with app.app_context():
        assert queued_jobs() == 0  # no drain was enqueued
        assert webhooks.due_lanes() == []  # just stored: its drain may still come
        assert webhooks.due_lanes(later(seconds=10)) == [webhooks.lane_of(events(app)["evt-1"].brand_id, "NR-1")]
    assert sweep(app) == 0
    assert sweep(app, later(seconds=10)) == 1
    assert order_json(shop, "NR-1")["status"] == "paid"


def test_a_redis_connection_that_breaks_oddly_still_gets_the_event_stored_and_answered(shop, app, monkeypatch):
    """redis-py can report a handshake that timed out as ValueError (a closed read buffer);
    the event is stored all the same, so the shop gets its 202 and the sweep applies it."""
    from redis.client import Pipeline

    def stalled(self, *args, **kwargs):
        raise ValueError("I/O operation on closed file.")

    monkeypatch.setattr(Pipeline, "execute", stalled)
    answer = shop.webhook("evt-1", "order.paid", paid("VE-1", shop.code))
    assert answer.status_code == 202 and answer.get_json() == {"id": "evt-1", "status": "queued"}
    monkeypatch.undo()
    assert states(app) == {"evt-1": "queued"}
    assert sweep(app, later(seconds=10)) == 1
    assert order_json(shop, "VE-1")["status"] == "paid"


def test_the_workers_quick_round_asks_again_for_a_drain_that_never_came(app_without_redis, shop, app):
    from worker.main import kick_webhooks

    cut_off = Shop(app_without_redis.test_client(), shop.key, shop.secret, shop.code)
    assert cut_off.webhook("evt-1", "order.paid", paid("NR-2", shop.code)).status_code == 202
    with app.app_context():
        db.session.execute(update(WebhookEvent).values(attempted_at=utcnow() - timedelta(seconds=30)))
        db.session.commit()
        kick_webhooks()
        assert queued_jobs() == 1
    work(app)
    assert order_json(shop, "NR-2")["status"] == "paid"


def test_the_sweep_applies_events_held_longer_than_a_minute_once(shop, app):
    assert shop.webhook("evt-refund", "order.refunded", refund("SW-1")).status_code == 202
    assert shop.webhook("evt-done", "order.completed", {"external_id": "SW-1"}).status_code == 202
    work(app)
    assert shop.order("SW-1").status_code == 201  # the REST API releases nothing: they stay held
    assert sweep(app) == 0  # held for less than a minute: left alone
    assert set(states(app).values()) == {"held"}
    assert sweep(app, later(2)) == 2
    assert sweep(app, later(5)) == 0  # applied ones are never tried again
    order = order_json(shop, "SW-1")
    assert order["refunded_fen"] == 100 and order["status"] == "completed"
    assert {e: (row.status.value, row.attempts) for e, row in events(app).items()} == {
        "evt-refund": ("applied", 2), "evt-done": ("applied", 2)}


def test_the_workers_regular_sweep_applies_held_events(shop, app):
    from worker.main import sweep as worker_sweep

    assert shop.webhook("evt-done", "order.completed", {"external_id": "SW-4"}).status_code == 202
    work(app)
    assert shop.order("SW-4").status_code == 201
    with app.app_context():
        db.session.execute(update(WebhookEvent).values(attempted_at=utcnow() - timedelta(minutes=2)))
        db.session.commit()
        worker_sweep()
    assert order_json(shop, "SW-4")["status"] == "completed"


# ---------------------------------------------------------------- the manager's page: retry or drop


@pytest.fixture
def waiting(shop, app, monkeypatch):
    """One event held for an order that has not come, one dead, one refused, one applied."""
    assert shop.webhook("evt-held", "order.refunded", refund("NEVER-1")).status_code == 202
    assert shop.order("PG-1").status_code == 201
    assert shop.webhook("evt-dead", "order.completed", {"external_id": "PG-1"}).status_code == 202
    assert shop.order("PG-3").status_code == 201
    assert shop.webhook("evt-refused", "order.refunded", refund("PG-3", amount_fen=10**6)).status_code == 202
    assert shop.webhook("evt-ok", "order.paid", paid("PG-2", shop.code)).status_code == 202
    monkeypatch.setattr(orders, "complete", broken)
    work(app)
    with app.app_context():
        db.session.execute(update(WebhookEvent).where(WebhookEvent.event_id == "evt-dead")
                           .values(status="dead", attempts=webhooks.MAX_ATTEMPTS, next_attempt_at=None))
        db.session.commit()
    monkeypatch.undo()
    assert states(app) == {"evt-held": "held", "evt-dead": "dead", "evt-refused": "rejected", "evt-ok": "applied"}
    return {e: row.id for e, row in events(app).items()}


def test_a_manager_sees_the_dead_letters_and_retries_one(app, browser, shop, waiting):
    browser.login("boss@example.com", PASSWORD)
    page = browser.get("/manage/webhooks").get_data(as_text=True)
    assert "evt-held" in page and "NEVER-1" in page and "等待订单" in page
    assert "evt-dead" in page and "PG-1" in page and "死信" in page and "磁盘已满" in page
    assert "evt-refused" in page and "已拒绝" in page and "refund_exceeds_paid" in page
    assert "evt-ok" not in page
    jobs_page = browser.get("/manage/jobs").get_data(as_text=True)
    assert 'href="/manage/webhooks"' in jobs_page  # in the navigation, and from the queue's figures
    assert "订单事件队列" in jobs_page and "死信" in jobs_page

    retried = browser.post(f"/manage/webhooks/{waiting['evt-dead']}/retry", token_from="/manage/webhooks")
    assert retried.status_code == 302
    assert order_json(shop, "PG-1")["status"] == "completed"
    row = events(app)["evt-dead"]
    assert row.status.value == "applied" and row.attempts == webhooks.MAX_ATTEMPTS + 1
    page = browser.get("/manage/webhooks").get_data(as_text=True)
    assert "evt-dead" not in page and "evt-held" in page

    browser.post(f"/manage/webhooks/{waiting['evt-held']}/retry", token_from="/manage/webhooks")
    assert events(app)["evt-held"].status.value == "held"  # its order has still not come


def test_a_manager_drops_a_dead_letter_and_a_replay_of_it_is_only_acknowledged(app, browser, shop, waiting):
    browser.login("boss@example.com", PASSWORD)
    dropped = browser.post(f"/manage/webhooks/{waiting['evt-refused']}/drop", token_from="/manage/webhooks")
    assert dropped.status_code == 302
    assert events(app)["evt-refused"].status.value == "dropped"
    assert "evt-refused" not in browser.get("/manage/webhooks").get_data(as_text=True)
    replay = shop.webhook("evt-refused", "order.refunded", refund("PG-3", amount_fen=10**6))
    assert replay.status_code == 200 and replay.get_json()["state"] == "dropped"
    work(app)
    assert sweep(app, later(60)) == 0
    assert events(app)["evt-refused"].status.value == "dropped" and order_json(shop, "PG-3")["refunded_fen"] == 0
    again = browser.post(f"/manage/webhooks/{waiting['evt-refused']}/drop", token_from="/manage/webhooks")
    assert again.status_code == 404  # no longer open


def test_retry_and_drop_without_the_csrf_token_are_refused(app, client, shop, waiting):
    manager = Browser(client)
    manager.login("boss@example.com", PASSWORD)
    assert client.post(f"/manage/webhooks/{waiting['evt-dead']}/retry").status_code == 400
    assert client.post(f"/manage/webhooks/{waiting['evt-dead']}/drop").status_code == 400
    assert events(app)["evt-dead"].status.value == "dead"


def test_another_brands_manager_neither_sees_nor_retries_nor_drops_the_events(app, client, shop, waiting):
    with app.app_context():
        other = Brand(name="别家", short_name="别家")
        db.session.add(other)
        db.session.flush()
        accounts.create_user(other, Role.MANAGER, "别家经理", PASSWORD, email="other@example.com")
        db.session.commit()
        other_id = other.id
    stranger = Browser(client)
    stranger.login("other@example.com", PASSWORD)
    page = stranger.get("/manage/webhooks")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "evt-held" not in text and "evt-dead" not in text and "没有待处理的事件" in text
    for action in ("retry", "drop"):
        refused = stranger.post(f"/manage/webhooks/{waiting['evt-dead']}/{action}", token_from="/manage/webhooks")
        assert refused.status_code == 404
    row = events(app)["evt-dead"]
    assert row.status.value == "dead" and row.attempts == webhooks.MAX_ATTEMPTS
    assert order_json(shop, "PG-1")["status"] == "paid"
    jobs_page = stranger.get("/manage/jobs").get_data(as_text=True)
    with app.app_context():
        assert webhooks.figures(other_id).dead == 0 and webhooks.figures().dead == 2
    assert "订单事件队列" in jobs_page


def test_the_page_says_when_nothing_waits(app, browser, make):
    make.brand()
    browser.login("boss@example.com", PASSWORD)
    page = browser.get("/manage/webhooks")
    assert page.status_code == 200 and "没有待处理的事件" in page.get_data(as_text=True)


# ---------------------------------------------------------------- figures: the jobs page and /healthz


def test_healthz_reports_the_queue_and_the_workers_heartbeat(shop, app, client):
    body = client.get("/healthz").get_json()
    assert body["database"] == "ok" and body["redis"] == "ok"
    assert body["worker"] == {"status": "down", "workers": 0, "heartbeat_age_seconds": None}
    assert body["queue"] == {"depth": 0, "queued": 0, "retrying": 0, "held": 0, "dead_letters": 0, "lag_seconds": 0.0}
    shop.webhook("evt-1", "order.paid", paid("HZ-1", shop.code))
    shop.webhook("evt-2", "order.refunded", refund("HZ-9"))
    with app.app_context():
        db.session.execute(update(WebhookEvent).values(received_at=utcnow() - timedelta(seconds=42)))
        db.session.commit()
        worker = Worker([get_queue("webhooks")], connection=redis_connection())
        worker.register_birth()
        worker.heartbeat()
    try:
        response = client.get("/healthz")
        body = response.get_json()
        assert response.status_code == 200
        assert body["queue"]["depth"] == 2 and body["queue"]["queued"] == 2 and 42 <= body["queue"]["lag_seconds"] < 60
        assert body["worker"]["status"] == "ok" and body["worker"]["workers"] == 1
        assert 0 <= body["worker"]["heartbeat_age_seconds"] < 30
    finally:
        with app.app_context():
            worker.register_death()
    work(app)
    body = client.get("/healthz").get_json()
    assert body["queue"] == {"depth": 0, "queued": 0, "retrying": 0, "held": 1, "dead_letters": 0, "lag_seconds": 0.0}


def test_healthz_without_redis_is_503_and_still_reports_the_queue(app_without_redis, shop):
    response = app_without_redis.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["redis"] == "down" and body["database"] == "ok" and body["worker"]["status"] == "unknown"
    assert body["queue"]["depth"] == 0


def test_the_jobs_page_shows_depth_lag_and_dead_letters(app, browser, shop, monkeypatch):
    shop.webhook("evt-1", "order.paid", paid("JP-1", shop.code))
    shop.webhook("evt-2", "order.paid", paid("JP-2", shop.code))
    with app.app_context():
        db.session.execute(update(WebhookEvent).values(received_at=utcnow() - timedelta(seconds=75)))
        db.session.commit()
    browser.login("boss@example.com", PASSWORD)
    page = browser.get("/manage/jobs").get_data(as_text=True)
    assert "排队中" in page and "队列延迟" in page and "未运行" in page  # no worker is running
    assert "待应用 2" in page
    with app.app_context():
        figures = webhooks.figures(events(app)["evt-1"].brand_id)
        assert figures.depth == 2 and 75 <= figures.lag_seconds < 120


def test_the_distweb_worker_runs_a_drain_in_its_own_process(shop, app):
    """No work horse per drain (worker.main.DistwebWorker.execute_job): the drain runs where
    the worker runs, and the worker is idle again after it."""
    import os

    from worker import main as worker_main

    assert shop.webhook("evt-1", "order.paid", paid("DW-1", shop.code)).status_code == 202
    pids = []

    class Recording(worker_main.DistwebWorker):
        def perform_job(self, job, queue, *args, **kwargs):
            pids.append(os.getpid())
            return super().perform_job(job, queue, *args, **kwargs)

    with app.app_context():
        worker = Recording([get_queue("webhooks")], connection=redis_connection())
        worker.work(burst=True)
        db.session.remove()
    assert pids == [os.getpid()]
    assert order_json(shop, "DW-1")["status"] == "paid" and states(app) == {"evt-1": "applied"}
