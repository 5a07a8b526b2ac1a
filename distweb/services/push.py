"""Web Push: an extra channel for phones that support it; the inbox works without it.

The VAPID key pair is generated once into ``instance/`` (0600). Notifications are written
with ``push_pending`` set; the ``deliver_push`` job (kicked after the commit that wrote them,
and by the worker's sweep as a fallback) sends each to the user's subscribed browsers, unless
the user switched that kind off, and removes subscriptions the push service says are gone
(404/410). Sending is at-least-once: a job killed after sending and before clearing the flag
sends again, which a phone shows as one notification (same ``tag``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from contextlib import nullcontext
from pathlib import Path

from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update

from distweb.extensions import db
from distweb.models import Notification, NotificationSetting, PushSubscription, User
from distweb.models.base import utcnow
from distweb.services.errors import ServiceError
from distweb.services.tx import transaction

log = logging.getLogger(__name__)

BATCH = 200
SEND_TIMEOUT = 10
# What a promoter can switch off, in the order the settings page lists them.
PUSH_KINDS = ("order_paid", "team_first_sale", "commission_unfrozen", "withdrawal", "material_pinned",
              "statement_ready")


def kind_group(kind: str) -> str:
    """withdrawal_approved, withdrawal_paid, ... are one switch."""
    return "withdrawal" if kind.startswith("withdrawal_") else kind


# ---------------------------------------------------------------- VAPID keys


def _key_path() -> Path:
    return Path(current_app.config["INSTANCE_PATH"]) / "vapid_private.pem"


def vapid():
    """The server's VAPID key, generated on first use (file mode 0600, never committed)."""
    from py_vapid import Vapid

    path = _key_path()
    if not path.exists():
        key = Vapid()
        key.generate_keys()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        key.save_key(str(tmp))
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # two processes starting at once: the first key wins
        except FileExistsError:
            pass
        tmp.unlink(missing_ok=True)
    return Vapid.from_file(str(path))


def public_key() -> str:
    """The applicationServerKey a browser subscribes with (base64url, uncompressed point)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = vapid().public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# ---------------------------------------------------------------- subscriptions and settings


# The push services of the browsers that can install the app: Chrome and most Chromium
# browsers (Firebase Cloud Messaging), Firefox (Mozilla autopush), Safari (Apple: any host
# under push.apple.com, as Apple's web push guide lists it) and Edge on Windows (Windows
# Notification Service). The server POSTs to a subscription's endpoint, so it goes nowhere
# else: a blocklist of private addresses loses to the many spellings of one ("127.1",
# "2130706433", "0x7f000001", "0177.0.0.1" all reach 127.0.0.1).
PUSH_HOSTS = frozenset({"fcm.googleapis.com", "updates.push.services.mozilla.com"})
PUSH_HOST_SUFFIXES = (".push.apple.com", ".notify.windows.com")
# https, a plain host name (no user info, no port but 443), then a path: the authority ends
# at the first "/", which every URL parser agrees on (no backslashes, no "#").
_ENDPOINT = re.compile(r"https://(?P<host>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,10}[a-z]{2,63})"
                       r"(?::443)?/[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*", re.IGNORECASE | re.ASCII)
# Only with DISTWEB_PUSH_ALLOW_LOCAL (tests): the stand-in push service on this machine.
_LOCAL_ENDPOINT = re.compile(r"http://127\.0\.0\.1:\d{1,5}/[A-Za-z0-9\-._~%/]*", re.ASCII)


def endpoint_allowed(endpoint) -> bool:
    """Whether the server may send to this subscription endpoint: https on a known push service."""
    if not isinstance(endpoint, str) or len(endpoint) > 1000:
        return False
    if current_app.config.get("DISTWEB_PUSH_ALLOW_LOCAL") and _LOCAL_ENDPOINT.fullmatch(endpoint):
        return True
    match = _ENDPOINT.fullmatch(endpoint)
    if match is None:
        return False
    host = match["host"].lower()
    return host in PUSH_HOSTS or host.endswith(PUSH_HOST_SUFFIXES)


def _check_endpoint(endpoint) -> None:
    if endpoint_allowed(endpoint):
        return
    if isinstance(endpoint, str) and len(endpoint) <= 1000 and _ENDPOINT.fullmatch(endpoint):
        # A well-formed https URL, just not a push service we send to.
        raise ServiceError("unsupported_push_service",
                           _l("暂不支持这个浏览器的推送服务。通知仍会出现在“消息”里。"), "endpoint")
    raise ServiceError("invalid_endpoint", _l("推送订阅无效，请重新开启推送。"), "endpoint")


def _b64_key(value, low: int, high: int) -> str:
    if not isinstance(value, str) or not (low <= len(value) <= high):
        raise ServiceError("invalid_keys", _l("推送订阅无效，请重新开启推送。"), "keys")
    try:
        base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, TypeError):
        raise ServiceError("invalid_keys", _l("推送订阅无效，请重新开启推送。"), "keys") from None
    return value


def subscribe(user: User, data: dict, user_agent: str | None = None) -> PushSubscription:
    """Save a browser's PushSubscription JSON (endpoint + keys) for this user. The same
    endpoint again (a re-subscribe, or another account on a shared phone) moves to this user."""
    if not isinstance(data, dict):
        raise ServiceError("invalid_subscription", _l("推送订阅无效，请重新开启推送。"))
    endpoint = data.get("endpoint")
    _check_endpoint(endpoint)
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    p256dh = _b64_key(keys.get("p256dh"), 80, 200)
    auth = _b64_key(keys.get("auth"), 16, 100)
    with transaction():
        row = db.session.scalars(select(PushSubscription).where(PushSubscription.endpoint == endpoint)).first()
        if row is None:
            row = PushSubscription(endpoint=endpoint)
            db.session.add(row)
        row.user_id, row.p256dh, row.auth = user.id, p256dh, auth
        row.user_agent = (user_agent or "")[:200]
    return row


def unsubscribe(user: User, endpoint: str | None) -> int:
    with transaction():
        stmt = delete(PushSubscription).where(PushSubscription.user_id == user.id)
        if endpoint:
            stmt = stmt.where(PushSubscription.endpoint == endpoint)
        return db.session.execute(stmt).rowcount


def subscription_count(user_id: int) -> int:
    return len(db.session.scalars(select(PushSubscription.id).where(PushSubscription.user_id == user_id)).all())


def push_off(user_id: int) -> set[str]:
    row = db.session.get(NotificationSetting, user_id)
    return set(row.push_off or []) if row else set()


def save_push_off(user_id: int, kinds_off: set[str]) -> None:
    kinds_off = {k for k in kinds_off if k in PUSH_KINDS}
    with transaction():
        row = db.session.get(NotificationSetting, user_id)
        if row is None:
            row = NotificationSetting(user_id=user_id)
            db.session.add(row)
        row.push_off = sorted(kinds_off)


# ---------------------------------------------------------------- sending


def _payload(notification: Notification, user: User) -> str:
    from distweb.labels import notification_link, notification_text

    # The job runs outside any request: links are built as paths of a stand-in request.
    request_ctx = nullcontext() if has_request_context() else current_app.test_request_context("/")
    with request_ctx, force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        body = notification_text(notification)
        title = str(user.brand.name) if user.brand else "distweb"
        link = notification_link(notification)
    return json.dumps({"title": title, "body": body, "url": link,
                       "tag": f"n{notification.id}"}, ensure_ascii=False)


def deliver_pending(limit: int = BATCH) -> dict:
    """Send the pending notifications (one batch); returns counts. Safe to run twice.

    A stored endpoint that is not a known push service (saved before the check existed) is
    never contacted and its subscription is dropped; redirects are never followed, so a push
    service's answer cannot send the request anywhere else."""
    import requests
    from pywebpush import WebPushException, webpush

    rows = list(db.session.scalars(select(Notification).where(Notification.push_pending.is_(True))
                                   .order_by(Notification.id).limit(limit)))
    counts = {"notifications": len(rows), "sent": 0, "gone": 0, "failed": 0, "skipped": 0, "refused": 0}
    if not rows:
        return counts
    user_ids = {n.user_id for n in rows}
    subs: dict[int, list[PushSubscription]] = {}
    refused: set[int] = set()
    for sub in db.session.scalars(select(PushSubscription).where(PushSubscription.user_id.in_(user_ids))):
        if endpoint_allowed(sub.endpoint):
            subs.setdefault(sub.user_id, []).append(sub)
        else:
            refused.add(sub.id)
            log.warning("push subscription %s dropped: its endpoint is not a known push service", sub.id)
    counts["refused"] = len(refused)
    settings = {s.user_id: set(s.push_off or []) for s in db.session.scalars(
        select(NotificationSetting).where(NotificationSetting.user_id.in_(user_ids)))}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
    key = vapid() if subs else None
    claims_sub = current_app.config.get("DISTWEB_PUSH_CONTACT", "mailto:ops@distweb.invalid")
    gone: set[int] = set()
    sent_to: set[int] = set()
    session = requests.Session()
    session.max_redirects = 0  # a 3xx answer fails the send (TooManyRedirects) instead of being followed
    try:
        for notification in rows:
            targets = [s for s in subs.get(notification.user_id, []) if s.id not in gone]
            if not targets or kind_group(notification.kind) in settings.get(notification.user_id, set()):
                counts["skipped"] += 1
                continue
            payload = _payload(notification, users[notification.user_id])
            for sub in targets:
                try:
                    webpush({"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}},
                            data=payload, vapid_private_key=key, vapid_claims={"sub": claims_sub},
                            ttl=24 * 3600, timeout=SEND_TIMEOUT, requests_session=session)
                    counts["sent"] += 1
                    sent_to.add(sub.id)
                except WebPushException as err:
                    status = getattr(err.response, "status_code", None)
                    if status in (404, 410):
                        gone.add(sub.id)
                        counts["gone"] += 1
                    else:
                        counts["failed"] += 1
                        log.warning("push to subscription %s failed: %s", sub.id, status or err)
                except Exception as err:  # noqa: BLE001 — one bad endpoint must not stop the batch
                    counts["failed"] += 1
                    log.warning("push to subscription %s failed: %s", sub.id, err)
    finally:
        session.close()
    with transaction():
        db.session.execute(update(Notification).where(Notification.id.in_([n.id for n in rows]))
                           .values(push_pending=False))
        if gone | refused:
            db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone | refused)))
        if sent_to:
            db.session.execute(update(PushSubscription).where(PushSubscription.id.in_(sent_to))
                               .values(last_sent_at=utcnow()))
    return counts


def deliver_all(max_batches: int = 50) -> dict:
    total: dict[str, int] = {}
    for _ in range(max_batches):
        counts = deliver_pending()
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
        if counts["notifications"] < BATCH:
            break
    return total
