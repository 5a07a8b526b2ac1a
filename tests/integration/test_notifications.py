"""The inbox and Web Push: events that reach promoters, and pushes sent through a stand-in
push service on a real local HTTP port (the only thing stubbed is the far end of the wire)."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select

from distweb.extensions import db
from distweb.models import Notification, PushSubscription
from distweb.services import materials, notifications, orders, push
from tests.conftest import Browser, csrf_token_from
from tests.support.factories import PASSWORD


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class PushService:
    """Answers like FCM/Mozilla's push service: 201 for a live endpoint, 410 for a dead one;
    /moved answers a 307 to ``redirect_to``."""

    def __init__(self):
        self.received: list[tuple[str, dict, bytes]] = []
        self.redirect_to = ""
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                service.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if self.path.startswith("/moved"):
                    self.send_response(307)
                    self.send_header("Location", service.redirect_to)
                else:
                    self.send_response(410 if self.path.startswith("/gone") else 201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Phone:
    """A browser's push subscription: its own P-256 key and auth secret, so the test can
    decrypt what the server sent, as the phone would."""

    def __init__(self, endpoint: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.endpoint = endpoint

    def subscription(self) -> dict:
        public = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64(public), "auth": b64(self.auth)}}

    def read(self, body: bytes) -> dict:
        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"))


@pytest.fixture
def push_service(app):
    service = PushService()
    app.config["DISTWEB_PUSH_ALLOW_LOCAL"] = True
    yield service
    app.config["DISTWEB_PUSH_ALLOW_LOCAL"] = False
    service.close()


@pytest.fixture
def promoter(app, make):
    upline = make.promoter(name="李娜", phone="13700000002")
    me = make.promoter(name="张伟", phone="13700000001", upline=upline)
    browser = Browser(app.test_client())
    browser.login("13700000001", PASSWORD)
    browser.promoter, browser.upline = me, upline
    return browser


def inbox_of(app, promoter) -> list[tuple[str, dict]]:
    with app.app_context():
        from distweb.models import Promoter

        user_id = db.session.get(Promoter, promoter.id).user_id
        return [(n.kind, n.data) for n in notifications.inbox(user_id)]


def subscribe(browser: Browser, data) -> object:
    token = csrf_token_from(browser.get("/promoter/notifications").get_data(as_text=True))
    return browser.client.post("/promoter/push/subscribe", json=data, headers={"X-CSRFToken": token})


def place_and_pay(app, promoter, product):
    with app.app_context():
        from distweb.services.accounts import current_brand

        brand = current_brand()
        order = orders.place_order(brand, orders.OrderInput(
            external_id=None, mode="promotion", promoter_code=promoter.code, source="shop",
            items=[orders.ItemInput(sku=product.sku, quantity=1)],
            buyer=orders.BuyerInput("买家", "13900000001", "上海")))
        orders.mark_paid(brand.id, order.id)
        return order.external_id


def test_a_paid_order_tells_its_promoter_and_a_first_sale_tells_the_upline_once(app, make, promoter):
    product = make.product(sku="TEA-1", price_fen=5900)
    first = place_and_pay(app, promoter.promoter, product)
    mine = inbox_of(app, promoter.promoter)
    assert mine[0][0] == "order_paid" and mine[0][1]["order_no"] == first and mine[0][1]["amount_fen"] == 5900
    assert inbox_of(app, promoter.upline) == [
        ("team_first_sale", {"promoter_id": promoter.promoter.id, "name": "张伟", "order_no": first})]
    place_and_pay(app, promoter.promoter, product)
    assert [k for k, _d in inbox_of(app, promoter.upline)] == ["team_first_sale"]  # only the first sale
    page = promoter.get("/promoter/inbox").get_data(as_text=True)
    assert f"新订单 {first} 已付款 ¥59.00。" in page
    upline = Browser(app.test_client())
    upline.login("13700000002", PASSWORD)
    assert "你的团队成员 张伟 完成了首单！" in upline.get("/promoter/inbox").get_data(as_text=True)


def test_the_bell_counts_unread_and_opening_the_inbox_marks_them_read(app, make, promoter):
    product = make.product(sku="TEA-1", price_fen=5900)
    place_and_pay(app, promoter.promoter, product)
    place_and_pay(app, promoter.promoter, product)
    home = promoter.get("/promoter/").get_data(as_text=True)
    assert '<span class="bell-badge">2<span class="visually-hidden">条未读</span></span>' in home
    promoter.get("/promoter/inbox")
    assert "bell-badge" not in promoter.get("/promoter/").get_data(as_text=True)


def test_a_newly_pinned_material_tells_every_active_promoter(app, make, promoter):
    make.promoter(name="停用的", phone="13700000003", status=__import__(
        "distweb.models.network", fromlist=["PromoterStatus"]).PromoterStatus.SUSPENDED)
    with app.app_context():
        from distweb.services.accounts import current_brand

        brand_id = current_brand().id
        material = materials.save_material(brand_id, materials.MaterialInput(title="双十二爆款", pinned=True))
        materials.save_material(brand_id, materials.MaterialInput(title="双十二爆款（改）", pinned=True),
                                material=material)  # still pinned: no second notice
        rows = db.session.execute(select(Notification.user_id, Notification.kind, Notification.data)).all()
    assert len(rows) == 2  # the two active promoters; the suspended one hears nothing
    assert {kind for _u, kind, _d in rows} == {"material_pinned"}
    assert all(d["title"] == "双十二爆款" for _u, _k, d in rows)
    assert "新的置顶素材：双十二爆款" in promoter.get("/promoter/inbox").get_data(as_text=True)


def test_the_push_job_is_queued_after_the_commit_that_wrote_notifications(app, make, promoter):
    from distweb.queues import get_queue

    product = make.product(sku="TEA-1", price_fen=5900)
    place_and_pay(app, promoter.promoter, product)
    with app.app_context():
        queued = get_queue("default").get_jobs()
        assert [j.func_name for j in queued] == ["worker.jobs.deliver_push"]  # one, however many rows


def test_push_reaches_the_phone_encrypted_and_a_dead_subscription_is_removed(app, make, promoter, push_service):
    live, dead = Phone(f"{push_service.url}/live/1"), Phone(f"{push_service.url}/gone/2")
    for phone in (live, dead):
        answer = subscribe(promoter, phone.subscription())
        assert answer.status_code == 200 and answer.get_json()["message"] == "已开启推送通知。"
    product = make.product(sku="TEA-1", price_fen=5900)
    order_no = place_and_pay(app, promoter.promoter, product)
    with app.app_context():
        counts = push.deliver_all()
        assert counts["sent"] == 1 and counts["gone"] == 1
        assert [s.endpoint for s in db.session.scalars(select(PushSubscription))] == [live.endpoint]
        assert db.session.scalar(select(Notification.id).where(Notification.push_pending.is_(True))) is None
        again = push.deliver_all()  # nothing pending: nothing sent twice
        assert again["sent"] == 0
    paths = [path for path, _h, _b in push_service.received]
    assert paths == ["/live/1", "/gone/2"]
    _path, headers, body = push_service.received[0]
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["authorization"].startswith("vapid t=")
    message = live.read(body)
    assert message["body"] == f"新订单 {order_no} 已付款 ¥59.00。"
    assert "/promoter/orders/" in message["url"]


def test_a_kind_switched_off_stays_in_the_inbox_but_is_not_pushed(app, make, promoter, push_service):
    phone = Phone(f"{push_service.url}/live/1")
    subscribe(promoter, phone.subscription())
    page = promoter.get("/promoter/notifications").get_data(as_text=True)
    assert "新订单" in page and "团队成员首单" in page
    form = {f"push_{kind}": "1" for kind in push.PUSH_KINDS if kind != "order_paid"}
    saved = promoter.post("/promoter/notifications", form, follow_redirects=True)
    assert "通知设置已保存" in saved.get_data(as_text=True)
    product = make.product(sku="TEA-1", price_fen=5900)
    place_and_pay(app, promoter.promoter, product)
    with app.app_context():
        counts = push.deliver_all()
    assert counts["sent"] == 0 and counts["skipped"] == 2  # his order; the upline has no phone
    assert push_service.received == []
    assert inbox_of(app, promoter.promoter)[0][0] == "order_paid"


@pytest.mark.parametrize("data", [
    {"endpoint": "http://push.example.com/x", "keys": {"p256dh": "A" * 87, "auth": "B" * 22}},
    {"endpoint": "https://10.0.0.1/x", "keys": {"p256dh": "A" * 87, "auth": "B" * 22}},
    {"endpoint": "https://localhost/x", "keys": {"p256dh": "A" * 87, "auth": "B" * 22}},
    {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": "short", "auth": "B" * 22}},
    {"endpoint": "https://fcm.googleapis.com/fcm/send/x"},
    ["not", "an", "object"],
])
def test_bad_subscriptions_are_refused_with_a_message(app, promoter, data):
    answer = subscribe(promoter, data)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"] == "推送订阅无效，请重新开启推送。"
    with app.app_context():
        assert db.session.scalars(select(PushSubscription)).all() == []


# The same loopback address, spelled so that a check of "is it an IP address?" misses it
# while the resolver still reaches 127.0.0.1.
LOOPBACK_SPELLINGS = ("127.1", "2130706433", "0x7f000001", "0177.0.0.1")


@pytest.mark.parametrize("endpoint", [
    *(f"https://{host}:8443/push/x" for host in LOOPBACK_SPELLINGS),
    "https://fcm.googleapis.com@127.0.0.1/fcm/send/x",  # user info: the host is 127.0.0.1
    "https://127.0.0.1\\@fcm.googleapis.com/fcm/send/x",  # parsers disagree on the backslash
    "https://fcm.googleapis.com:8443/fcm/send/x",
    "https://fcm.googleapis.com#@127.0.0.1/x",
])
def test_endpoints_that_reach_into_our_own_network_are_refused(app, promoter, endpoint):
    answer = subscribe(promoter, Phone(endpoint).subscription())
    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"] == "推送订阅无效，请重新开启推送。"
    with app.app_context():
        assert db.session.scalars(select(PushSubscription)).all() == []


@pytest.mark.parametrize("endpoint", [
    "https://push.example.com/x",
    "https://fcm.googleapis.com.example.com/fcm/send/x",
    "https://evilpush.apple.com/x",
    "https://127.0.0.1.nip.io/x",
])
def test_endpoints_of_other_hosts_are_refused_as_an_unsupported_push_service(app, promoter, endpoint):
    answer = subscribe(promoter, Phone(endpoint).subscription())
    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"] == "暂不支持这个浏览器的推送服务。通知仍会出现在“消息”里。"
    with app.app_context():
        assert db.session.scalars(select(PushSubscription)).all() == []


@pytest.mark.parametrize("endpoint", [
    "https://fcm.googleapis.com/fcm/send/fv3jabydF5c:APA91bEc8gXeukGXEvq-k_Zx",  # Chrome
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABmXyZ_aBc-123",  # Firefox
    "https://web.push.apple.com/QGt2_hRv0DzUhvHAtLWcE1s",  # Safari
    "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAD%2bXYZ%3d",  # Edge on Windows
])
def test_the_browsers_push_services_are_accepted(app, promoter, endpoint):
    answer = subscribe(promoter, Phone(endpoint).subscription())
    assert answer.status_code == 200 and answer.get_json()["message"] == "已开启推送通知。"
    with app.app_context():
        assert db.session.scalars(select(PushSubscription.endpoint)).all() == [endpoint]


class Listener:
    """A bare TCP port on 127.0.0.1 that notes every connection made to it."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _address = self.server.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self.server.close()


def test_a_stored_endpoint_outside_the_push_services_is_never_contacted_and_is_dropped(app, make, promoter):
    listener = Listener()
    try:
        with app.app_context():
            from distweb.models import Promoter

            user_id = db.session.get(Promoter, promoter.promoter.id).user_id
            phone = Phone("")
            keys = phone.subscription()["keys"]
            for host in LOOPBACK_SPELLINGS:  # saved before subscriptions were checked
                db.session.add(PushSubscription(user_id=user_id, endpoint=f"https://{host}:{listener.port}/x",
                                                p256dh=keys["p256dh"], auth=keys["auth"]))
            db.session.commit()
        place_and_pay(app, promoter.promoter, make.product(sku="TEA-1", price_fen=5900))
        with app.app_context():
            counts = push.deliver_all()
            assert listener.connections == 0
            assert counts["refused"] == 4 and counts["sent"] == 0 and counts["failed"] == 0
            assert db.session.scalars(select(PushSubscription)).all() == []
        assert inbox_of(app, promoter.promoter)[0][0] == "order_paid"  # the inbox still has it
    finally:
        listener.close()


def test_a_push_service_redirect_is_not_followed(app, make, promoter, push_service):
    elsewhere = PushService()
    try:
        push_service.redirect_to = f"{elsewhere.url}/internal"
        subscribe(promoter, Phone(f"{push_service.url}/moved/1").subscription())
        place_and_pay(app, promoter.promoter, make.product(sku="TEA-1", price_fen=5900))
        with app.app_context():
            counts = push.deliver_all()
        assert counts["sent"] == 0 and counts["failed"] == 1
        assert [path for path, _h, _b in push_service.received] == ["/moved/1"]
        assert elsewhere.received == []
    finally:
        elsewhere.close()


def test_subscribing_needs_the_csrf_token(app, promoter):
    answer = promoter.client.post("/promoter/push/subscribe", json={"endpoint": "https://fcm.googleapis.com/x"})
    assert answer.status_code == 400


def test_vapid_key_is_generated_once_with_private_permissions(app, promoter):
    page = promoter.get("/promoter/notifications").get_data(as_text=True)
    with app.app_context():
        key = push.public_key()
        path = push._key_path()
    assert f'data-vapid-key="{key}"' in page
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert len(base64.urlsafe_b64decode(key + "=")) == 65  # an uncompressed P-256 point
