"""Read-only figures for the home pages. Every query is scoped to the caller's rights."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, func, literal_column, select
from sqlalchemy.orm import joinedload

from distweb.extensions import db
from distweb.models import (
    CommissionLine,
    LedgerAccount,
    LedgerEntry,
    Notification,
    Order,
    Product,
    Promoter,
)
from distweb.models.ledger import AccountKind
from distweb.models.network import PromoterStatus
from distweb.models.order import OrderStatus
from distweb.services.tx import FastRead

# Orders that count as sales: paid and not cancelled or fully refunded.
SALE_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED)
PAGE_SIZE = 20


def month_start(tz: str, now: datetime | None = None) -> datetime:
    """Midnight on the first of this month in the brand's time zone."""
    local = (now or datetime.now(ZoneInfo(tz))).astimezone(ZoneInfo(tz))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def day_start(tz: str, now: datetime | None = None) -> datetime:
    local = (now or datetime.now(ZoneInfo(tz))).astimezone(ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class SalesFigures:
    orders: int
    sales_fen: int


def promoter_sales(promoter_id: int, since: datetime) -> SalesFigures:
    count, total = db.session.execute(
        select(func.count(Order.id), func.coalesce(func.sum(Order.total_paid_fen), 0)).where(
            Order.promoter_id == promoter_id,
            Order.placed_at >= since,
            Order.status.in_(SALE_STATUSES),
        )
    ).one()
    return SalesFigures(int(count), int(total))


@dataclass(frozen=True)
class PromoterHome:
    today: SalesFigures
    month: SalesFigures
    team_size: int
    earned_today_fen: int = 0
    earned_month_fen: int = 0
    frozen_fen: int = 0
    available_fen: int = 0
    unread_notifications: int = 0


def _earned_since(name: str):
    """What the promoter earned (kept after refunds) on lines created since :name."""
    return (select(func.coalesce(func.sum(CommissionLine.amount_fen - CommissionLine.reversed_fen), 0))
            .where(CommissionLine.promoter_id == bindparam("promoter_id"), CommissionLine.created_at >= bindparam(name))
            .scalar_subquery())


def _wallet_balance(kind: AccountKind):
    """A wallet account's balance: the sum of its entries (the ledger is the only truth)."""
    return (select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(LedgerAccount.brand_id == bindparam("brand_id"), LedgerAccount.kind == kind,
                   LedgerAccount.owner_id == bindparam("promoter_id"))
            .scalar_subquery())


# The home page's figures in one statement, built once (constructing a SQLAlchemy statement
# costs more than running this one): today's and this month's sales by the promoter's own
# orders (ix_orders_promoter_placed), the active direct team (ix_promoters_upline_id), what it
# earned today and this month (ix_commission_lines_promoter_created), its frozen and
# available balances (the accounts' unique key, then ix_ledger_entries_account) and, for the
# bell in the page's header, the user's unread notifications (ix_notifications_user_unread).
_counts_today = case((Order.placed_at >= bindparam("today"), 1), else_=0)
_sales_today = case((Order.placed_at >= bindparam("today"), Order.total_paid_fen), else_=0)
_HOME_FIGURES = FastRead(select(
    func.count(Order.id),
    func.coalesce(func.sum(Order.total_paid_fen), 0),
    func.coalesce(func.sum(_counts_today), 0),
    func.coalesce(func.sum(_sales_today), 0),
    select(func.count(Promoter.id))
    .where(Promoter.upline_id == bindparam("promoter_id"), Promoter.status == PromoterStatus.ACTIVE)
    .scalar_subquery(),
    _earned_since("today"),
    _earned_since("month"),
    _wallet_balance(AccountKind.PROMOTER_FROZEN),
    _wallet_balance(AccountKind.PROMOTER_AVAILABLE),
    select(func.count(Notification.id))
    .where(Notification.user_id == bindparam("user_id"), Notification.read_at.is_(None))
    .scalar_subquery(),
).where(
    Order.promoter_id == bindparam("promoter_id"),
    Order.placed_at >= bindparam("since"),
    # Written into the SQL (not a list parameter, which costs a rewrite of the statement on
    # every execution).
    Order.status.in_([literal_column(f"'{status.value}'") for status in SALE_STATUSES]),
))


def promoter_home(promoter_id: int, tz: str, brand_id: int | None = None, user_id: int | None = None) -> PromoterHome:
    """Today's and this month's sales and earnings, the direct team size, the wallet's
    frozen and available balances and the unread notifications, in one query."""
    if brand_id is None or user_id is None:
        brand_id, user_id = db.session.execute(
            select(Promoter.brand_id, Promoter.user_id).where(Promoter.id == promoter_id)).one()
    now = datetime.now(ZoneInfo(tz))
    today, month = day_start(tz, now), month_start(tz, now)
    (row,) = _HOME_FIGURES(
        {"promoter_id": promoter_id, "brand_id": brand_id, "user_id": user_id, "today": today, "month": month,
         "since": min(today, month)})
    return PromoterHome(
        today=SalesFigures(int(row[2]), int(row[3])),
        month=SalesFigures(int(row[0]), int(row[1])),
        team_size=int(row[4]),
        earned_today_fen=int(row[5]),
        earned_month_fen=int(row[6]),
        frozen_fen=int(row[7]),
        available_fen=int(row[8]),
        unread_notifications=int(row[9]),
    )


# What an order list shows, read as plain rows (no ORM objects to build), newest first.
_RECENT_ORDERS = FastRead(
    select(Order.id, Order.external_id, Order.status, Order.mode, Order.placed_at, Order.total_paid_fen)
    .where(Order.promoter_id == bindparam("promoter_id"))
    .order_by(Order.id.desc())
    .limit(bindparam("limit"))
)


def recent_orders(promoter_id: int, limit: int = 5):
    """The promoter's latest attributed orders as rows with the attributes of
    templates/promoter/_order_items.html (id, external_id, status, mode, placed_at,
    total_paid_fen)."""
    return _RECENT_ORDERS({"promoter_id": promoter_id, "limit": limit})


def brand_overview(brand_id: int, since: datetime) -> dict:
    orders, gmv = db.session.execute(
        select(func.count(Order.id), func.coalesce(func.sum(Order.total_paid_fen), 0)).where(
            Order.brand_id == brand_id, Order.placed_at >= since, Order.status.in_(SALE_STATUSES)
        )
    ).one()
    promoters = db.session.scalar(
        select(func.count(Promoter.id)).where(
            Promoter.brand_id == brand_id, Promoter.status == PromoterStatus.ACTIVE
        )
    )
    active_promoters = db.session.scalar(
        select(func.count(func.distinct(Order.promoter_id))).where(
            Order.brand_id == brand_id, Order.placed_at >= since, Order.status.in_(SALE_STATUSES)
        )
    )
    products = db.session.scalar(
        select(func.count(Product.id)).where(Product.brand_id == brand_id, Product.active.is_(True))
    )
    return {
        "orders": int(orders),
        "gmv_fen": int(gmv),
        "promoters": int(promoters),
        "active_promoters": int(active_promoters),
        "products": int(products),
    }


def brand_orders(brand_id: int, before_id: int | None = None, limit: int = PAGE_SIZE) -> list[Order]:
    stmt = (
        select(Order)
        .options(joinedload(Order.promoter).joinedload(Promoter.user))
        .where(Order.brand_id == brand_id)
        .order_by(Order.id.desc())
        .limit(limit)
    )
    if before_id:
        stmt = stmt.where(Order.id < before_id)
    return list(db.session.scalars(stmt))


def brand_promoters(brand_id: int, before_id: int | None = None, limit: int = PAGE_SIZE) -> list[Promoter]:
    stmt = (
        select(Promoter)
        .options(joinedload(Promoter.user), joinedload(Promoter.upline).joinedload(Promoter.user))
        .where(Promoter.brand_id == brand_id)
        .order_by(Promoter.id.desc())
        .limit(limit)
    )
    if before_id:
        stmt = stmt.where(Promoter.id < before_id)
    return list(db.session.scalars(stmt))


def brand_products(brand_id: int) -> list[Product]:
    return list(
        db.session.scalars(
            select(Product)
            .options(joinedload(Product.supplier))
            .where(Product.brand_id == brand_id)
            .order_by(Product.sku)
        )
    )


def promoter_order_page(promoter_id: int, level: int = 1, status: str | None = None,
                        since: datetime | None = None, until: datetime | None = None,
                        before_id: int | None = None, limit: int = PAGE_SIZE) -> list[Order]:
    """Orders a promoter brought (level 1) or its team brought (levels 2 and 3, by the
    chain snapshotted on each order), newest first."""
    column = {1: Order.promoter_id, 2: Order.chain_l2_id, 3: Order.chain_l3_id}[level]
    stmt = select(Order).where(column == promoter_id).order_by(Order.id.desc()).limit(limit)
    if status:
        try:
            stmt = stmt.where(Order.status == OrderStatus(status))
        except ValueError:
            pass
    if since:
        stmt = stmt.where(Order.placed_at >= since)
    if until:
        stmt = stmt.where(Order.placed_at < until)
    if before_id:
        stmt = stmt.where(Order.id < before_id)
    return list(db.session.scalars(stmt))
