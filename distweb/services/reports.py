"""Read-only figures for the home pages. Every query is scoped to the caller's rights."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, func, select, true
from sqlalchemy.orm import joinedload

from distweb import caching
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
from distweb.models.order import OrderMode, OrderStatus
from distweb.services import versions

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


class RecentOrder(NamedTuple):
    """One line of the home's latest orders: the attributes templates/promoter/_order_items.html
    reads. A tuple, so the list can key the rendered markup."""

    id: int
    external_id: str
    status: OrderStatus
    mode: OrderMode
    placed_at: datetime
    total_paid_fen: int


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
    recent_orders: tuple[RecentOrder, ...] = ()


HOME_RECENT_ORDERS = 5
_WALLET_KINDS = (AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE)


def _home_statement():
    """The whole promoter home in one statement, one row per recent order (or one row with
    empty order columns): today's and this month's own sales (ix_orders_promoter_placed), the
    active direct team (ix_promoters_upline_id), what it earned today and this month
    (ix_commission_lines_promoter_created), its frozen and available balances (the accounts'
    unique key, then ix_ledger_entries_account), the user's unread notifications for the bell
    (ix_notifications_user_unread) and the latest orders (ix_orders_promoter_placed).

    Orders, commission lines and ledger entries are each scanned once, summed with CASE for
    the two periods or accounts. Each of the three summing parts and the latest orders are
    derived tables joined on true, so the row count is that of the latest orders. Parameters:
    promoter_id, brand_id, user_id, and the periods today and month (day_start, month_start)."""
    promoter_id, brand_id, user_id = bindparam("promoter_id"), bindparam("brand_id"), bindparam("user_id")
    today, month = bindparam("today"), bindparam("month")
    sales = select(
        func.count(Order.id).label("month_orders"),
        func.coalesce(func.sum(Order.total_paid_fen), 0).label("month_sales_fen"),
        func.coalesce(func.sum(case((Order.placed_at >= today, 1), else_=0)), 0).label("today_orders"),
        func.coalesce(func.sum(case((Order.placed_at >= today, Order.total_paid_fen), else_=0)), 0)
        .label("today_sales_fen"),
    ).where(
        Order.promoter_id == promoter_id,
        Order.placed_at >= month,
        Order.status.in_(SALE_STATUSES),
    ).subquery("sales")
    kept = CommissionLine.amount_fen - CommissionLine.reversed_fen  # what refunds left of a line
    earned = select(
        func.coalesce(func.sum(case((CommissionLine.created_at >= today, kept), else_=0)), 0).label("earned_today_fen"),
        func.coalesce(func.sum(kept), 0).label("earned_month_fen"),
    ).where(CommissionLine.promoter_id == promoter_id, CommissionLine.created_at >= month).subquery("earned")
    # A wallet account's balance is the sum of its entries: the ledger is the only truth.
    wallet = select(*(
        func.coalesce(func.sum(case((LedgerAccount.kind == kind, LedgerEntry.amount_fen), else_=0)), 0).label(label)
        for kind, label in zip(_WALLET_KINDS, ("frozen_fen", "available_fen"), strict=True)
    )).select_from(LedgerEntry).join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id).where(
        LedgerAccount.brand_id == brand_id,
        LedgerAccount.kind.in_(_WALLET_KINDS),
        LedgerAccount.owner_id == promoter_id,
    ).subquery("wallet")
    team = (select(func.count(Promoter.id))
            .where(Promoter.upline_id == promoter_id, Promoter.status == PromoterStatus.ACTIVE)
            .scalar_subquery().label("team_size"))
    unread = (select(func.count(Notification.id))
              .where(Notification.user_id == user_id, Notification.read_at.is_(None))
              .scalar_subquery().label("unread_notifications"))
    recent = (select(Order.id.label("order_id"), Order.external_id.label("order_external_id"),
                     Order.status.label("order_status"), Order.mode.label("order_mode"),
                     Order.placed_at.label("order_placed_at"), Order.total_paid_fen.label("order_total_paid_fen"))
              .where(Order.promoter_id == promoter_id)
              .order_by(Order.id.desc())
              .limit(HOME_RECENT_ORDERS)
              .subquery("recent"))
    froms = sales.join(earned, true()).join(wallet, true())
    columns = [*sales.c, *earned.c, *wallet.c, team, unread, *recent.c]
    return select(*columns).select_from(froms.outerjoin(recent, true())).order_by(recent.c.order_id.desc())


_PROMOTER_HOME = _home_statement()


def _home_from_rows(rows) -> PromoterHome:
    row = rows[0]
    return PromoterHome(
        today=SalesFigures(int(row.today_orders), int(row.today_sales_fen)),
        month=SalesFigures(int(row.month_orders), int(row.month_sales_fen)),
        team_size=int(row.team_size),
        earned_today_fen=int(row.earned_today_fen),
        earned_month_fen=int(row.earned_month_fen),
        frozen_fen=int(row.frozen_fen),
        available_fen=int(row.available_fen),
        unread_notifications=int(row.unread_notifications),
        recent_orders=tuple(
            RecentOrder(r.order_id, r.order_external_id, r.order_status, r.order_mode, r.order_placed_at,
                        int(r.order_total_paid_fen))
            for r in rows if r.order_id is not None),
    )


def read_promoter_home(promoter_id: int, tz: str, brand_id: int, user_id: int,
                       now: datetime | None = None) -> PromoterHome:
    """Today's and this month's sales and earnings, the direct team size, the wallet's
    frozen and available balances, the unread notifications and the latest orders, in one
    query, from the database."""
    now = (now or datetime.now(ZoneInfo(tz))).astimezone(ZoneInfo(tz))
    rows = db.session.execute(_PROMOTER_HOME, {
        "promoter_id": promoter_id, "brand_id": brand_id, "user_id": user_id,
        "today": day_start(tz, now), "month": month_start(tz, now)}).all()
    return _home_from_rows(rows)


def brand_day(tz: str, now: datetime | None = None) -> str:
    """The brand's calendar day (today's and this month's figures start over at its midnight)."""
    return (now or datetime.now(ZoneInfo(tz))).astimezone(ZoneInfo(tz)).date().isoformat()


def promoter_home(promoter_id: int, tz: str, brand_id: int, user_id: int,
                  data_versions: tuple[int, int] | None = None) -> PromoterHome:
    """``read_promoter_home``, kept in the page cache under the promoter's and the brand's
    data versions (every write that changes a figure raises one; ``versions.current``, read
    now unless the caller just read them) and the brand's calendar day (today's and this
    month's figures start over at midnight)."""
    now = datetime.now(ZoneInfo(tz))
    promoter_version, brand_version = data_versions or versions.current(promoter_id, brand_id)
    key = caching.key_for("promoter-home", promoter_id, user_id, promoter_version, brand_version, tz,
                          brand_day(tz, now))
    return caching.cached(key, lambda: read_promoter_home(promoter_id, tz, brand_id, user_id, now), per_user=True)


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
