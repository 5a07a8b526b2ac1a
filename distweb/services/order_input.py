"""How an order is read from a JSON-shaped body: the one reading that ``POST /api/v1/orders``,
the order webhook and platform imports (``services/imports.py``) share, so an order that
arrives by any of them is checked the same way, with the same codes and field names.

Every refusal is a ServiceError (422) naming the field, never a coercion: a float, a string
or a negative amount where an integer number of fen is expected is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext as _l

from distweb.services import orders
from distweb.services.errors import ServiceError


def field(body: dict, name: str, kind: type, required: bool = True, nullable: bool = False, max_length: int = 200):
    """A typed field from a JSON body; a wrong type is a 422 naming the field (never coerced)."""
    if name not in body or body[name] is None:
        if required and not nullable:
            raise ServiceError("missing_field", _l("缺少字段 %(name)s。", name=name), name)
        return None
    value = body[name]
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ServiceError("invalid_type", _l("字段 %(name)s 的类型不正确。", name=name), name)
    if isinstance(value, str) and len(value) > max_length:
        raise ServiceError("too_long", _l("字段 %(name)s 过长。", name=name), name)
    if isinstance(value, str) and "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise ServiceError("invalid_text", _l("字段 %(name)s 含有不允许的控制字符。", name=name), name)
    return value


# Times are stored in UTC and shown in any time zone: a day either side must still be a time.
EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)

# How far ahead of our clock a payment time may be (the shop's clock may run a little fast).
PAID_AT_AHEAD = timedelta(days=1)


def check_time(moment: datetime, name: str) -> datetime:
    """An aware time that every time zone can show, or the 422 naming ``name``."""
    if moment.tzinfo is None:
        raise ServiceError("invalid_time", _l("%(name)s 必须带时区偏移，例如 +08:00。", name=name), name)
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # year 1 at +08:00, or 9999-12-31 at -08:00, is no time in UTC
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ServiceError("invalid_time", _l("%(name)s 超出了可以记录的时间范围。", name=name), name)
    return moment


def parse_time(body: dict, name: str, required: bool = False) -> datetime | None:
    value = field(body, name, str, required=required, nullable=not required, max_length=40)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ServiceError("invalid_time", _l("%(name)s 必须是 ISO 8601 时间。", name=name), name) from None
    return check_time(moment, name)


def check_paid_at(paid_at: datetime | None) -> datetime | None:
    """Not more than a day ahead of now (a payment from the future would accrue commission
    no one has earned yet)."""
    if paid_at is not None and paid_at > datetime.now(UTC) + PAID_AT_AHEAD:
        raise ServiceError("paid_at_in_future", _l("付款时间 paid_at 不能晚于当前时间一天以上。"), "paid_at")
    return paid_at


def parse_paid_at(body: dict) -> datetime | None:
    """``paid_at`` as ``parse_time`` reads it, and not in the future (``check_paid_at``)."""
    return check_paid_at(parse_time(body, "paid_at"))


def order_input_from(body: dict, source: str = "api") -> orders.OrderInput:
    """The order a ``POST /api/v1/orders`` body describes (docs/API.md), checked field by
    field; the order services check the rest (SKUs, promoter, amounts) when it is placed."""
    items_raw = field(body, "items", list)
    items = []
    for i, raw in enumerate(items_raw):
        if not isinstance(raw, dict):
            raise ServiceError("invalid_type", _l("字段 %(name)s 的类型不正确。", name=f"items[{i}]"), f"items[{i}]")
        try:
            items.append(orders.ItemInput(
                sku=field(raw, "sku", str, max_length=64),
                quantity=field(raw, "quantity", int),
                unit_price_fen=field(raw, "unit_price_fen", int, required=False, nullable=True),
                paid_fen=field(raw, "paid_fen", int, required=False, nullable=True),
            ))
        except ServiceError as err:
            err.field = f"items[{i}].{err.field}"
            raise
    buyer_raw = field(body, "buyer", dict, required=False, nullable=True) or {}
    buyer = orders.BuyerInput(
        name=field(buyer_raw, "name", str, required=False, nullable=True, max_length=60),
        phone=field(buyer_raw, "phone", str, required=False, nullable=True, max_length=20),
        address=field(buyer_raw, "address", str, required=False, nullable=True, max_length=200),
    )
    currency = field(body, "currency", str, required=False, nullable=True, max_length=3)
    if currency not in (None, "CNY"):
        raise ServiceError("invalid_currency", _l("只支持人民币（CNY）。"), "currency")
    return orders.OrderInput(
        external_id=field(body, "external_id", str, max_length=64),
        mode=field(body, "mode", str, max_length=16),
        items=items,
        promoter_code=field(body, "promoter_code", str, required=False, nullable=True, max_length=12),
        buyer=buyer,
        paid_at=parse_paid_at(body),
        total_paid_fen=field(body, "total_paid_fen", int, required=False, nullable=True),
        stock_purchase=field(body, "stock_purchase", bool, required=False, nullable=True),
        source=source,
    )
