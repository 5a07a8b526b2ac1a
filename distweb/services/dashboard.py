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

Figures over orders, commission and the wallet come from the rollups (services/rollups.py):
per-day and per-month sums written with the orders themselves, so a year costs about as much
as a month and neither grows with the number of orders. A period in another time zone than
the brand's (the sums are by the brand's days), or a block inside ``from_source_rows()``,
computes them from the orders, commission lines and ledger instead: the same figures, from
the source rows (tests compare the two).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    case,
    cast,
    event,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from distweb.extensions import db
from distweb.models import (
    Brand,
    CommissionLine,
    DashboardBrandDay,
    DashboardProductDay,
    DashboardPromoterDay,
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
from distweb.models.base import UTCDateTime, json_rows
from distweb.models.ledger import AccountKind
from distweb.models.order import OrderStatus
from distweb.services import rollups
from distweb.services.errors import ServiceError

MAX_DAYS = 366
TOP = 10
TOP_MARGIN = 20  # the top sellers are read with this many more: ties at the last place are nearly always among them
SURVIVAL_DAYS = 30
CORE_SHARE = (1, 5)  # the top 20% by commission: ceil(n × 1/5), ties at the cut all in
JOINED_STATUSES = rollups.JOINED_STATUSES  # active or suspended since: not pending, not rejected


def rate_bp(numerator: int, denominator: int) -> int:
    """numerator × 10000 / denominator rounded half-up, in integers; 0 when the denominator is 0."""
    if denominator <= 0:
        return 0
    quotient, remainder = divmod(numerator * 10000, denominator)
    return quotient + (1 if remainder * 2 >= denominator else 0)


def bp_text(rate: int) -> str:
    """12.34% from 1234 basis points, in integers (the same text in every language)."""
    sign = "-" if rate < 0 else ""
    rate = abs(rate)
    return f"{sign}{rate // 100}.{rate % 100:02d}%"


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
    return _offset_changes(period.tz, period.start_utc, period.end_utc)


@functools.lru_cache(maxsize=256)
def _offset_changes(tz: str, start: datetime, end: datetime) -> tuple[int, list[tuple[datetime, int]]]:
    zone = ZoneInfo(tz)

    def offset(moment: datetime) -> int:
        return int(moment.astimezone(zone).utcoffset().total_seconds())

    first = offset(start)
    changes: list[tuple[datetime, int]] = []
    current, moment = first, start
    step = timedelta(hours=12)  # zones change their offset at most a few times a year
    while moment < end:
        following = min(moment + step, end)
        if offset(following) != current:
            low, high = moment, following  # offset(low) == current, offset(high) differs
            while (high - low) > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            high = high.replace(microsecond=0) + (timedelta(seconds=1) if high.microsecond else timedelta(0))
            if offset(high - timedelta(seconds=1)) != current:
                high -= timedelta(seconds=1)
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


def bucket_case(column, starts: list[datetime], labels: list[str]):
    """The label of the bucket a UTC timestamp ``column`` falls in, buckets starting at the
    instants ``starts`` (ascending; the first bucket also takes anything earlier): a CASE
    nested as a balanced tree, so a row is placed with about log2(buckets) comparisons of the
    column itself (its local day is never computed per row). Exact across offset changes,
    since the instants are each local midnight's, from zoneinfo."""
    return _bucket_case(column, tuple(starts), tuple(labels))


@functools.lru_cache(maxsize=64)
def _bucket_case(column, starts: tuple[datetime, ...], labels: tuple[str, ...]):
    """bucket_case's tree, built once per column and buckets (expressions are immutable)."""
    def node(low: int, high: int):  # buckets low..high-1
        if high - low == 1:
            return literal(labels[low], String)
        middle = (low + high) // 2
        return case((column < literal(starts[middle], UTCDateTime), node(low, middle)), else_=node(middle, high))
    return node(0, len(starts))


def day_buckets(column, period: Period):
    days = period.dates()
    return bucket_case(column, [local_midnight(d, period.tz) for d in days], [d.isoformat() for d in days])


# ---------------------------------------------------------------- rollups or source rows

_FROM_SOURCE = contextvars.ContextVar("distweb_dashboard_from_source", default=False)


@contextlib.contextmanager
def from_source_rows():
    """Inside the block, every figure is computed from the orders, commission lines and
    ledger, not from the rollups (the full recomputation the rollups must always equal)."""
    token = _FROM_SOURCE.set(True)
    try:
        yield
    finally:
        _FROM_SOURCE.reset(token)


def _rolled(brand_id: int, period: Period) -> bool:
    """Whether the rollups answer for ``period``: they are by the brand's own days."""
    if _FROM_SOURCE.get():
        return False
    brand = db.session.get(Brand, brand_id)
    return brand is not None and brand.timezone == period.tz


def _brand_facts(brand_id: int, period: Period, measures: tuple[str, ...], by_day: bool = False):
    return rollups.facts(DashboardBrandDay, brand_id, period.start, period.end, measures, by_day)


def _promoter_facts(brand_id: int, period: Period, measures: tuple[str, ...], by_day: bool = False):
    return rollups.facts(DashboardPromoterDay, brand_id, period.start, period.end, measures, by_day)


def _product_facts(brand_id: int, period: Period, measures: tuple[str, ...]):
    return rollups.facts(DashboardProductDay, brand_id, period.start, period.end, measures)


def _sellers(brand_id: int, period: Period):
    """The promoters who sold one of the period's orders (a SELECT of promoter ids, from the rollups)."""
    facts = _promoter_facts(brand_id, period, ("orders",))
    # Rows without orders (commission alone) are left out before grouping; a seller is one
    # whose rows add up to at least one order (a promoter's rows can be negative: rollups.facts).
    return (select(facts.c.promoter_id).where(facts.c.orders != 0)
            .group_by(facts.c.promoter_id).having(func.sum(facts.c.orders) > 0))


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
    if _rolled(brand_id, period):
        facts = _brand_facts(brand_id, period, ("gmv_fen", "orders", "refunded_fen"))
        gmv, orders, refunded_fen = (_int(v) for v in db.session.execute(
            select(func.sum(facts.c.gmv_fen), func.sum(facts.c.orders), func.sum(facts.c.refunded_fen))).one())
        active = _period_promoters(brand_id, period)["active"]
        return {"gmv_fen": gmv, "orders": orders, "refunded_fen": refunded_fen, "net_fen": gmv - refunded_fen,
                "active": active}
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
    if _rolled(brand_id, period):
        facts = _brand_facts(brand_id, period, ("commission_fen",))
        return _int(db.session.scalar(select(func.sum(facts.c.commission_fen))))
    return _int(db.session.scalar(
        select(func.coalesce(func.sum(CommissionLine.amount_fen - CommissionLine.reversed_fen), 0))
        .select_from(Order).join(CommissionLine, CommissionLine.order_id == Order.id)
        .where(_period_orders(brand_id, period))))


def promoters(brand_id: int, period: Period) -> dict:
    if _rolled(brand_id, period):
        before = rollups.facts(DashboardBrandDay, brand_id, date(1970, 1, 1), period.start - timedelta(days=1),
                               ("joined",))
        during = _brand_facts(brand_id, period, ("joined",))
        earlier, new = (_int(db.session.scalar(select(func.sum(facts.c.joined)))) for facts in (before, during))
        return {"total": earlier + new, "new": new}
    total, new = db.session.execute(
        select(func.count(Promoter.id),
               func.coalesce(func.sum(case((Promoter.joined_at >= period.start_utc, 1), else_=0)), 0))
        .where(Promoter.brand_id == brand_id, Promoter.status.in_(JOINED_STATUSES),
               Promoter.joined_at < period.end_utc)).one()
    return {"total": _int(total), "new": _int(new)}


def _sold_products(brand_id: int, period: Period):
    if _rolled(brand_id, period):
        facts = _product_facts(brand_id, period, ("orders",))
        return select(facts.c.product_id).where(facts.c.orders > 0)
    return (select(OrderItem.product_id).join(Order, Order.id == OrderItem.order_id)
            .where(_period_orders(brand_id, period)))


def sell_through(brand_id: int, period: Period) -> dict:
    """动销率: listed = products active at ``to`` plus products sold in the period; sold =
    distinct products in the period's orders. "Active at ``to``" is a product on sale now that
    was created by the period's end: the catalogue keeps no history of switching products on
    and off, so a past period counts today's switch (a product taken off sale since, and not
    sold in the period, drops out of its listed count)."""
    sold_ids = _sold_products(brand_id, period)
    if _rolled(brand_id, period):
        # One statement: the sold products (from the rollups, once) counted and looked up.
        sold_set = sold_ids.distinct().cte("sold")
        listed, sold = db.session.execute(select(
            select(func.count(Product.id)).where(
                Product.brand_id == brand_id,
                or_(and_(Product.active.is_(True), Product.created_at < period.end_utc),
                    Product.id.in_(select(sold_set.c.product_id)))).scalar_subquery(),
            select(func.count()).select_from(sold_set).scalar_subquery())).one()
        listed, sold = _int(listed), _int(sold)
        return {"listed": listed, "sold": sold, "rate_bp": rate_bp(sold, listed)}
    listed = db.session.scalar(select(func.count(Product.id)).where(
        Product.brand_id == brand_id,
        or_(and_(Product.active.is_(True), Product.created_at < period.end_utc), Product.id.in_(sold_ids))))
    sold = db.session.scalar(select(func.count(func.distinct(OrderItem.product_id)))
                             .join(Order, Order.id == OrderItem.order_id).where(_period_orders(brand_id, period)))
    listed, sold = _int(listed), _int(sold)
    return {"listed": listed, "sold": sold, "rate_bp": rate_bp(sold, listed)}


def _survived(brand_id: int, days: int, rolled: bool = False):
    """A promoter (the outer row) sold an order paid within ``days`` days after joining
    (``rolled``: by its first sale since joining, which the order services keep)."""
    if rolled:
        return and_(Promoter.first_sale_at.is_not(None),  # first: the rest need no date arithmetic
                    Promoter.first_sale_at < _plus_seconds(Promoter.joined_at, literal(days * 86400, Integer)))
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
               func.coalesce(func.sum(case((_survived(brand_id, SURVIVAL_DAYS, _rolled(brand_id, period)), 1),
                                           else_=0)), 0))
        .where(_cohort(brand_id, period))).one()
    cohort, survived = _int(cohort), _int(survived)
    return {"cohort": cohort, "survived": survived, "rate_bp": rate_bp(survived, cohort)}


def _commission_by_promoter(brand_id: int, period: Period):
    """(promoter_id, commission_fen) of the period's orders, all levels, less reversals, > 0."""
    if _rolled(brand_id, period):
        facts = _promoter_facts(brand_id, period, ("commission_fen",))
        kept = cast(func.sum(facts.c.commission_fen), BigInteger)  # bigint: see _sales_by_promoter_select
        return (select(facts.c.promoter_id.label("promoter_id"), kept.label("commission_fen"))
                .group_by(facts.c.promoter_id).having(kept > 0))
    kept = func.sum(CommissionLine.amount_fen - CommissionLine.reversed_fen)
    return (select(CommissionLine.promoter_id.label("promoter_id"), kept.label("commission_fen"))
            .select_from(Order).join(CommissionLine, CommissionLine.order_id == Order.id)
            .where(_period_orders(brand_id, period))
            .group_by(CommissionLine.promoter_id).having(kept > 0))


def _core(brand_id: int, period: Period):
    """(earned, cut): the CTE of last period's earners (promoter_id, commission_fen > 0) and
    a one-row CTE of how many they are (``ranked``) and the commission at the 20% cut
    (``cut``, rounded up: ceil(n × 1/5) in integers), found by the database in one pass."""
    return _cut_of(_commission_by_promoter(brand_id, period).cte("earned"))


def _cut_of(earned, suffix: str = ""):
    """``_core`` over the earners' CTE ``earned`` (promoter_id, commission_fen > 0)."""
    # The earners counted once (a one-row CTE), however many times the count is used below.
    counted = select(func.count().label("n")).select_from(earned).cte(f"counted{suffix}")
    ranked = select(counted.c.n).scalar_subquery()
    share, whole = CORE_SHARE
    # The place of the cut, ceil(n × share / whole) in integers, as the OFFSET of a top-k sort.
    place = (counted.c.n * share + (whole - 1)) // whole
    offset = select(case((place > 0, place - 1), else_=0)).scalar_subquery()
    cut = (select(ranked.label("ranked"), earned.c.commission_fen.label("cut"))
           .order_by(earned.c.commission_fen.desc()).limit(1)
           .offset(offset).cte(f"cut{suffix}"))  # nobody earned: no row
    return earned, cut


def core_cut(brand_id: int, period: Period) -> tuple[int, int | None]:
    """Over ``period``: how many promoters earned more than 0, and the commission of the one at
    the 20% cut (rounded up) — everyone earning at least that is core. (0, None) when nobody earned."""
    _earned, cut = _core(brand_id, period)
    found = db.session.execute(select(cut.c.ranked, cut.c.cut)).first()
    if found is None:
        return 0, None
    return _int(found[0]), _int(found[1])


def _unsold(brand_id: int, period: Period, source, promoter_id_column):
    """(``source`` joined as needed, the condition): rows of ``source`` whose promoter sold no
    order in the period. From the rollups: an anti-join (LEFT JOIN the period's distinct
    sellers, keep the unmatched), which PostgreSQL hashes however many sellers there are (a
    NOT IN over more than work_mem holds is rescanned row by row) and SQLite indexes once.
    From the orders: NOT EXISTS, by ix_orders_promoter_paid."""
    if _rolled(brand_id, period):
        sellers = _sellers(brand_id, period).distinct().subquery("sellers")
        return (source.outerjoin(sellers, sellers.c.promoter_id == promoter_id_column),
                sellers.c.promoter_id.is_(None))
    return source, ~exists().where(_period_orders(brand_id, period), Order.promoter_id == promoter_id_column)


def core_churn(brand_id: int, period: Period) -> dict:
    """骨干流失率: of last period's core (top 20% by commission, rounded up, ties at the cut
    all in), those who sold no order in this period. One statement: last period's earners
    (a CTE the database computes once), their cut, the core's size and how many of the core
    are not among this period's sellers."""
    if _rolled(brand_id, period):
        found = _period_promoters(brand_id, period)
        return {"core": found["core"], "churned": found["churned"], "rate_bp": rate_bp(found["churned"], found["core"])}
    earned, cut = _core(brand_id, period.previous())
    cut_fen = select(cut.c.cut).scalar_subquery()
    core = earned.c.commission_fen >= cut_fen
    unsold_source, unsold = _unsold(brand_id, period, earned, earned.c.promoter_id)
    found = db.session.execute(select(
        cut_fen,
        select(func.count()).select_from(earned).where(core).scalar_subquery(),
        select(func.count()).select_from(unsold_source).where(core, unsold).scalar_subquery())).one()
    if found[0] is None:
        return {"core": 0, "churned": 0, "rate_bp": 0}
    core_count, churned = _int(found[1]), _int(found[2])
    return {"core": core_count, "churned": churned, "rate_bp": rate_bp(churned, core_count)}


def top_promoters(brand_id: int, period: Period, limit: int = TOP) -> list[dict]:
    """The period's best sellers by GMV, then orders, then code. From the rollups: the top
    ``limit`` by GMV and orders, and any more tied with the last of them, are found without
    their codes; only those few are then looked up and put in order."""
    ranked = _sales_by_promoter(brand_id, period)
    if _rolled(brand_id, period):
        margin = limit + TOP_MARGIN  # ties at the last place are nearly always among these
        if limit <= TOP:  # every seller at or above the TOP-th place is there, ties included
            top = _period_promoters(brand_id, period)["top"]
        else:
            top = db.session.execute(select(ranked.c.promoter_id, ranked.c.gmv_fen, ranked.c.orders)
                                     .order_by(ranked.c.gmv_fen.desc(), ranked.c.orders.desc()).limit(margin)).all()
        last = top[limit - 1] if len(top) >= limit else None
        top = [row for row in top if last is None or (row[1], row[2]) >= (last[1], last[2])]
        if limit > TOP and len(top) == margin:  # all the margin ties with the last place: every tie, from the database
            top = list({row[0]: row for row in [*top, *db.session.execute(
                select(ranked.c.promoter_id, ranked.c.gmv_fen, ranked.c.orders)
                .where(ranked.c.gmv_fen == last[1], ranked.c.orders == last[2]))]}.values())
        names = {pid: (code, name) for pid, code, name in db.session.execute(
            select(Promoter.id, Promoter.code, User.name).join(User, User.id == Promoter.user_id)
            .where(Promoter.id.in_([row[0] for row in top])))}
        rows = sorted(((*names[pid], _int(g), _int(n)) for pid, g, n in top), key=lambda r: (-r[2], -r[3], r[0]))
        return [{"code": code, "name": name, "gmv_fen": g, "orders": n} for code, name, g, n in rows[:limit]]
    rows = db.session.execute(
        select(Promoter.code, User.name, ranked.c.gmv_fen, ranked.c.orders)
        .join(Promoter, Promoter.id == ranked.c.promoter_id).join(User, User.id == Promoter.user_id)
        .order_by(ranked.c.gmv_fen.desc(), ranked.c.orders.desc(), Promoter.code).limit(limit))
    return [{"code": code, "name": name, "gmv_fen": _int(g), "orders": _int(n)} for code, name, g, n in rows]


def top_products(brand_id: int, period: Period, limit: int = TOP) -> list[dict]:
    if _rolled(brand_id, period):
        facts = _product_facts(brand_id, period, ("gmv_fen", "quantity"))
        ranked = (select(facts.c.product_id.label("product_id"), func.sum(facts.c.gmv_fen).label("gmv_fen"),
                         func.sum(facts.c.quantity).label("quantity"))
                  .group_by(facts.c.product_id).subquery())
    else:
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
    """One entry per day of the period, zero days included: gmv_fen and orders."""
    day = day_buckets(Order.paid_at, period).label("day")
    by_day = {d.isoformat(): {"date": d.isoformat(), "gmv_fen": 0, "orders": 0} for d in period.dates()}
    if _rolled(brand_id, period):
        for d, gmv, orders in _by_day(brand_id, period, ("gmv_fen", "orders")):
            by_day[d].update(gmv_fen=gmv, orders=orders)
        return list(by_day.values())
    for d, gmv, orders in db.session.execute(
            select(day, func.sum(Order.total_paid_fen), func.count(Order.id))
            .where(_period_orders(brand_id, period)).group_by(day)):
        if d in by_day:
            by_day[d].update(gmv_fen=_int(gmv), orders=_int(orders))
    return list(by_day.values())


def _by_day(brand_id: int, period: Period, measures: tuple[str, ...]) -> list[tuple]:
    """(day, *measures) of each day of the period with something on it, from the rollups."""
    facts = _brand_facts(brand_id, period, measures, by_day=True)
    return [(day, *(_int(v) for v in values)) for day, *values in db.session.execute(
        select(facts.c.day, *[func.sum(facts.c[m]) for m in measures]).group_by(facts.c.day))]


def summary(brand_id: int, period: Period) -> dict:
    """docs/API.md "Dashboard", to the letter."""
    figures = sales(brand_id, period)
    people = promoters(brand_id, period)
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
        "series": daily(brand_id, period),
    }


# ---------------------------------------------------------------- balances (the pages' money cards)

_WALLET = (AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE)


def wallet_totals(brand_id: int) -> dict:
    """Promoters' frozen and available money now: the sum of every entry of those accounts
    (the ledger is the only truth). The one scan of the whole ledger the dashboard makes; a
    page computing two periods' cards passes it to both. From the rollups: the sum of every
    day's movements."""
    if not _FROM_SOURCE.get():
        facts = rollups.facts(DashboardBrandDay, brand_id, date(1970, 1, 1), date(9999, 12, 30),
                              ("frozen_fen", "available_fen"))
        frozen, available = db.session.execute(select(func.sum(facts.c.frozen_fen),
                                                      func.sum(facts.c.available_fen))).one()
        return {"frozen_fen": _int(frozen), "available_fen": _int(available)}
    totals = dict(db.session.execute(
        select(LedgerAccount.kind, func.sum(LedgerEntry.amount_fen))
        .select_from(LedgerAccount).join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.brand_id == brand_id, LedgerAccount.kind.in_(_WALLET))
        .group_by(LedgerAccount.kind)).all())
    return {"frozen_fen": _int(totals.get(AccountKind.PROMOTER_FROZEN)),
            "available_fen": _int(totals.get(AccountKind.PROMOTER_AVAILABLE))}


def balances(brand_id: int, period: Period, totals: dict | None = None) -> dict:
    """Promoters' frozen and available money at the end of the period (every ledger
    transaction up to then, by business time: today's totals less what moved after the
    period, a few rows when it ends recently), and what left through paid withdrawals in it."""
    if _rolled(brand_id, period):
        facts = rollups.facts(DashboardBrandDay, brand_id, date(1970, 1, 1), period.end,
                              ("frozen_fen", "available_fen"))
        frozen, available = (_int(v) for v in db.session.execute(
            select(func.sum(facts.c.frozen_fen), func.sum(facts.c.available_fen))).one())
        return {"frozen_fen": frozen, "available_fen": available, "paid_out_fen": _paid_out(brand_id, period)}
    totals = wallet_totals(brand_id) if totals is None else totals
    amount = LedgerEntry.amount_fen
    after_frozen, after_available = db.session.execute(
        select(func.coalesce(func.sum(case((LedgerAccount.kind == AccountKind.PROMOTER_FROZEN, amount), else_=0)), 0),
               func.coalesce(func.sum(case((LedgerAccount.kind == AccountKind.PROMOTER_AVAILABLE, amount),
                                           else_=0)), 0))
        .select_from(LedgerTransaction)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerTransaction.brand_id == brand_id, LedgerTransaction.occurred_at >= period.end_utc,
               LedgerAccount.kind.in_(_WALLET))).one()
    return {"frozen_fen": totals["frozen_fen"] - _int(after_frozen),
            "available_fen": totals["available_fen"] - _int(after_available),
            "paid_out_fen": _paid_out(brand_id, period)}


def _paid_out(brand_id: int, period: Period) -> int:
    """The withdrawals paid in the period, net of fees (what their ledger step moves to the
    paid-out accounts, at the same paid_at), from the withdrawals' own rows."""
    from distweb.models import Withdrawal
    from distweb.models.payouts import WithdrawalStatus

    return _int(db.session.scalar(
        select(func.coalesce(func.sum(Withdrawal.net_fen), 0))
        .where(Withdrawal.brand_id == brand_id, Withdrawal.status == WithdrawalStatus.PAID,
               _in(Withdrawal.paid_at, period))))


# ---------------------------------------------------------------- the pages: cards and trends


def cards(brand_id: int, period: Period, totals: dict | None = None) -> dict:
    """Every card of the manager's dashboard for one period (the API's figures, with the
    wallet balances beside them). ``totals``: ``wallet_totals`` when the caller has them."""
    figures = sales(brand_id, period)
    people = promoters(brand_id, period)
    return {
        **{key: figures[key] for key in ("gmv_fen", "orders", "refunded_fen", "net_fen")},
        "commission_accrued_fen": commission_accrued(brand_id, period),
        **balances(brand_id, period, totals),
        "promoters": {"total": people["total"], "new": people["new"], "active": figures["active"]},
        "sell_through": sell_through(brand_id, period),
        "new_promoter_survival": new_promoter_survival(brand_id, period),
        "core_churn": core_churn(brand_id, period),
    }


WEEKLY_AFTER_DAYS = 92  # longer periods are charted by week


def _buckets(period: Period) -> list[date]:
    step = 7 if period.days > WEEKLY_AFTER_DAYS else 1
    return [period.start + timedelta(days=i) for i in range(0, period.days, step)]


def trend(brand_id: int, period: Period) -> dict:
    """The charts' data, by day (or by week over 92 days): gmv_fen, orders, commission_fen
    (accrued on the bucket's orders, less reversals), new promoters and active promoters
    (distinct sellers in the bucket). Every bucket is there, empty ones as zeros."""
    starts = _buckets(period)
    unit = "week" if len(starts) > 1 and (starts[1] - starts[0]).days == 7 else "day"
    labels = [s.isoformat() for s in starts]
    instants = [local_midnight(s, period.tz) for s in starts]
    rows = {label: {"start": label, "gmv_fen": 0, "orders": 0, "commission_fen": 0,
                    "new_promoters": 0, "active_promoters": 0} for label in labels}
    if _rolled(brand_id, period):
        _trend_from_rollups(brand_id, period, starts, labels, rows)
    else:
        _trend_from_orders(brand_id, period, instants, labels, rows)
    joined = bucket_case(Promoter.joined_at, instants, labels).label("bucket")
    for key, count in db.session.execute(
            select(joined, func.count(Promoter.id)).where(_cohort(brand_id, period)).group_by(joined)):
        if key in rows:
            rows[key]["new_promoters"] = _int(count)
    return {"unit": unit, "from": period.start.isoformat(), "to": period.end.isoformat(),
            "buckets": list(rows.values())}


def _label_of(day_column, starts: list[date], labels: list[str]):
    """The label of the bucket a 'YYYY-MM-DD' day falls in (a CASE tree, as ``bucket_case``)."""
    def node(low: int, high: int):
        if high - low == 1:
            return literal(labels[low], String)
        middle = (low + high) // 2
        return case((day_column < literal(starts[middle].isoformat(), String), node(low, middle)),
                    else_=node(middle, high))
    return node(0, len(starts))


def _trend_from_rollups(brand_id: int, period: Period, starts: list[date], labels: list[str], rows: dict) -> None:
    label_of = {}
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else period.end + timedelta(days=1)
        for n in range((end - start).days):
            label_of[(start + timedelta(days=n)).isoformat()] = labels[i]
    for day, gmv, count, kept in _by_day(brand_id, period, ("gmv_fen", "orders", "commission_fen")):
        row = rows[label_of[day]]
        row["gmv_fen"] += gmv
        row["orders"] += count
        row["commission_fen"] += kept
    facts = _promoter_facts(brand_id, period, ("orders",), by_day=True)
    bucket = (facts.c.day if len(starts) == period.days else _label_of(facts.c.day, starts, labels)).label("bucket")
    pairs = select(bucket, facts.c.promoter_id).where(facts.c.orders > 0).distinct().subquery("pairs")
    for key, active in db.session.execute(
            select(pairs.c.bucket, func.count()).group_by(pairs.c.bucket)):
        if key in rows:
            rows[key]["active_promoters"] = _int(active)


def _trend_from_orders(brand_id: int, period: Period, instants: list[datetime], labels: list[str],
                       rows: dict) -> None:
    bucket = bucket_case(Order.paid_at, instants, labels).label("bucket")
    for key, gmv, count, active in db.session.execute(
            select(bucket, func.sum(Order.total_paid_fen), func.count(Order.id),
                   func.count(func.distinct(Order.promoter_id)))
            .where(_period_orders(brand_id, period)).group_by(bucket)):
        if key in rows:
            rows[key].update(gmv_fen=_int(gmv), orders=_int(count), active_promoters=_int(active))
    for key, kept in db.session.execute(
            select(bucket, func.sum(CommissionLine.amount_fen - CommissionLine.reversed_fen))
            .select_from(Order).join(CommissionLine, CommissionLine.order_id == Order.id)
            .where(_period_orders(brand_id, period)).group_by(bucket)):
        if key in rows:
            rows[key]["commission_fen"] = _int(kept)


# ---------------------------------------------------------------- the tables behind the cards
#
# Each table is one SELECT of labelled columns, sorted and paged in SQL (``_paged``): the
# sort key comes from the table's own list of columns, never from the request as text.


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    total: int


def _paged(stmt, sortable: tuple[str, ...], sort: str, descending: bool, tiebreak: str,
           limit: int | None, offset: int = 0) -> Page:
    inner = stmt.subquery("t")
    if sort not in sortable:
        sort = sortable[0]
    column = inner.c[sort]
    total = _int(db.session.scalar(select(func.count()).select_from(inner))) if limit is not None else None
    order = [case((column.is_(None), 1), else_=0), column.desc() if descending else column.asc()]
    if tiebreak != sort:
        order.append(inner.c[tiebreak].asc())
    query = select(inner).order_by(*order)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    rows = [dict(row._mapping) for row in db.session.execute(query)]
    for row in rows:
        for key, value in row.items():
            if key.endswith(("_fen", "_count")) or key in INT_COLUMNS:
                row[key] = _int(value)
    return Page(rows, total if total is not None else len(rows))


INT_COLUMNS = {"orders", "quantity", "team_size", "members", "new_members", "active_members", "joined",
               "sold_7", "sold_30", "sold_90", "shares", "clicks", "price_fen"}


def _sales_by_promoter(brand_id: int, period: Period):
    """(promoter_id, gmv_fen, orders) of each seller of the period's orders."""
    return _sales_by_promoter_select(brand_id, period).subquery("sales")


def _sales_by_promoter_select(brand_id: int, period: Period):
    if _rolled(brand_id, period):
        facts = _promoter_facts(brand_id, period, ("gmv_fen", "orders"))
        # Only rows with sales (a row without has no GMV either: only payments add to it):
        # the rows of commission alone (uplines' levels 2 and 3) are never grouped. A seller
        # has at least one order, whatever its GMV (a 0-fen order counts, as from the orders).
        # The sums as bigint, as every later pass compares and sorts them (PostgreSQL's SUM
        # of a bigint is a numeric, slower to compare; the values are the same).
        orders = cast(func.sum(facts.c.orders), BigInteger)
        return (select(facts.c.promoter_id.label("promoter_id"),
                       cast(func.sum(facts.c.gmv_fen), BigInteger).label("gmv_fen"), orders.label("orders"))
                .where(facts.c.orders != 0).group_by(facts.c.promoter_id).having(orders > 0))
    return (select(Order.promoter_id.label("promoter_id"), func.sum(Order.total_paid_fen).label("gmv_fen"),
                   func.count(Order.id).label("orders"))
            .where(_period_orders(brand_id, period), Order.promoter_id.is_not(None))
            .group_by(Order.promoter_id))


_PERIOD_PROMOTERS = "distweb_dashboard_period_promoters"


def _period_promoters(brand_id: int, period: Period) -> dict:
    """From the rollups, everything the dashboard reads per promoter for ``period``: its
    sellers (``active``: how many; ``top``: every seller at or above the TOP-th place by GMV
    then orders, ties at that place included, as (promoter_id, gmv_fen, orders), best first)
    and last period's core (``core``: how many; ``churned``: how many of them are not among
    the sellers). Kept for the rest of the transaction: a page asks for one period's figures
    from several cards (``read_periods`` may have found them already, with others)."""
    memo = db.session.info.setdefault(_PERIOD_PROMOTERS, {})
    key = (brand_id, period)
    if key not in memo:
        _read_period_promoters(brand_id, [period])
    return memo[key]


def read_periods(brand_id: int, *periods: Period) -> None:
    """``_period_promoters`` of several periods found in one statement, kept for the
    transaction. A page shows a period beside the one before it: the earlier period's
    sellers and the later period's core come from the same days, grouped once."""
    memo = db.session.info.setdefault(_PERIOD_PROMOTERS, {})
    wanted = [p for p in dict.fromkeys(periods) if (brand_id, p) not in memo and _rolled(brand_id, p)]
    if wanted:
        _read_period_promoters(brand_id, wanted)


def _read_period_promoters(brand_id: int, periods: list[Period]) -> None:
    """``_period_promoters`` of each of ``periods``, in one statement. Each period needs its
    sellers' sums and the earners of the period before; the promoters' rows of each window of
    days are grouped once (a CTE) and every figure is read from those groups: the sellers
    and the earners each computed once, instead of a pass over the rows per figure."""
    needs: dict[Period, set[str]] = {}
    for p in periods:
        needs.setdefault(p, set()).add("sold")
        needs.setdefault(p.previous(), set()).add("earned")
    sold_of, earned_of = {}, {}
    for k, (window, wanted) in enumerate(needs.items()):
        if wanted == {"sold"}:
            sold_of[window] = _sales_by_promoter_select(brand_id, window).cte(f"sold{k}")
        elif wanted == {"earned"}:
            earned_of[window] = _commission_by_promoter(brand_id, window).cte(f"earned{k}")
        else:  # one grouping for both (every row: a seller's GMV and orders are on rows with orders)
            facts = _promoter_facts(brand_id, window, ("gmv_fen", "orders", "commission_fen"))
            orders = cast(func.sum(facts.c.orders), BigInteger)
            kept = cast(func.sum(facts.c.commission_fen), BigInteger)
            both = (select(facts.c.promoter_id.label("promoter_id"),
                           cast(func.sum(facts.c.gmv_fen), BigInteger).label("gmv_fen"), orders.label("orders"),
                           kept.label("commission_fen"))
                    .group_by(facts.c.promoter_id).having(or_(orders > 0, kept > 0)).cte(f"window{k}"))
            sold_of[window] = (select(both.c.promoter_id, both.c.gmv_fen, both.c.orders)
                               .where(both.c.orders > 0).cte(f"sold{k}"))
            earned_of[window] = (select(both.c.promoter_id, both.c.commission_fen)
                                 .where(both.c.commission_fen > 0).cte(f"earned{k}"))
    parts = []
    for i, p in enumerate(periods):
        sold = sold_of[p]
        earned, cut = _cut_of(earned_of[p.previous()], str(i))
        cut_fen = select(cut.c.cut).scalar_subquery()
        core = earned.c.commission_fen >= cut_fen
        counts = select(
            select(func.count()).select_from(sold).scalar_subquery().label("active"),
            select(func.count()).select_from(earned).where(core).scalar_subquery().label("core"),
            select(func.count()).select_from(earned.outerjoin(sold, sold.c.promoter_id == earned.c.promoter_id))
            .where(core, sold.c.promoter_id.is_(None)).scalar_subquery().label("churned")).subquery(f"counts{i}")
        # The TOP-th seller's GMV and orders (one top-k sort; no row when fewer sold: all are in).
        place = (select(sold.c.gmv_fen.label("gmv_fen"), sold.c.orders.label("orders"))
                 .order_by(sold.c.gmv_fen.desc(), sold.c.orders.desc()).offset(TOP - 1).limit(1).cte(f"place{i}"))
        top = (select(sold.c.promoter_id, sold.c.gmv_fen, sold.c.orders)
               .select_from(sold.outerjoin(place, true()))
               .where(or_(place.c.gmv_fen.is_(None), sold.c.gmv_fen > place.c.gmv_fen,
                          and_(sold.c.gmv_fen == place.c.gmv_fen, sold.c.orders >= place.c.orders)))
               .subquery(f"top{i}"))
        parts.append(select(literal(i, Integer).label("period"), counts.c.active, counts.c.core, counts.c.churned,
                            top.c.promoter_id, top.c.gmv_fen, top.c.orders)
                     .select_from(counts.outerjoin(top, true())))
    rows: dict[int, list] = {}
    for i, *row in db.session.execute(union_all(*parts) if len(parts) > 1 else parts[0]):
        rows.setdefault(i, []).append(row)
    memo = db.session.info.setdefault(_PERIOD_PROMOTERS, {})
    for i, p in enumerate(periods):
        first = rows[i][0]
        memo[(brand_id, p)] = {
            "active": _int(first[0]), "core": _int(first[1]) if first[1] is not None else 0,
            "churned": _int(first[2]),
            "top": sorted(((pid, _int(g), _int(n)) for *_counts, pid, g, n in rows[i] if pid is not None),
                          key=lambda row: (-row[1], -row[2]))}


@event.listens_for(Session, "after_transaction_end")
def _forget_period_promoters(session, transaction) -> None:
    """Figures kept for one transaction only: the next one may see new orders. The settings
    (SET LOCAL) are gone with the transaction, or with a savepoint rolled back after them: they
    are sent again after any transaction or savepoint ends."""
    session.info.pop(_TUNED, None)
    if transaction.parent is None:
        session.info.pop(_PERIOD_PROMOTERS, None)


def _commission_all(brand_id: int, period: Period):
    """(promoter_id, commission_fen) of each promoter keeping commission other than 0 on the
    period's orders (all levels, less reversals): a promoter whose commission was all
    reversed keeps none, from the rollups and from the commission lines alike."""
    if _rolled(brand_id, period):
        facts = _promoter_facts(brand_id, period, ("commission_fen",))
        kept = func.sum(facts.c.commission_fen)
        return (select(facts.c.promoter_id.label("promoter_id"), kept.label("commission_fen"))
                .where(facts.c.commission_fen != 0).group_by(facts.c.promoter_id).having(kept != 0)
                .subquery("earned"))
    kept = func.sum(CommissionLine.amount_fen - CommissionLine.reversed_fen)
    return (select(CommissionLine.promoter_id.label("promoter_id"), kept.label("commission_fen"))
            .select_from(Order).join(CommissionLine, CommissionLine.order_id == Order.id)
            .where(_period_orders(brand_id, period)).group_by(CommissionLine.promoter_id).having(kept != 0)
            .subquery("earned"))


def _downline_links(brand_id: int):
    """(leader, member) for every member up to three levels below a leader."""
    parts = [select(column.label("leader"), Promoter.id.label("member"), Promoter.joined_at.label("joined_at"),
                    Promoter.status.label("status"))
             .where(Promoter.brand_id == brand_id, column.is_not(None))
             for column in (Promoter.upline_id, Promoter.upline2_id, Promoter.upline3_id)]
    return union_all(*parts).subquery("links")


PROMOTER_SORTS = ("gmv_fen", "orders", "commission_fen", "team_size", "code", "name")


def promoter_ranking(brand_id: int, period: Period, sort: str = "gmv_fen", descending: bool = True,
                     limit: int | None = 50, offset: int = 0) -> Page:
    """推客排行榜: every promoter who sold one of the period's orders (a 0-fen one, or one
    refunded or cancelled since, too: it is in the period's orders and GMV) or keeps
    commission other than 0 on them: its GMV and orders (as seller), its commission (all
    levels, less reversals) and team size (members up to three levels down who had joined
    by the period's end). An upline whose commission was all reversed, with no sale of its
    own, earned nothing in the period and is not listed."""
    sold = _sales_by_promoter(brand_id, period)
    earned = _commission_all(brand_id, period)
    links = _downline_links(brand_id)
    teams = (select(links.c.leader, func.count().label("team_size"))
             .where(links.c.status.in_(JOINED_STATUSES), links.c.joined_at < period.end_utc)
             .group_by(links.c.leader).subquery("teams"))
    stmt = (select(Promoter.id.label("promoter_id"), Promoter.code.label("code"), User.name.label("name"),
                   Promoter.rank.label("rank"),
                   func.coalesce(sold.c.gmv_fen, 0).label("gmv_fen"), func.coalesce(sold.c.orders, 0).label("orders"),
                   func.coalesce(earned.c.commission_fen, 0).label("commission_fen"),
                   func.coalesce(teams.c.team_size, 0).label("team_size"))
            .select_from(Promoter).join(User, User.id == Promoter.user_id)
            .outerjoin(sold, sold.c.promoter_id == Promoter.id)
            .outerjoin(earned, earned.c.promoter_id == Promoter.id)
            .outerjoin(teams, teams.c.leader == Promoter.id)
            .where(Promoter.brand_id == brand_id, or_(sold.c.promoter_id.is_not(None), earned.c.promoter_id.is_not(None))))
    return _paged(stmt, PROMOTER_SORTS, sort, descending, "code", limit, offset)


PRODUCT_SORTS = ("gmv_fen", "quantity", "orders", "sku", "name")


def product_ranking(brand_id: int, period: Period, sort: str = "gmv_fen", descending: bool = True,
                    limit: int | None = 50, offset: int = 0) -> Page:
    """The products in the period's orders: what their lines paid, their quantity and the
    orders they were in (from the product rollups: one row per product and day or month)."""
    if _rolled(brand_id, period):
        facts = _product_facts(brand_id, period, ("gmv_fen", "quantity", "orders"))
        orders = func.sum(facts.c.orders)
        sold = (select(facts.c.product_id.label("product_id"), func.sum(facts.c.gmv_fen).label("gmv_fen"),
                       func.sum(facts.c.quantity).label("quantity"), orders.label("orders"))
                .group_by(facts.c.product_id).having(orders > 0).subquery("sold"))
        stmt = (select(Product.sku.label("sku"), Product.name.label("name"), sold.c.gmv_fen.label("gmv_fen"),
                       sold.c.quantity.label("quantity"), sold.c.orders.label("orders"))
                .select_from(sold).join(Product, Product.id == sold.c.product_id))
        return _paged(stmt, PRODUCT_SORTS, sort, descending, "sku", limit, offset)
    stmt = (select(Product.sku.label("sku"), Product.name.label("name"),
                   func.sum(OrderItem.paid_fen).label("gmv_fen"), func.sum(OrderItem.quantity).label("quantity"),
                   func.count(func.distinct(OrderItem.order_id)).label("orders"))
            .select_from(OrderItem).join(Order, Order.id == OrderItem.order_id)
            .join(Product, Product.id == OrderItem.product_id)
            .where(_period_orders(brand_id, period)).group_by(Product.id, Product.sku, Product.name))
    return _paged(stmt, PRODUCT_SORTS, sort, descending, "sku", limit, offset)


UNSOLD_SORTS = ("sku", "name", "price_fen", "last_sold_at")


def unsold_products(brand_id: int, period: Period, sort: str = "sku", descending: bool = False,
                    limit: int | None = 50, offset: int = 0) -> Page:
    """The other side of 动销率: products on sale at the period's end with no order in it, with
    their last sale before (None: never sold)."""
    last_sale = (select(func.max(Order.paid_at)).select_from(OrderItem).join(Order, Order.id == OrderItem.order_id)
                 .where(OrderItem.product_id == Product.id, Order.brand_id == brand_id, Order.paid_at.is_not(None),
                        Order.paid_at < period.end_utc)
                 .correlate(Product).scalar_subquery())
    stmt = (select(Product.sku.label("sku"), Product.name.label("name"), Product.price_fen.label("price_fen"),
                   last_sale.label("last_sold_at"))
            .where(Product.brand_id == brand_id, Product.active.is_(True), Product.created_at < period.end_utc,
                   Product.id.not_in(_sold_products(brand_id, period))))
    page = _paged(stmt, UNSOLD_SORTS, sort, descending, "sku", limit, offset)
    for row in page.rows:
        row["last_sold_at"] = _as_utc(row["last_sold_at"])
    return page


def _as_utc(value):
    """A timestamp read through a derived table (no column type to restore it): aware, UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


TEAM_SORTS = ("gmv_fen", "members", "new_members", "active_members", "active_bp", "code", "name")


def team_performance(brand_id: int, period: Period, rank: str = "partner", sort: str = "gmv_fen",
                     descending: bool = True, limit: int | None = 50, offset: int = 0) -> Page:
    """Team performance by partner (or mentor): each leader's team (members up to three levels
    down, joined by the period's end): its GMV in the period (orders its members sold), its new
    members, its active members (sellers in the period) and their share of the team."""
    links = _downline_links(brand_id)
    sold = _sales_by_promoter(brand_id, period)
    members = func.count(links.c.member)
    active = func.count(sold.c.promoter_id)
    team = (select(links.c.leader.label("leader"), members.label("members"),
                   func.sum(case((links.c.joined_at >= period.start_utc, 1), else_=0)).label("new_members"),
                   active.label("active_members"),
                   func.coalesce(func.sum(sold.c.gmv_fen), 0).label("gmv_fen"))
            .select_from(links).outerjoin(sold, sold.c.promoter_id == links.c.member)
            .where(links.c.status.in_(JOINED_STATUSES), links.c.joined_at < period.end_utc)
            .group_by(links.c.leader).subquery("team"))
    # active share in basis points, half-up, in integers: (2 × active × 10000 + members) / (2 × members)
    active_bp = case((team.c.members > 0,
                      (team.c.active_members * 20000 + team.c.members) / (team.c.members * 2)), else_=0)
    stmt = (select(Promoter.code.label("code"), User.name.label("name"),
                   func.coalesce(team.c.members, 0).label("members"),
                   func.coalesce(team.c.new_members, 0).label("new_members"),
                   func.coalesce(team.c.active_members, 0).label("active_members"),
                   func.coalesce(active_bp, 0).label("active_bp"),
                   func.coalesce(team.c.gmv_fen, 0).label("gmv_fen"))
            .select_from(Promoter).join(User, User.id == Promoter.user_id)
            .outerjoin(team, team.c.leader == Promoter.id)
            .where(Promoter.brand_id == brand_id, Promoter.rank == rank, Promoter.status.in_(JOINED_STATUSES)))
    page = _paged(stmt, TEAM_SORTS, sort, descending, "code", limit, offset)
    for row in page.rows:
        row["active_bp"] = rate_bp(row["active_members"], row["members"])  # the same figure, from Python's side
    return page


COHORT_SORTS = ("month", "joined", "sold_7", "sold_30", "sold_90")


def cohorts(brand_id: int, period: Period, sort: str = "month", descending: bool = False,
            limit: int | None = 50, offset: int = 0) -> Page:
    """新人存活率 by month joined (brand time): of the promoters who joined in the period, how
    many sold an order paid within 7, 30 and 90 days after joining."""
    month = func.substr(local_day(Promoter.joined_at, period), 1, 7)
    stmt = (select(month.label("month"), func.count(Promoter.id).label("joined"),
                   *[func.sum(case((_survived(brand_id, days, _rolled(brand_id, period)), 1), else_=0))
                     .label(f"sold_{days}")
                     for days in (7, 30, 90)])
            .where(_cohort(brand_id, period)).group_by(month))
    page = _paged(stmt, COHORT_SORTS, sort, descending, "month", limit, offset)
    for row in page.rows:
        for days in (7, 30, 90):
            row[f"sold_{days}_bp"] = rate_bp(row[f"sold_{days}"], row["joined"])
    return page


CHURN_SORTS = ("commission_fen", "code", "name", "last_sold_at")


def churned_core(brand_id: int, period: Period, sort: str = "commission_fen", descending: bool = True,
                 limit: int | None = 50, offset: int = 0) -> Page:
    """Last period's core members (see core_churn) who sold nothing in this period: their
    commission last period and their last sale."""
    previous = period.previous()
    rolled = _rolled(brand_id, period)
    if rolled:
        # The churned few first (last period's earners and this period's sellers: one pass
        # each, in one statement), then only they are looked up, counted, sorted and paged.
        earned, cut = _core(brand_id, previous)
        unsold_source, unsold = _unsold(brand_id, period, earned, earned.c.promoter_id)
        found = db.session.execute(select(earned.c.promoter_id, earned.c.commission_fen).select_from(unsold_source)
                                   .where(earned.c.commission_fen >= select(cut.c.cut).scalar_subquery(),
                                          unsold)).all()
        if not found:
            return Page([], 0)
        earned = (json_rows("churned", [("promoter_id", Integer()), ("commission_fen", BigInteger())])
                  .subquery("earned"))
        unsold_source, in_core = earned, true()
    else:
        _ranked, cut = core_cut(brand_id, previous)
        if cut is None:
            return Page([], 0)
        earned = _commission_by_promoter(brand_id, previous).subquery("earned")
        unsold_source, unsold = _unsold(brand_id, period, earned, earned.c.promoter_id)
        in_core = and_(earned.c.commission_fen >= cut, unsold)
    last_sale = (select(func.max(Order.paid_at)).where(Order.brand_id == brand_id, Order.promoter_id == Promoter.id,
                                                       Order.paid_at.is_not(None), Order.paid_at < period.end_utc)
                 .correlate(Promoter).scalar_subquery())
    stmt = (select(Promoter.code.label("code"), User.name.label("name"), earned.c.commission_fen.label("commission_fen"),
                   last_sale.label("last_sold_at"))
            .select_from(unsold_source).join(Promoter, Promoter.id == earned.c.promoter_id)
            .join(User, User.id == Promoter.user_id)
            .where(in_core))
    if rolled:
        stmt = stmt.params(churned=json.dumps([{"promoter_id": pid, "commission_fen": _int(kept)}
                                               for pid, kept in found]))
    page = _paged(stmt, CHURN_SORTS, sort, descending, "code", limit, offset)
    for row in page.rows:
        row["last_sold_at"] = _as_utc(row["last_sold_at"])
    return page


MATERIAL_SORTS = ("sales_fen", "orders", "clicks", "shares", "title")


def materials_funnel(brand_id: int, period: Period, sort: str = "sales_fen", descending: bool = True,
                     limit: int | None = 50, offset: int = 0) -> Page:
    """Shares → clicks → orders → sales per material in the period: share taps, tracked-link
    clicks, and the orders bought through its link paid in the period (cancelled ones left
    out) with what buyers kept paid on them (refunds deducted), as the material pages count."""
    from distweb.models import Click, Material, MaterialEvent, MaterialOrder
    from distweb.models.materials import MaterialEventKind

    shares = (select(MaterialEvent.material_id.label("material_id"), func.count().label("n"))
              .where(MaterialEvent.brand_id == brand_id, MaterialEvent.kind == MaterialEventKind.SHARE,
                     _in(MaterialEvent.created_at, period))
              .group_by(MaterialEvent.material_id).subquery("shares"))
    clicks = (select(Click.material_id.label("material_id"), func.count().label("n"))
              .where(Click.brand_id == brand_id, Click.material_id.is_not(None), _in(Click.created_at, period))
              .group_by(Click.material_id).subquery("clicks"))
    bought = (select(MaterialOrder.material_id.label("material_id"), func.count().label("n"),
                     func.sum(Order.total_paid_fen - Order.refunded_fen).label("fen"))
              .join(Order, Order.id == MaterialOrder.order_id)
              .where(_period_orders(brand_id, period), Order.status != OrderStatus.CANCELLED)
              .group_by(MaterialOrder.material_id).subquery("bought"))
    stmt = (select(Material.id.label("material_id"), Material.title.label("title"),
                   func.coalesce(shares.c.n, 0).label("shares"), func.coalesce(clicks.c.n, 0).label("clicks"),
                   func.coalesce(bought.c.n, 0).label("orders"), func.coalesce(bought.c.fen, 0).label("sales_fen"))
            .select_from(Material)
            .outerjoin(shares, shares.c.material_id == Material.id)
            .outerjoin(clicks, clicks.c.material_id == Material.id)
            .outerjoin(bought, bought.c.material_id == Material.id)
            .where(Material.brand_id == brand_id,
                   or_(Material.deleted_at.is_(None), shares.c.n.is_not(None), clicks.c.n.is_not(None),
                       bought.c.n.is_not(None))))
    return _paged(stmt, MATERIAL_SORTS, sort, descending, "material_id", limit, offset)


# ---------------------------------------------------------------- per promoter (lists, a promoter's page)


def promoter_figures(brand_id: int, promoter_ids: list[int], month: Period) -> dict[int, dict]:
    """For each promoter: its sales as seller this month and in all (paid orders, cancelled
    ones included, as the dashboard counts), the commission it keeps (all levels, less
    reversals) and its wallet: frozen, available, pending withdrawal, withdrawn. Three
    grouped statements for a whole page of promoters."""
    ids = [int(i) for i in promoter_ids]
    figures = {i: {"month_gmv_fen": 0, "month_orders": 0, "gmv_fen": 0, "orders": 0, "commission_fen": 0,
                   "frozen_fen": 0, "available_fen": 0, "pending_withdrawal_fen": 0, "withdrawn_fen": 0}
               for i in ids}
    if not ids:
        return figures
    in_month = and_(Order.paid_at >= month.start_utc, Order.paid_at < month.end_utc)
    for pid, month_gmv, month_orders, gmv, orders in db.session.execute(
            select(Order.promoter_id,
                   func.sum(case((in_month, Order.total_paid_fen), else_=0)), func.sum(case((in_month, 1), else_=0)),
                   func.sum(Order.total_paid_fen), func.count(Order.id))
            .where(Order.brand_id == brand_id, Order.promoter_id.in_(ids), Order.paid_at.is_not(None))
            .group_by(Order.promoter_id)):
        figures[pid].update(month_gmv_fen=_int(month_gmv), month_orders=_int(month_orders), gmv_fen=_int(gmv),
                            orders=_int(orders))
    for pid, kept in db.session.execute(
            select(CommissionLine.promoter_id, func.sum(CommissionLine.amount_fen - CommissionLine.reversed_fen))
            .where(CommissionLine.brand_id == brand_id, CommissionLine.promoter_id.in_(ids))
            .group_by(CommissionLine.promoter_id)):
        figures[pid]["commission_fen"] = _int(kept)
    names = {AccountKind.PROMOTER_FROZEN: "frozen_fen", AccountKind.PROMOTER_AVAILABLE: "available_fen",
             AccountKind.PROMOTER_PENDING_WITHDRAWAL: "pending_withdrawal_fen", AccountKind.PAID_OUT: "withdrawn_fen"}
    for owner, kind, total in db.session.execute(
            select(LedgerAccount.owner_id, LedgerAccount.kind, func.sum(LedgerEntry.amount_fen))
            .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
            .where(LedgerAccount.brand_id == brand_id, LedgerAccount.owner_id.in_(ids),
                   LedgerAccount.kind.in_(list(names)))
            .group_by(LedgerAccount.owner_id, LedgerAccount.kind)):
        figures[owner][names[AccountKind(kind)]] = _int(total)
    return figures


def this_month(tz: str, now: datetime | None = None) -> Period:
    today = local_today(tz, now)
    return Period(today.replace(day=1), today, tz)


def last_month(tz: str, now: datetime | None = None) -> Period:
    first = local_today(tz, now).replace(day=1)
    end = first - timedelta(days=1)
    return Period(end.replace(day=1), end, tz)


def team_summary(brand_id: int, leader_id: int, period: Period, top: int = 5) -> dict:
    """A mentor's or partner's team (members up to three levels down) over a period: members
    who had joined by its end, new members, active members (sellers of the period's orders)
    and their share, the team's GMV and orders, and its top members by GMV."""
    member_of = or_(Promoter.upline_id == leader_id, Promoter.upline2_id == leader_id,
                    Promoter.upline3_id == leader_id)
    members, new = db.session.execute(
        select(func.count(Promoter.id), func.coalesce(func.sum(case((Promoter.joined_at >= period.start_utc, 1),
                                                                    else_=0)), 0))
        .where(Promoter.brand_id == brand_id, member_of, Promoter.status.in_(JOINED_STATUSES),
               Promoter.joined_at < period.end_utc)).one()
    per_member = (select(Order.promoter_id.label("promoter_id"), func.sum(Order.total_paid_fen).label("gmv_fen"),
                         func.count(Order.id).label("orders"))
                  .join(Promoter, Promoter.id == Order.promoter_id)
                  .where(_period_orders(brand_id, period), member_of)
                  .group_by(Order.promoter_id).subquery("per_member"))
    active, gmv, orders = db.session.execute(
        select(func.count(), func.coalesce(func.sum(per_member.c.gmv_fen), 0),
               func.coalesce(func.sum(per_member.c.orders), 0)).select_from(per_member)).one()
    leaders = db.session.execute(
        select(Promoter.code, User.name, per_member.c.gmv_fen, per_member.c.orders)
        .select_from(per_member).join(Promoter, Promoter.id == per_member.c.promoter_id)
        .join(User, User.id == Promoter.user_id)
        .order_by(per_member.c.gmv_fen.desc(), per_member.c.orders.desc(), Promoter.code).limit(top))
    members, active = _int(members), _int(active)
    return {"members": members, "new": _int(new), "active": active, "active_bp": rate_bp(active, members),
            "gmv_fen": _int(gmv), "orders": _int(orders),
            "top": [{"code": c, "name": n, "gmv_fen": _int(g), "orders": _int(o)} for c, n, g, o in leaders]}


# ---------------------------------------------------------------- PostgreSQL's JIT


def _without_jit(function):
    """Run ``function`` with PostgreSQL's JIT compilation and parallel workers off, and room
    to group every promoter in memory, for the rest of the transaction. The dashboard's
    aggregates over a year pass jit_above_cost, and compiling them costs more than they take
    to run (every time: nothing is cached across statements). Parallel plans of its
    aggregates over the rollups (whose group counts the planner cannot estimate through their
    UNION ALL) sort and merge per worker, slower on a small machine than one process, and a
    web request should not take every core. The per-promoter sums of a period (one row per
    promoter, each with a few running sums) outgrow the default work_mem and would spill to
    disk in batches. SET LOCAL ends with the transaction, so it is sent once per transaction
    (``_TUNED``, forgotten with it); SQLite has none of these."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if not db.session.info.get(_TUNED) and db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(text("SET LOCAL jit = off"))
            db.session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            db.session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
            db.session.info[_TUNED] = True
        return function(*args, **kwargs)

    return wrapper


_TUNED = "distweb_dashboard_tuned"
WORK_MEM = "32MB"


for _name in ("sales", "commission_accrued", "promoters", "sell_through", "new_promoter_survival", "core_cut",
              "core_churn", "top_promoters", "top_products", "daily", "summary", "wallet_totals", "balances",
              "cards", "trend", "promoter_ranking", "product_ranking", "unsold_products", "team_performance",
              "cohorts", "churned_core", "materials_funnel", "promoter_figures", "team_summary", "read_periods"):
    globals()[_name] = _without_jit(globals()[_name])
del _name
