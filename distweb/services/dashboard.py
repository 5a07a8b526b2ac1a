"""The brand's data dashboard (数据可视化看板): the figures docs/API.md "Dashboard" defines,
for the API and the manager's pages alike (they show the same numbers).

Periods are brand calendar days in the brand's time zone, both ends inclusive. An order
counts on the local day of its ``paid_at``; its seller is its level-1 promoter
(``orders.promoter_id``). Money is integer fen throughout: every SUM is turned into ``int``
as it leaves the database (PostgreSQL answers SUM over bigint with a Decimal).

Every figure is one set-based statement that means the same on SQLite and PostgreSQL. Local
days are worked out from the zone's UTC offsets over the period (computed here with
``zoneinfo``, written into the statement as a CASE over the offset changes), so the database
never needs its own time-zone tables and both engines bucket the same instant on the same
day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, String, and_, case, exists, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from distweb.extensions import db
from distweb.models import (
    CommissionLine,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Order,
    OrderItem,
    Product,
    Promoter,
    Refund,
    User,
)
from distweb.models.base import UTCDateTime
from distweb.models.ledger import AccountKind
from distweb.models.network import PromoterStatus
from distweb.models.order import OrderStatus
from distweb.services.errors import ServiceError

MAX_DAYS = 366
TOP = 10
SURVIVAL_DAYS = 30
CORE_SHARE = (1, 5)  # the top 20% by commission: ceil(n × 1/5), ties at the cut all in
# Promoters who have joined: approved (active) or suspended since; a pending application or a
# rejected one has not joined the network.
JOINED_STATUSES = (PromoterStatus.ACTIVE, PromoterStatus.SUSPENDED)


def rate_bp(numerator: int, denominator: int) -> int:
    """numerator × 10000 / denominator rounded half-up, in integers; 0 when the denominator is 0."""
    if denominator <= 0:
        return 0
    quotient, remainder = divmod(numerator * 10000, denominator)
    return quotient + (1 if remainder * 2 >= denominator else 0)


# ---------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """Brand calendar days ``start``..``end`` (both inclusive) in the zone ``tz``."""

    start: date
    end: date
    tz: str = "Asia/Shanghai"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_utc(self) -> datetime:
        return local_midnight(self.start, self.tz)

    @property
    def end_utc(self) -> datetime:
        """The first instant after the period (midnight after ``end``), exclusive."""
        return local_midnight(self.end + timedelta(days=1), self.tz)

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1), self.tz)

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


def local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def local_today(tz: str, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(tz)).date()


def parse_period(start_text: str | None, end_text: str | None, tz: str) -> Period:
    """``from``/``to`` as YYYY-MM-DD; a missing, malformed or reversed range, or one of more
    than 366 days, is a 422 naming the field."""
    start = _parse_day(start_text, "from")
    end = _parse_day(end_text, "to")
    if end < start:
        raise ServiceError("invalid_range", _l("结束日期不能早于开始日期。"), "to")
    if (end - start).days + 1 > MAX_DAYS:
        raise ServiceError("range_too_long", _l("时间范围最多 %(num)s 天。", num=MAX_DAYS), "to")
    return Period(start, end, tz)


def _parse_day(text: str | None, name: str) -> date:
    if not text:
        raise ServiceError("missing_field", _l("缺少参数 %(name)s（YYYY-MM-DD）。", name=name), name)
    try:
        if len(text) != 10:
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise ServiceError("invalid_date", _l("%(name)s 必须是 YYYY-MM-DD 格式的日期。", name=name), name) from None
    if not date(1970, 1, 2) <= day <= date(9999, 12, 30):
        raise ServiceError("invalid_date", _l("%(name)s 超出了可以统计的日期范围。", name=name), name)
    return day


def offset_changes(period: Period) -> tuple[int, list[tuple[datetime, int]]]:
    """The zone's UTC offset (seconds) at the start of the period and every (instant, new
    offset) change inside it, found to the second."""
    zone = ZoneInfo(period.tz)

    def offset(moment: datetime) -> int:
        return int(moment.astimezone(zone).utcoffset().total_seconds())

    start, end = period.start_utc, period.end_utc
    first = offset(start)
    changes: list[tuple[datetime, int]] = []
    current, moment = first, start
    step = timedelta(hours=1)
    while moment < end:
        following = min(moment + step, end)
        if offset(following) != current:
            low, high = moment, following  # offset(low) == current, offset(high) differs
            while (high - low) > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0) if middle.microsecond else middle
                if middle <= low:
                    break
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            current = offset(high)
            changes.append((high, current))
        moment = following
    return first, changes


class _local_date(FunctionElement):  # noqa: N801
    """The brand-local calendar day ('YYYY-MM-DD') of a UTC timestamp, given the UTC offset
    in seconds that applies to it (an integer SQL expression)."""

    type = String()
    inherit_cache = True
    name = "local_date"


@compiles(_local_date)
def _local_date_sqlite(element, compiler, **kw):
    moment, offset = list(element.clauses)
    return f"date({compiler.process(moment, **kw)}, ({compiler.process(offset, **kw)}) || ' seconds')"


@compiles(_local_date, "postgresql")
def _local_date_postgresql(element, compiler, **kw):
    moment, offset = list(element.clauses)
    return (f"to_char(({compiler.process(moment, **kw)} AT TIME ZONE 'UTC') "
            f"+ ({compiler.process(offset, **kw)}) * INTERVAL '1 second', 'YYYY-MM-DD')")


def local_day(column, period: Period):
    """``column``'s local day as 'YYYY-MM-DD', exact across offset changes in the period."""
    first, changes = offset_changes(period)
    if not changes:
        offset = literal(first, Integer)
    else:
        whens, before = [], first
        for moment, new in changes:
            whens.append((column < literal(moment, UTCDateTime), literal(before, Integer)))
            before = new
        offset = case(*whens, else_=literal(before, Integer))
    return _local_date(column, offset)


class _plus_seconds(FunctionElement):  # noqa: N801
    """A timestamp column plus a whole number of seconds (a constant)."""

    type = UTCDateTime()
    inherit_cache = True
    name = "plus_seconds"


@compiles(_plus_seconds)
def _plus_seconds_sqlite(element, compiler, **kw):
    moment, seconds = list(element.clauses)
    # The same text form SQLAlchemy stores on SQLite (microseconds, six digits), to the millisecond.
    return (f"strftime('%Y-%m-%d %H:%M:%f000', {compiler.process(moment, **kw)}, "
            f"'+' || ({compiler.process(seconds, **kw)}) || ' seconds')")


@compiles(_plus_seconds, "postgresql")
def _plus_seconds_postgresql(element, compiler, **kw):
    moment, seconds = list(element.clauses)
    return f"({compiler.process(moment, **kw)} + ({compiler.process(seconds, **kw)}) * INTERVAL '1 second')"


# ---------------------------------------------------------------- the figures


def _in(column, period: Period):
    return and_(column >= period.start_utc, column < period.end_utc)


def _period_orders(brand_id: int, period: Period):
    """The period's orders: paid (cancelled ones included) on one of its days."""
    return and_(Order.brand_id == brand_id, Order.paid_at.is_not(None), _in(Order.paid_at, period))


def _int(value) -> int:
    return int(value or 0)


def sales(brand_id: int, period: Period) -> dict:
    """gmv_fen, orders, active sellers, refunded_fen and net_fen of the period."""
    gmv, orders, active = db.session.execute(
        select(func.coalesce(func.sum(Order.total_paid_fen), 0), func.count(Order.id),
               func.count(func.distinct(Order.promoter_id)))
        .where(_period_orders(brand_id, period))).one()
    refunds = select(func.coalesce(func.sum(Refund.amount_fen), 0)).join(Order, Order.id == Refund.order_id).where(
        Order.brand_id == brand_id, _in(Refund.created_at, period)).scalar_subquery()
    # A cancellation gives back what the order still kept (refunds before it are counted as
    # refunds, on their own days); an order cancelled before payment gave nothing back.
    cancellations = select(func.coalesce(func.sum(Order.total_paid_fen - Order.refunded_fen), 0)).where(
        Order.brand_id == brand_id, Order.status == OrderStatus.CANCELLED, Order.paid_at.is_not(None),
        _in(Order.cancelled_at, period)).scalar_subquery()
    refunded, cancelled = db.session.execute(select(refunds, cancellations)).one()
    refunded_fen = _int(refunded) + _int(cancelled)
    return {"gmv_fen": _int(gmv), "orders": _int(orders), "refunded_fen": refunded_fen,
            "net_fen": _int(gmv) - refunded_fen, "active": _int(active)}


def commission_accrued(brand_id: int, period: Period) -> int:
    """Commission and margin accrued on the period's orders, all levels, less reversals so far."""
    return _int(db.session.scalar(
        select(func.coalesce(func.sum(CommissionLine.amount_fen - CommissionLine.reversed_fen), 0))
        .select_from(Order).join(CommissionLine, CommissionLine.order_id == Order.id)
        .where(_period_orders(brand_id, period))))


def promoters(brand_id: int, period: Period) -> dict:
    total, new = db.session.execute(
        select(func.count(Promoter.id),
               func.coalesce(func.sum(case((Promoter.joined_at >= period.start_utc, 1), else_=0)), 0))
        .where(Promoter.brand_id == brand_id, Promoter.status.in_(JOINED_STATUSES),
               Promoter.joined_at < period.end_utc)).one()
    return {"total": _int(total), "new": _int(new)}


def _sold_products(brand_id: int, period: Period):
    return (select(OrderItem.product_id).join(Order, Order.id == OrderItem.order_id)
            .where(_period_orders(brand_id, period)))


def sell_through(brand_id: int, period: Period) -> dict:
    """动销率: listed = products active at ``to`` plus products sold in the period; sold =
    distinct products in the period's orders."""
    sold_ids = _sold_products(brand_id, period)
    listed = db.session.scalar(select(func.count(Product.id)).where(
        Product.brand_id == brand_id,
        or_(and_(Product.active.is_(True), Product.created_at < period.end_utc), Product.id.in_(sold_ids))))
    sold = db.session.scalar(select(func.count(func.distinct(OrderItem.product_id)))
                             .join(Order, Order.id == OrderItem.order_id).where(_period_orders(brand_id, period)))
    listed, sold = _int(listed), _int(sold)
    return {"listed": listed, "sold": sold, "rate_bp": rate_bp(sold, listed)}


def _survived(brand_id: int, days: int):
    """A promoter (the outer row) sold an order paid within ``days`` days after joining."""
    return exists().where(Order.brand_id == brand_id, Order.promoter_id == Promoter.id,
                          Order.paid_at.is_not(None), Order.paid_at >= Promoter.joined_at,
                          Order.paid_at < _plus_seconds(Promoter.joined_at, literal(days * 86400, Integer)))


def _cohort(brand_id: int, period: Period):
    return and_(Promoter.brand_id == brand_id, Promoter.status.in_(JOINED_STATUSES), _in(Promoter.joined_at, period))


def new_promoter_survival(brand_id: int, period: Period) -> dict:
    """新人存活率: of the promoters who joined in the period, those who sold an order paid
    within 30 days after joining."""
    cohort, survived = db.session.execute(
        select(func.count(Promoter.id),
               func.coalesce(func.sum(case((_survived(brand_id, SURVIVAL_DAYS), 1), else_=0)), 0))
        .where(_cohort(brand_id, period))).one()
    cohort, survived = _int(cohort), _int(survived)
    return {"cohort": cohort, "survived": survived, "rate_bp": rate_bp(survived, cohort)}


def _commission_by_promoter(brand_id: int, period: Period):
    """(promoter_id, commission_fen) of the period's orders, all levels, less reversals, > 0."""
    kept = func.sum(CommissionLine.amount_fen - CommissionLine.reversed_fen)
    return (select(CommissionLine.promoter_id.label("promoter_id"), kept.label("commission_fen"))
            .select_from(Order).join(CommissionLine, CommissionLine.order_id == Order.id)
            .where(_period_orders(brand_id, period))
            .group_by(CommissionLine.promoter_id).having(kept > 0))


def core_cut(brand_id: int, period: Period) -> tuple[int, int | None]:
    """Over ``period``: how many promoters earned more than 0, and the commission of the one at
    the 20% cut (rounded up) — everyone earning at least that is core. (0, None) when nobody earned."""
    earned = _commission_by_promoter(brand_id, period).subquery()
    ranked = _int(db.session.scalar(select(func.count()).select_from(earned)))
    if ranked == 0:
        return 0, None
    keep = math.ceil(ranked * CORE_SHARE[0] / CORE_SHARE[1])
    cut = db.session.scalar(select(earned.c.commission_fen).order_by(earned.c.commission_fen.desc())
                            .limit(1).offset(keep - 1))
    return ranked, _int(cut)


def _sold_in(brand_id: int, period: Period, promoter_id_column):
    return exists().where(_period_orders(brand_id, period), Order.promoter_id == promoter_id_column)


def core_churn(brand_id: int, period: Period) -> dict:
    """骨干流失率: of last period's core (top 20% by commission, rounded up, ties at the cut
    all in), those who sold no order in this period."""
    previous = period.previous()
    _ranked, cut = core_cut(brand_id, previous)
    if cut is None:
        return {"core": 0, "churned": 0, "rate_bp": 0}
    earned = _commission_by_promoter(brand_id, previous).subquery()
    core, churned = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((_sold_in(brand_id, period, earned.c.promoter_id), 0),
                                                          else_=1)), 0))
        .where(earned.c.commission_fen >= cut)).one()
    core, churned = _int(core), _int(churned)
    return {"core": core, "churned": churned, "rate_bp": rate_bp(churned, core)}


def top_promoters(brand_id: int, period: Period, limit: int = TOP) -> list[dict]:
    gmv = func.sum(Order.total_paid_fen)
    count = func.count(Order.id)
    ranked = (select(Order.promoter_id.label("promoter_id"), gmv.label("gmv_fen"), count.label("orders"))
              .where(_period_orders(brand_id, period), Order.promoter_id.is_not(None))
              .group_by(Order.promoter_id).subquery())
    rows = db.session.execute(
        select(Promoter.code, User.name, ranked.c.gmv_fen, ranked.c.orders)
        .join(Promoter, Promoter.id == ranked.c.promoter_id).join(User, User.id == Promoter.user_id)
        .order_by(ranked.c.gmv_fen.desc(), ranked.c.orders.desc(), Promoter.code).limit(limit))
    return [{"code": code, "name": name, "gmv_fen": _int(g), "orders": _int(n)} for code, name, g, n in rows]


def top_products(brand_id: int, period: Period, limit: int = TOP) -> list[dict]:
    ranked = (select(OrderItem.product_id.label("product_id"), func.sum(OrderItem.paid_fen).label("gmv_fen"),
                     func.sum(OrderItem.quantity).label("quantity"))
              .join(Order, Order.id == OrderItem.order_id).where(_period_orders(brand_id, period))
              .group_by(OrderItem.product_id).subquery())
    rows = db.session.execute(
        select(Product.sku, Product.name, ranked.c.gmv_fen, ranked.c.quantity)
        .join(Product, Product.id == ranked.c.product_id)
        .order_by(ranked.c.gmv_fen.desc(), ranked.c.quantity.desc(), Product.sku).limit(limit))
    return [{"sku": sku, "name": name, "gmv_fen": _int(g), "quantity": _int(q)} for sku, name, g, q in rows]


def daily(brand_id: int, period: Period) -> list[dict]:
    """One entry per day of the period (zero days included): gmv_fen and orders, plus
    commission_fen (accrued on that day's orders, less reversals) and new promoters."""
    day = local_day(Order.paid_at, period).label("day")
    by_day: dict[str, dict] = {d.isoformat(): {"date": d.isoformat(), "gmv_fen": 0, "orders": 0, "commission_fen": 0,
                                               "new_promoters": 0, "active": 0}
                               for d in period.dates()}
    for d, gmv, orders, active in db.session.execute(
            select(day, func.sum(Order.total_paid_fen), func.count(Order.id), func.count(func.distinct(Order.promoter_id)))
            .where(_period_orders(brand_id, period)).group_by(day)):
        if d in by_day:
            by_day[d].update(gmv_fen=_int(gmv), orders=_int(orders), active=_int(active))
    for d, kept in db.session.execute(
            select(day, func.sum(CommissionLine.amount_fen - CommissionLine.reversed_fen))
            .select_from(Order).join(CommissionLine, CommissionLine.order_id == Order.id)
            .where(_period_orders(brand_id, period)).group_by(day)):
        if d in by_day:
            by_day[d]["commission_fen"] = _int(kept)
    joined = local_day(Promoter.joined_at, period).label("day")
    for d, count in db.session.execute(
            select(joined, func.count(Promoter.id)).where(_cohort(brand_id, period)).group_by(joined)):
        if d in by_day:
            by_day[d]["new_promoters"] = _int(count)
    return list(by_day.values())


def summary(brand_id: int, period: Period, series: list[dict] | None = None) -> dict:
    """docs/API.md "Dashboard", to the letter."""
    figures = sales(brand_id, period)
    people = promoters(brand_id, period)
    series = daily(brand_id, period) if series is None else series
    return {
        "from": period.start.isoformat(), "to": period.end.isoformat(),
        "gmv_fen": figures["gmv_fen"], "orders": figures["orders"],
        "refunded_fen": figures["refunded_fen"], "net_fen": figures["net_fen"],
        "commission_accrued_fen": commission_accrued(brand_id, period),
        "promoters": {"total": people["total"], "new": people["new"], "active": figures["active"]},
        "sell_through": sell_through(brand_id, period),
        "new_promoter_survival": new_promoter_survival(brand_id, period),
        "core_churn": core_churn(brand_id, period),
        "top_promoters": top_promoters(brand_id, period),
        "top_products": top_products(brand_id, period),
        "series": [{"date": s["date"], "gmv_fen": s["gmv_fen"], "orders": s["orders"]} for s in series],
    }


# ---------------------------------------------------------------- balances (the pages' money cards)

_WALLET = (AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE)


def balances(brand_id: int, period: Period) -> dict:
    """Promoters' frozen and available money at the end of the period (every ledger
    transaction up to then, by business time), and what left through paid withdrawals in it."""
    amount = LedgerEntry.amount_fen
    frozen, available, paid_out = db.session.execute(
        select(
            func.coalesce(func.sum(case((and_(LedgerAccount.kind == AccountKind.PROMOTER_FROZEN,
                                              LedgerTransaction.occurred_at < period.end_utc), amount), else_=0)), 0),
            func.coalesce(func.sum(case((and_(LedgerAccount.kind == AccountKind.PROMOTER_AVAILABLE,
                                              LedgerTransaction.occurred_at < period.end_utc), amount), else_=0)), 0),
            func.coalesce(func.sum(case((and_(LedgerAccount.kind == AccountKind.PAID_OUT,
                                              LedgerTransaction.occurred_at >= period.start_utc), amount),
                                        else_=0)), 0),
        ).select_from(LedgerEntry)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerAccount.brand_id == brand_id, LedgerAccount.kind.in_([*_WALLET, AccountKind.PAID_OUT]),
               LedgerTransaction.occurred_at < period.end_utc)).one()
    return {"frozen_fen": _int(frozen), "available_fen": _int(available), "paid_out_fen": _int(paid_out)}
