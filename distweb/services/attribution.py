"""Who brought the buyer: tracked-link clicks, the attribution cookie, buyer bindings, and
the upline chain snapshotted on each order.

Rules (brand settings):
- touches (link clicks, shop visits, coupon codes) inside the attribution window pick a
  promoter, first-touch or last-touch;
- the buyer's binding decides between that promoter and an earlier one: a permanent binding
  keeps the first promoter for good, a binding of N days keeps it until it expires, and
  "overwrite" lets each new share take over;
- a binding is made when an order is paid, never by an unpaid one (anyone can type a phone
  number into a checkout); an anonymous shop checkout binds its buyer only if the buyer
  proved the phone by the SMS code sent to it (``services.sms``) or the buyer's browser
  followed that promoter's tracked link (the link cookie);
- with self-purchase off, a promoter buying for itself is a buyer bound to its upline;
- a suspended promoter in the chain is skipped: its position is paid to no one.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import bindparam, select, update

from distweb.extensions import db
from distweb.models import BuyerBinding, Click, ProgrammeSettings, Promoter
from distweb.models.base import insert_ignoring_duplicates, utcnow
from distweb.models.network import AttributionModel, BindingMode, PromoterStatus
from distweb.queues import REDIS_FAILURES, redis_connection
from distweb.services.rows import loaded
from distweb.services.tx import transaction

COOKIE_NAME = "dw_ref"
LINK_COOKIE_NAME = "dw_link"  # tracked-link touches only (shop visits are in COOKIE_NAME too)
NOT_READ = object()  # resolve_promoter's binding argument when the caller did not read it
MAX_TOUCHES = 10
CLICK_DEDUPE_SECONDS = 30 * 60


# ---------------------------------------------------------------- hashing visitors


def _keyed_hash(kind: str, value: str) -> str:
    """Identifiers we must match but never need to read back (IPs, buyer phones) are kept
    only as a keyed hash."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def ip_hash(ip: str | None) -> str:
    return _keyed_hash("ip", ip or "-")


def buyer_key_for_phone(phone: str) -> str:
    return _keyed_hash("phone", phone.strip())


# ---------------------------------------------------------------- the attribution cookie


def _serializer(salt: str = "distweb-attribution") -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def read_int_tuples(cookie: str | None, salt: str, width: int, keep: int) -> list[tuple[int, ...]]:
    """The last ``keep`` tuples of ``width`` integers from a signed cookie (touches); a
    tampered or malformed cookie reads as empty."""
    if not cookie:
        return []
    try:
        data = _serializer(salt).loads(cookie)
    except BadSignature:
        return []
    if not isinstance(data, list):
        return []
    return [tuple(item) for item in data[-keep:]
            if isinstance(item, list) and len(item) == width
            and all(isinstance(v, int) and not isinstance(v, bool) for v in item)]


def write_int_tuples(rows: list[tuple[int, ...]], salt: str, keep: int) -> str:
    return _serializer(salt).dumps([list(t) for t in rows[-keep:]])


def read_touches(cookie: str | None) -> list[tuple[int, int]]:
    """[(promoter id, unix time)] from the signed cookie; a tampered cookie reads as empty."""
    return read_int_tuples(cookie, "distweb-attribution", 2, MAX_TOUCHES)


def add_touch(cookie: str | None, promoter_id: int, now: datetime | None = None) -> str:
    touches = read_touches(cookie)
    touches.append((promoter_id, int((now or utcnow()).timestamp())))
    return write_int_tuples(touches, "distweb-attribution", MAX_TOUCHES)


def read_link_touches(cookie: str | None) -> list[tuple[int, int]]:
    """[(promoter id, unix time)] of the tracked links this browser followed."""
    return read_int_tuples(cookie, "distweb-link", 2, MAX_TOUCHES)


def add_link_touch(cookie: str | None, promoter_id: int, now: datetime | None = None) -> str:
    touches = read_link_touches(cookie)
    touches.append((promoter_id, int((now or utcnow()).timestamp())))
    return write_int_tuples(touches, "distweb-link", MAX_TOUCHES)


def followed_link_of(link_touches: list[tuple[int, int]], promoter_id: int, settings, now: datetime) -> bool:
    """Whether the browser followed ``promoter_id``'s tracked link within the attribution
    window: the proof an anonymous shop checkout needs to bind its buyer."""
    cutoff = int((now - timedelta(days=settings.attribution_window_days)).timestamp())
    return any(pid == promoter_id and at >= cutoff for pid, at in link_touches)


def pick_touch(touches: list[tuple[int, int]], settings: ProgrammeSettings, now: datetime) -> int | None:
    """The promoter the touches point to, within the attribution window."""
    cutoff = int((now - timedelta(days=settings.attribution_window_days)).timestamp())
    live = [t for t in touches if t[1] >= cutoff]
    if not live:
        return None
    live.sort(key=lambda t: t[1])
    chosen = live[0] if settings.attribution == AttributionModel.FIRST_TOUCH else live[-1]
    return chosen[0]


# ---------------------------------------------------------------- clicks


def record_click(promoter: Promoter, target: str | None, ip: str | None, user_agent: str | None,
                 material_id: int | None = None) -> bool:
    """Log a tracked-link visit; the same visitor, promoter, target and material count once
    per 30 minutes, so a flood of clicks is one click. Returns whether it was counted."""
    visitor = ip_hash(ip)
    key = f"distweb:click:{promoter.id}:{target or '-'}:{material_id or '-'}:{visitor[:32]}"
    try:
        first = redis_connection().set(key, 1, nx=True, ex=CLICK_DEDUPE_SECONDS)
    except REDIS_FAILURES:
        first = True  # without Redis we would rather count a repeat than lose a click
    if not first:
        return False
    with transaction():
        db.session.add(
            Click(brand_id=promoter.brand_id, promoter_id=promoter.id, target=(target or None) and target[:80],
                  material_id=material_id, ip_hash=visitor, user_agent=(user_agent or "")[:200])
        )
    return True


# ---------------------------------------------------------------- resolving an order


@dataclass(frozen=True)
class Chain:
    """The attributed promoter and the paying positions L1..L3 (None where skipped)."""

    promoter_id: int | None
    source: str | None
    l1_id: int | None = None
    l2_id: int | None = None
    l3_id: int | None = None

    @property
    def positions(self) -> list[int | None]:
        return [self.l1_id, self.l2_id, self.l3_id]


def resolve_promoter(
    settings: ProgrammeSettings,
    buyer_key: str | None,
    touches: list[tuple[int, int]],
    explicit_promoter_id: int | None = None,
    now: datetime | None = None,
    binding=NOT_READ,
) -> tuple[int | None, str | None]:
    """Decide the promoter for a buyer's order. Returns (promoter id, source); source
    "binding" when the buyer's live binding decided. Writes nothing: the binding is made
    when the order is paid (``bind_buyer``).

    ``binding``: the buyer's binding as the caller read it in this transaction
    (``binding_columns``, a ``Binding`` or None), else read here."""
    now = now or utcnow()
    touched = explicit_promoter_id or pick_touch(touches, settings, now)
    source = "shop" if explicit_promoter_id else ("link" if touched else None)
    if touched:
        candidate = db.session.get(Promoter, touched)
        if candidate is None or candidate.brand_id != settings.brand_id:
            touched, source = None, None
    binding = _binding_of(settings.brand_id, buyer_key, binding)
    binding_live = binding is not None and (binding.expires_at is None or binding.expires_at > now)
    if binding_live and (settings.binding_mode != BindingMode.OVERWRITE or touched is None):
        return binding.promoter_id, "binding"
    return (touched, source) if touched is not None else (None, None)


def bind_buyer(settings: ProgrammeSettings, buyer_key: str, promoter_id: int, now: datetime | None = None,
               binding=NOT_READ) -> None:
    """Bind the buyer of a paid order to its promoter, by the brand's binding mode: a buyer
    with no binding (or an expired one) is bound; a live binding stays unless the mode is
    "overwrite". The caller's transaction commits it."""
    now = now or utcnow()
    binding = _binding_of(settings.brand_id, buyer_key, binding)
    mode = settings.binding_mode
    expires = now + timedelta(days=settings.binding_days) if mode == BindingMode.DAYS else None
    if binding is None:
        _bind_new_buyer(settings.brand_id, buyer_key, promoter_id, now, expires)
        return
    live = binding.expires_at is None or binding.expires_at > now
    if live and (mode != BindingMode.OVERWRITE or binding.promoter_id == promoter_id):
        return
    db.session.execute(update(BuyerBinding).where(BuyerBinding.id == binding.id)
                       .values(promoter_id=promoter_id, bound_at=now, expires_at=expires)
                       .execution_options(synchronize_session=False))


def _binding_of(brand_id: int, buyer_key: str | None, binding):
    if not buyer_key:
        return None
    if binding is NOT_READ:
        return db.session.connection().execute(_BINDING, {"brand_id": brand_id, "buyer_key": buyer_key}).first()
    return binding


# Built once (bound per call): the buyer's binding, as a row.
_BINDING = select(BuyerBinding.id, BuyerBinding.promoter_id, BuyerBinding.expires_at).where(
    BuyerBinding.brand_id == bindparam("brand_id"), BuyerBinding.buyer_key == bindparam("buyer_key"))


class Binding(NamedTuple):
    id: int
    promoter_id: int
    expires_at: datetime | None


def binding_columns():
    """The buyer's binding (brand ``brand_id``, key ``buyer_key``) as three labelled scalar
    subqueries, for a caller that reads it beside something else; ``binding_from`` turns
    their values into what ``resolve_promoter`` takes."""
    def one(column):
        return (select(column).where(BuyerBinding.brand_id == bindparam("brand_id"),
                                     BuyerBinding.buyer_key == bindparam("buyer_key"))
                .scalar_subquery().label(f"binding_{column.key}"))

    return [one(BuyerBinding.id), one(BuyerBinding.promoter_id), one(BuyerBinding.expires_at)]


def binding_from(values) -> Binding | None:
    return Binding(*values) if values[0] is not None else None


def _bind_new_buyer(brand_id: int, buyer_key: str, promoter_id: int, now: datetime, expires: datetime | None) -> None:
    """Bind a buyer seen for the first time. Two first orders of one new buyer at once must
    not fail the second order over the binding the first one wrote: the first binding stands
    (INSERT … ON CONFLICT DO NOTHING)."""
    values = {"brand_id": brand_id, "buyer_key": buyer_key, "promoter_id": promoter_id, "bound_at": now,
              "expires_at": expires}
    db.session.connection().execute(insert_ignoring_duplicates(BuyerBinding.__table__, ("brand_id", "buyer_key")),
                                    values)


def snapshot_chain(settings: ProgrammeSettings, promoter_id: int | None, buyer_user=None,
                   self_purchase: bool = False, source: str | None = None) -> Chain:
    """The chain as it stands now, to be stored on the order. With self-purchase off, a
    promoter buying for itself starts the chain at its upline; suspended positions pay no one.
    ``buyer_user``: the buying user (a User, or anything with its ``id``)."""
    promoter = db.session.get(Promoter, promoter_id) if promoter_id else None
    if promoter is None:
        return Chain(None, None)
    if buyer_user is not None and buyer_user.id == promoter.user_id and not self_purchase:
        upline = db.session.get(Promoter, promoter.upline_id) if promoter.upline_id else None
        if upline is None:
            return Chain(None, "self")
        promoter, source = upline, "self"
    # All three positions: the plan version that prices the order decides how deep it pays.
    ids = [promoter.id, promoter.upline_id, promoter.upline2_id]
    if any(ids):
        # Whole rows, kept for the transaction: pricing the order reads their ranks next.
        chain = loaded(Promoter, ids)
        ids = [i if i and i in chain and chain[i].status == PromoterStatus.ACTIVE else None for i in ids]
    return Chain(promoter.id, source, *ids)
