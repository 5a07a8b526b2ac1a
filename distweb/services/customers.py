"""我的客户: the buyers bound to a promoter, with what they bought through it.

A binding knows its buyer only by a keyed hash of the phone (``attribution.buyer_key_for_phone``);
the phone itself is on the buyer's orders. The promoter's own orders with a buyer phone are
grouped by phone and hashed here, so each binding finds its (masked) phone and figures among
the orders this promoter was credited with — never another promoter's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select

from distweb.extensions import db
from distweb.models import BuyerBinding, Order
from distweb.models.base import utcnow
from distweb.services import attribution
from distweb.services.reports import SALE_STATUSES

PAGE_SIZE = 20


@dataclass(frozen=True)
class Customer:
    id: int  # the binding's id (paging only)
    phone: str | None  # the full phone: templates show it masked
    bound_at: datetime
    expires_at: datetime | None
    orders: int
    sales_fen: int
    last_order_at: datetime | None

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()


def _my_buyers(promoter_id: int) -> dict[str, tuple[str, int, int, datetime | None]]:
    """{buyer key: (phone, paid orders, sales kept, last order)} over the orders credited to
    the promoter."""
    sale = Order.status.in_(SALE_STATUSES)
    rows = db.session.execute(
        select(Order.buyer_phone,
               func.sum(case((sale, 1), else_=0)),
               func.sum(case((sale, Order.total_paid_fen - Order.refunded_fen), else_=0)),
               func.max(case((sale, Order.placed_at), else_=None)))
        .where(Order.promoter_id == promoter_id, Order.buyer_phone.is_not(None))
        .group_by(Order.buyer_phone)
    )
    buyers: dict[str, tuple[str, int, int, datetime | None]] = {}
    for phone, n, kept, last in rows:
        key = attribution.buyer_key_for_phone(phone)
        before = buyers.get(key)
        if before is not None:  # " 139…" and "139…" are one buyer
            n, kept = n + before[1], kept + before[2]
            last = max(filter(None, (last, before[3])), default=None)
        buyers[key] = (phone.strip(), int(n or 0), int(kept or 0), _aware(last))
    return buyers


def _aware(value):
    from datetime import UTC

    if value is not None and value.tzinfo is None:  # SQLite hands MAX() back as a naive UTC time
        return value.replace(tzinfo=UTC)
    return value


def count(promoter_id: int) -> int:
    return db.session.scalar(select(func.count(BuyerBinding.id)).where(BuyerBinding.promoter_id == promoter_id)) or 0


def page(promoter_id: int, query: str | None = None, before_id: int | None = None,
         limit: int = PAGE_SIZE) -> list[Customer]:
    """One page of the promoter's buyers, newest binding first. ``query``: digits of the
    buyer's phone (any part; a whole number finds the buyer even without an order here)."""
    stmt = (select(BuyerBinding.id, BuyerBinding.buyer_key, BuyerBinding.bound_at, BuyerBinding.expires_at)
            .where(BuyerBinding.promoter_id == promoter_id)
            .order_by(BuyerBinding.id.desc()).limit(limit))
    if before_id:
        stmt = stmt.where(BuyerBinding.id < before_id)
    buyers = _my_buyers(promoter_id)
    if query:
        digits = "".join(ch for ch in query if ch.isdigit())
        if not digits:
            return []
        keys = {key for key, (phone, *_) in buyers.items() if digits in phone}
        keys.add(attribution.buyer_key_for_phone(digits))
        stmt = stmt.where(BuyerBinding.buyer_key.in_(keys))
    out = []
    for binding_id, key, bound_at, expires_at in db.session.execute(stmt):
        phone, n, kept, last = buyers.get(key, (query if query and query.isdigit() else None, 0, 0, None))
        out.append(Customer(binding_id, phone, bound_at, expires_at, n, kept, last))
    return out
