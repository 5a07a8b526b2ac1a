"""The dashboard's rollups: per-day and per-month sums of what it shows, kept current by the
transactions that change them (models/dashboard.py describes the tables).

Writing. The services that pay an order (``order_paid``), cancel a paid one
(``order_cancelled``), refund (``order_refunded``), accrue or reverse commission
(``commission``) and post to the ledger (``ledger_moved``) call these inside their own
transaction. Each call adds to a per-transaction buffer keyed by (brand, day, promoter,
product); just before commit the buffer is written as insert-only ``dashboard_deltas`` rows
(one INSERT for the whole transaction). No existing row is updated, so two concurrent orders
never wait on each other here, whatever they sell; a rolled-back transaction writes nothing.

Folding. ``fold()`` moves deltas into the sums (``dashboard_*_days``: span 'd' per brand
day, span 'm' per brand month): it deletes a batch of deltas and adds them to the sums in one
transaction (``DELETE … RETURNING`` claims each delta once, so two folders never count one
twice; it is safe to run any number of times, at once or again). Every worker folds every few
seconds while idle (worker/main.py ``sweep_jobs``); ``distweb dashboard fold`` does it by
hand. Readers add the deltas not folded yet to the sums (``facts``), so a paid order, a refund
or a commission change shows on the dashboard as soon as it commits, folded or not.

Running totals. The fold also keeps each promoter's running totals at every month's end
(``dashboard_promoter_totals``): a change in month M adds to the promoter's rows from M to
the brand's latest month, and a month past the latest first gets a copy of the latest
snapshot, so every promoter with a figure has a row at each month since its first. A
period's whole months are then the difference of two snapshots (``facts``): two rows per
promoter, where the month sums need one per promoter and month. Folders write a brand's
totals one at a time (they hold the brand's row, which orders never wait for).

Rebuilding. ``rebuild(brand_id)`` recomputes a brand's sums from its orders, refunds,
commission lines and ledger (set-based statements; the backfill of migration 0017 and
``distweb dashboard rebuild-rollups``). On PostgreSQL it locks the delta table against
writers while it runs, so an order committing meanwhile is counted exactly once.

Days are the brand's calendar days in its time zone: an order on the day of its ``paid_at``
(its commission too, reversals included, whenever they happen), a refund or cancellation on
its own day, a ledger movement on the day of its business time (``occurred_at``).
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    bindparam,
    case,
    delete,
    event,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import update as sa_update
from sqlalchemy.orm import Session

from distweb.extensions import db
from distweb.models import (
    Brand,
    CommissionLine,
    DashboardBrandDay,
    DashboardDelta,
    DashboardProductDay,
    DashboardPromoterDay,
    DashboardPromoterTotal,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Order,
    OrderItem,
    Promoter,
    Refund,
)
from distweb.models.base import dialect_insert, json_rows
from distweb.models.ledger import AccountKind
from distweb.models.network import PromoterStatus
from distweb.models.order import OrderStatus

DAY, MONTH = "d", "m"
MEASURES = ("gmv_fen", "orders", "quantity", "refunded_fen", "commission_fen", "frozen_fen", "available_fen", "joined")
BRAND_MEASURES = ("gmv_fen", "orders", "refunded_fen", "commission_fen", "frozen_fen", "available_fen", "joined")
# Promoters who have joined: approved (active) or suspended since; a pending application or a
# rejected one has not joined the network.
JOINED_STATUSES = (PromoterStatus.ACTIVE, PromoterStatus.SUSPENDED)
PROMOTER_MEASURES = ("gmv_fen", "orders", "commission_fen")
PRODUCT_MEASURES = ("gmv_fen", "quantity", "orders")
FOLD_BATCH = 20_000


# ---------------------------------------------------------------- writing (in the caller's transaction)

_PENDING = "distweb_dashboard_deltas"
_ZONES = "distweb_dashboard_zones"


def zone_of(brand_id: int) -> str:
    """The brand's time zone, read once per transaction: the session holds its rows only
    weakly, so a Brand nobody keeps would be loaded again for every delta."""
    zones = db.session.info.setdefault(_ZONES, {})
    if brand_id not in zones:
        zones[brand_id] = db.session.scalar(select(Brand.timezone).where(Brand.id == brand_id))
    return zones[brand_id]


def day_of(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).date().isoformat()


def _add(brand_id: int, moment: datetime | None, promoter_id: int | None, product_id: int | None,
         **measures: int) -> None:
    if moment is None or not any(measures.values()):
        return
    key = (brand_id, day_of(moment, zone_of(brand_id)), promoter_id, product_id)
    row = db.session.info.setdefault(_PENDING, {}).setdefault(key, dict.fromkeys(MEASURES, 0))
    for name, value in measures.items():
        row[name] += int(value)


def order_paid(order: Order) -> None:
    """A paid order (paid as placed or later): its GMV on its payment's day, for the brand,
    its seller and each product it holds (quantity, and the order once per product)."""
    if order.paid_at is None:
        return
    _add(order.brand_id, order.paid_at, order.promoter_id, None, gmv_fen=order.total_paid_fen, orders=1)
    by_product: dict[int, list[int]] = {}
    for item in order.items:
        paid_quantity = by_product.setdefault(item.product_id, [0, 0])
        paid_quantity[0] += item.paid_fen
        paid_quantity[1] += item.quantity
    for product_id, (paid, quantity) in by_product.items():
        _add(order.brand_id, order.paid_at, None, product_id, gmv_fen=paid, quantity=quantity, orders=1)


    if order.promoter_id is not None:
        # The seller's first sale since it joined (新人存活率), if this is it: a row is only
        # written (and locked) when this payment is earlier than any it had.
        db.session.connection().execute(_FIRST_SALE, {"promoter_id": order.promoter_id, "paid_at": order.paid_at})


_FIRST_SALE = (sa_update(Promoter.__table__)
               .where(Promoter.__table__.c.id == bindparam("promoter_id"),
                      Promoter.__table__.c.joined_at <= bindparam("paid_at"),
                      or_(Promoter.__table__.c.first_sale_at.is_(None),
                          Promoter.__table__.c.first_sale_at > bindparam("paid_at")))
               .values(first_sale_at=bindparam("paid_at")))


def order_cancelled(order: Order) -> None:
    """A paid order cancelled: what it still kept is given back on the cancellation's day."""
    if order.paid_at is None:
        return
    _add(order.brand_id, order.cancelled_at, None, None, refunded_fen=order.total_paid_fen - order.refunded_fen)


def order_refunded(order: Order, refund: Refund) -> None:
    _add(order.brand_id, refund.created_at, None, None, refunded_fen=refund.amount_fen)


def commission(order: Order, promoter_id: int, amount_fen: int) -> None:
    """Commission accrued (positive) or reversed (negative) on ``order``: counted on the
    order's payment day, for the brand and the promoter earning it."""
    _add(order.brand_id, order.paid_at, promoter_id, None, commission_fen=amount_fen)


def ledger_moved(brand_id: int, occurred_at: datetime, frozen_fen: int, available_fen: int) -> None:
    """Promoters' frozen and available money changed by a ledger transaction (its business time)."""
    _add(brand_id, occurred_at, None, None, frozen_fen=frozen_fen, available_fen=available_fen)


_DELTA_COLUMNS = [("brand_id", Integer()), ("day", String()), ("promoter_id", Integer()), ("product_id", Integer()),
                  *[(name, BigInteger()) for name in MEASURES]]


@functools.cache
def _insert_deltas():
    """The buffered deltas from the JSON document ``deltas``: one INSERT … SELECT per
    transaction (built once, on first use: it depends on the database the app runs on)."""
    rows = json_rows("deltas", _DELTA_COLUMNS).subquery("delta")
    return insert(DashboardDelta.__table__).from_select([name for name, _type in _DELTA_COLUMNS], select(*rows.c))


@event.listens_for(Session, "before_commit")
def _write_deltas(session) -> None:
    pending = session.info.pop(_PENDING, None)
    session.info.pop(_ZONES, None)
    if not pending:
        return
    rows = [{"brand_id": brand_id, "day": day, "promoter_id": promoter_id, "product_id": product_id, **measures}
            for (brand_id, day, promoter_id, product_id), measures in pending.items()
            if any(measures.values())]
    if rows:
        session.connection().execute(_insert_deltas(), {"deltas": json.dumps(rows)})


def _joined(brand_id, status, joined_at) -> tuple | None:
    if brand_id is None or joined_at is None or status not in JOINED_STATUSES:
        return None
    return brand_id, joined_at


def _old_value(state, obj, name: str):
    """An attribute's value before this flush (its current one when unchanged)."""
    history = state.attrs[name].history
    return history.deleted[0] if history.deleted else getattr(obj, name)


@event.listens_for(Session, "before_flush")
def _watch_promoters(session, flush_context, instances) -> None:
    """Promoters joining, leaving the joined statuses (rejected) or coming back, through the
    ORM (every service writes them so): +1 or −1 on the day they joined."""
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, Promoter):
            continue
        state = sa_inspect(obj)
        now = None if obj in session.deleted else _joined(obj.brand_id, obj.status, obj.joined_at)
        if obj in session.new:
            before = None
        else:
            before = _joined(*(_old_value(state, obj, name) for name in ("brand_id", "status", "joined_at")))
        if before == now:
            continue
        for found, sign in ((before, -1), (now, 1)):
            if found is not None:
                _add(found[0], found[1], None, None, joined=sign)


@event.listens_for(Session, "after_transaction_end")
def _forget_deltas(session, transaction) -> None:
    """A rolled-back transaction's changes are gone: so are their deltas."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_ZONES, None)
        session.info.pop(_ESTIMATES, None)


# ---------------------------------------------------------------- folding


def _grain_of(promoter_id, product_id) -> list[tuple]:
    """The sums one delta adds to: (model, key, measures)."""
    if product_id is not None:
        return [(DashboardProductDay, ("product_id", product_id), PRODUCT_MEASURES)]
    grains = [(DashboardBrandDay, None, BRAND_MEASURES)]
    if promoter_id is not None:
        grains.append((DashboardPromoterDay, ("promoter_id", promoter_id), PROMOTER_MEASURES))
    return grains


def fold(limit: int = FOLD_BATCH) -> int:
    """Move up to ``limit`` deltas (oldest first) into the day and month sums, in one
    transaction. Returns how many were folded (0: nothing waited)."""
    from distweb.services.tx import transaction

    with transaction():
        claimed = select(DashboardDelta.id).order_by(DashboardDelta.id).limit(limit).scalar_subquery()
        t = DashboardDelta
        rows = db.session.execute(
            delete(t).where(t.id.in_(claimed))
            .returning(t.brand_id, t.day, t.promoter_id, t.product_id, *[getattr(t, m) for m in MEASURES])
            .execution_options(synchronize_session=False)).all()
        if not rows:
            return 0
        _lock_brands({row[0] for row in rows})
        sums: dict[type, dict[tuple, dict[str, int]]] = defaultdict(dict)
        for brand_id, day, promoter_id, product_id, *values in rows:
            measures = dict(zip(MEASURES, values, strict=True))
            for model, key, names in _grain_of(promoter_id, product_id):
                for span, label in ((DAY, day), (MONTH, day[:7])):
                    full = (brand_id, span, label) + ((key[1],) if key else ())
                    target = sums[model].setdefault(full, dict.fromkeys(names, 0))
                    for name in names:
                        target[name] += int(measures[name] or 0)
        for model, by_key in sums.items():
            _upsert(model, by_key)
        months = {key: measures for key, measures in sums.get(DashboardPromoterDay, {}).items() if key[1] == MONTH}
        if months:
            _fold_totals(months)
    return len(rows)


def _lock_brands(brand_ids) -> None:
    """Hold the brands' rows (FOR NO KEY UPDATE, in id order) until this transaction ends:
    one folder or rebuild at a time writes a brand's running totals, so a month's snapshot is
    never copied while another folder adds to the month it copies. Orders only take the
    weaker KEY SHARE lock (their foreign keys), which this does not block; SQLite has one
    writer at a time anyway."""
    db.session.execute(select(Brand.id).where(Brand.id.in_(sorted(brand_ids))).order_by(Brand.id)
                       .with_for_update(key_share=True)).all()


def next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def month_before(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - (number == 1):04d}-{(number - 2) % 12 + 1:02d}"


def _months(first: str, last: str) -> list[str]:
    out = []
    while first <= last:
        out.append(first)
        first = next_month(first)
    return out


def _latest_total(conn, brand_id: int) -> str | None:
    t = DashboardPromoterTotal.__table__
    return conn.execute(select(func.max(t.c.month)).where(t.c.brand_id == brand_id)).scalar()


def _copy_snapshot(conn, brand_id: int, source: str, months: list[str]) -> None:
    """Every promoter's totals at ``source`` carried to each of ``months`` (nothing changed since)."""
    t = DashboardPromoterTotal.__table__
    for month in months:
        conn.execute(insert(t).from_select(
            ["brand_id", "month", "promoter_id", *PROMOTER_MEASURES],
            select(t.c.brand_id, literal(month, String), t.c.promoter_id, *[t.c[m] for m in PROMOTER_MEASURES])
            .where(t.c.brand_id == brand_id, t.c.month == source)))


def _fold_totals(months: dict[tuple, dict[str, int]]) -> None:
    """Add month sums ((brand, 'm', month, promoter) → measures) to the running totals: a
    change in month M adds to the promoter's rows of M and every later month up to the
    brand's latest (rows it lacked are created: nothing came before them). A month past the
    latest first gets a copy of the latest snapshot, so every promoter keeps a row each month."""
    conn = db.session.connection()
    by_brand: dict[int, dict[int, dict[str, dict[str, int]]]] = defaultdict(lambda: defaultdict(dict))
    for (brand_id, _span, month, promoter_id), measures in months.items():
        by_brand[brand_id][promoter_id][month] = measures
    for brand_id in sorted(by_brand):
        promoters = by_brand[brand_id]
        newest = max(month for changes in promoters.values() for month in changes)
        latest = _latest_total(conn, brand_id)
        if latest is None:
            latest = newest
        elif newest > latest:
            _copy_snapshot(conn, brand_id, latest, _months(next_month(latest), newest))
            latest = newest
        rows: dict[tuple, dict[str, int]] = {}
        for promoter_id, changes in promoters.items():
            running = dict.fromkeys(PROMOTER_MEASURES, 0)
            for month in _months(min(changes), latest):
                for name, value in changes.get(month, {}).items():
                    running[name] += value
                rows[(brand_id, month, promoter_id)] = dict(running)
        _upsert(DashboardPromoterTotal, rows)


def fold_all(limit: int = FOLD_BATCH) -> int:
    """Fold until no delta waits (or a batch comes back short)."""
    total = 0
    while True:
        folded = fold(limit)
        total += folded
        if folded < limit:
            return total


def _key_names(model) -> list[str]:
    return [column.name for column in model.__table__.primary_key.columns]


def _upsert(model, by_key: dict[tuple, dict[str, int]]) -> None:
    """Add to the sums, creating rows where missing: INSERT … ON CONFLICT DO UPDATE (the
    dialect's own insert), keys in order so two folders never deadlock."""
    keys = _key_names(model)
    table = model.__table__
    rows = [dict(zip(keys, key, strict=True)) | measures for key, measures in sorted(by_key.items())]
    names = [name for name in rows[0] if name not in keys]
    stmt = dialect_insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c[k] for k in keys],
                                      set_={name: table.c[name] + stmt.excluded[name] for name in names})
    db.session.connection().execute(stmt, rows)


# ---------------------------------------------------------------- rebuilding from the source rows


def _span_of_data(conn, brand_id: int) -> tuple[datetime, datetime] | None:
    """The first and last instant any of the brand's figures happened at."""
    firsts, lasts = [], []
    for column, where, join in ((Order.paid_at, Order.brand_id == brand_id, None),
                                (Promoter.joined_at, Promoter.brand_id == brand_id, None),
                                (Order.cancelled_at, Order.brand_id == brand_id, None),
                                (LedgerTransaction.occurred_at, LedgerTransaction.brand_id == brand_id, None),
                                (Refund.created_at, Order.brand_id == brand_id, Order.id == Refund.order_id)):
        stmt = select(func.min(column), func.max(column))
        if join is not None:
            stmt = stmt.select_from(Refund).join(Order, join)
        low, high = conn.execute(stmt.where(where)).one()
        if low is not None:
            firsts.append(_aware(low))
            lasts.append(_aware(high))
    if not firsts:
        return None
    return min(firsts), max(lasts)


def _aware(value) -> datetime:
    """min()/max() over a timestamp come back without the column's type on SQLite: text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rebuild(brand_id: int) -> dict[str, int]:
    """Recompute the brand's sums from its source rows, in one transaction (see ``rebuild_on``)."""
    from distweb.services.tx import transaction

    with transaction():
        return rebuild_on(db.session.connection(), brand_id)


def rebuild_on(conn, brand_id: int, totals: bool = True) -> dict[str, int]:
    """On the connection ``conn`` (its transaction): the brand's deltas and sums go, day
    sums are written with one INSERT … SELECT per table, month sums from them, and
    (``totals``; not before migration 0021 made their table) the promoters' running totals
    from those. Returns how many day rows each table got."""
    from distweb.services import dashboard

    if conn.dialect.name == "postgresql":
        # Writers wait until this commits: what they write is then counted once, as a delta.
        conn.execute(text("LOCK TABLE dashboard_deltas IN EXCLUSIVE MODE"))
    for model in (DashboardDelta, DashboardBrandDay, DashboardPromoterDay, DashboardProductDay):
        conn.execute(delete(model.__table__).where(model.__table__.c.brand_id == brand_id))

    tz = conn.execute(select(Brand.timezone).where(Brand.id == brand_id)).scalar_one()
    promoters = Promoter.__table__
    first_sale = (select(func.min(Order.paid_at)).where(Order.promoter_id == promoters.c.id,
                                                        Order.paid_at.is_not(None),
                                                        Order.paid_at >= promoters.c.joined_at)
                  .correlate(promoters).scalar_subquery())
    conn.execute(sa_update(promoters).where(promoters.c.brand_id == brand_id).values(first_sale_at=first_sale))
    found = _span_of_data(conn, brand_id)
    counts = {"brand_days": 0, "promoter_days": 0, "product_days": 0}
    if found is None:
        return counts
    first, last = found
    zone = ZoneInfo(tz)
    period = dashboard.Period(first.astimezone(zone).date(), last.astimezone(zone).date(), tz)

    def day(column):
        return dashboard.local_day(column, period)

    zero = literal(0, BigInteger)
    paid = and_(Order.brand_id == brand_id, Order.paid_at.is_not(None))
    kept = CommissionLine.amount_fen - CommissionLine.reversed_fen

    def facts(*parts):
        return union_all(*parts).subquery("facts")

    # The brand's days.
    wallet = LedgerAccount.kind
    brand_facts = facts(
        select(day(Order.paid_at).label("day"), Order.total_paid_fen.label("gmv_fen"),
               literal(1, BigInteger).label("orders"), zero.label("refunded_fen"), zero.label("commission_fen"),
               zero.label("frozen_fen"), zero.label("available_fen"), zero.label("joined")).where(paid),
        select(day(Refund.created_at), zero, zero, Refund.amount_fen, zero, zero, zero, zero)
        .select_from(Refund).join(Order, Order.id == Refund.order_id).where(Order.brand_id == brand_id),
        select(day(Order.cancelled_at), zero, zero, Order.total_paid_fen - Order.refunded_fen, zero, zero, zero, zero)
        .where(paid, Order.status == OrderStatus.CANCELLED, Order.cancelled_at.is_not(None)),
        select(day(Order.paid_at), zero, zero, zero, kept, zero, zero, zero)
        .select_from(Order).join(CommissionLine, CommissionLine.order_id == Order.id).where(paid),
        select(day(Promoter.joined_at), zero, zero, zero, zero, zero, zero, literal(1, BigInteger))
        .where(Promoter.brand_id == brand_id, Promoter.status.in_(JOINED_STATUSES)),
        select(day(LedgerTransaction.occurred_at), zero, zero, zero, zero,
               case((wallet == AccountKind.PROMOTER_FROZEN, LedgerEntry.amount_fen), else_=0),
               case((wallet == AccountKind.PROMOTER_AVAILABLE, LedgerEntry.amount_fen), else_=0), zero)
        .select_from(LedgerTransaction)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerTransaction.brand_id == brand_id,
               wallet.in_((AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE))))
    counts["brand_days"] = _insert_days(conn, DashboardBrandDay, brand_id, brand_facts, (), BRAND_MEASURES)

    promoter_facts = facts(
        select(day(Order.paid_at).label("day"), Order.promoter_id.label("promoter_id"),
               Order.total_paid_fen.label("gmv_fen"), literal(1, BigInteger).label("orders"),
               zero.label("commission_fen")).where(paid, Order.promoter_id.is_not(None)),
        select(day(Order.paid_at), CommissionLine.promoter_id, zero, zero, kept)
        .select_from(Order).join(CommissionLine, CommissionLine.order_id == Order.id).where(paid))
    counts["promoter_days"] = _insert_days(conn, DashboardPromoterDay, brand_id, promoter_facts, ("promoter_id",),
                                           PROMOTER_MEASURES)
    if totals:
        rebuild_totals_on(conn, brand_id)

    per_order = (select(day(Order.paid_at).label("day"), OrderItem.product_id.label("product_id"),
                        func.sum(OrderItem.paid_fen).label("gmv_fen"), func.sum(OrderItem.quantity).label("quantity"))
                 .select_from(Order).join(OrderItem, OrderItem.order_id == Order.id).where(paid)
                 .group_by(Order.paid_at, OrderItem.order_id, OrderItem.product_id).subquery("per_order"))
    product_facts = select(per_order.c.day, per_order.c.product_id, per_order.c.gmv_fen, per_order.c.quantity,
                           literal(1, BigInteger).label("orders")).subquery("facts")
    counts["product_days"] = _insert_days(conn, DashboardProductDay, brand_id, product_facts, ("product_id",),
                                          PRODUCT_MEASURES)
    return counts


def _insert_days(conn, model, brand_id: int, source, keys: tuple[str, ...], measures: tuple[str, ...]) -> int:
    table = model.__table__
    grouped = select(literal(brand_id, Integer), literal(DAY, String), source.c.day,
                     *[source.c[k] for k in keys], *[func.sum(source.c[m]) for m in measures]
                     ).group_by(source.c.day, *[source.c[k] for k in keys])
    columns = ["brand_id", "span", "day", *keys, *measures]
    conn.execute(insert(table).from_select(columns, grouped))
    month = func.substr(table.c.day, 1, 7)
    conn.execute(insert(table).from_select(
        columns,
        select(table.c.brand_id, literal(MONTH, String), month, *[table.c[k] for k in keys],
               *[func.sum(table.c[m]) for m in measures])
        .where(table.c.brand_id == brand_id, table.c.span == DAY)
        .group_by(table.c.brand_id, month, *[table.c[k] for k in keys])))
    return int(conn.execute(select(func.count()).select_from(table)
                               .where(table.c.brand_id == brand_id, table.c.span == DAY)).scalar_one())


def rebuild_totals_on(conn, brand_id: int) -> int:
    """The brand's running totals from its promoter month sums, a month at a time (each
    snapshot is the one before plus that month's sums), from its first month with a
    promoter figure to its last. Returns how many months it wrote."""
    t, pd = DashboardPromoterTotal.__table__, DashboardPromoterDay.__table__
    # As a fold does: no folder adds to these rows while they are rewritten.
    conn.execute(select(Brand.id).where(Brand.id == brand_id).with_for_update(key_share=True)).all()
    conn.execute(delete(t).where(t.c.brand_id == brand_id))
    first, last = conn.execute(select(func.min(pd.c.day), func.max(pd.c.day))
                               .where(pd.c.brand_id == brand_id, pd.c.span == MONTH)).one()
    if first is None:
        return 0
    previous = None
    for month in _months(first, last):
        parts = [select(pd.c.promoter_id.label("promoter_id"), *[pd.c[m].label(m) for m in PROMOTER_MEASURES])
                 .where(pd.c.brand_id == brand_id, pd.c.span == MONTH, pd.c.day == month)]
        if previous is not None:
            parts.append(select(t.c.promoter_id, *[t.c[m] for m in PROMOTER_MEASURES])
                         .where(t.c.brand_id == brand_id, t.c.month == previous))
        both = union_all(*parts).subquery("both")
        conn.execute(insert(t).from_select(
            ["brand_id", "month", "promoter_id", *PROMOTER_MEASURES],
            select(literal(brand_id, Integer), literal(month, String), both.c.promoter_id,
                   *[func.sum(both.c[m]) for m in PROMOTER_MEASURES]).group_by(both.c.promoter_id)))
        previous = month
    return len(_months(first, last))


def rebuild_all(conn=None, totals: bool = True) -> dict[int, dict[str, int]]:
    """Every brand's sums (``conn``: on that connection, e.g. a migration's; else each brand
    in its own transaction). ``totals``: also the running totals (migrations before 0021: not)."""
    if conn is not None:
        return {brand_id: rebuild_on(conn, brand_id, totals)
                for brand_id in conn.execute(select(Brand.id).order_by(Brand.id)).scalars().all()}
    return {brand_id: rebuild(brand_id) for brand_id in db.session.scalars(select(Brand.id).order_by(Brand.id)).all()}


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Spans:
    """A period as whole months (``months``: first and last 'YYYY-MM', or None) and the days
    left over at its ends (``days``: (first, last) 'YYYY-MM-DD' ranges)."""

    months: tuple[str, str] | None
    days: tuple[tuple[str, str], ...]


def spans(start: date, end: date) -> Spans:
    first_month = start if start.day == 1 else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    after = end + timedelta(days=1)
    last_month_end = end if after.day == 1 else end.replace(day=1) - timedelta(days=1)
    if first_month > last_month_end:
        return Spans(None, ((start.isoformat(), end.isoformat()),))
    days = []
    if start < first_month:
        days.append((start.isoformat(), (first_month - timedelta(days=1)).isoformat()))
    if last_month_end < end:
        days.append(((last_month_end + timedelta(days=1)).isoformat(), end.isoformat()))
    return Spans((first_month.isoformat()[:7], last_month_end.isoformat()[:7]), tuple(days))


def _delta_filter(model):
    t = DashboardDelta
    if model is DashboardProductDay:
        return t.product_id.is_not(None)
    if model is DashboardPromoterDay:
        return and_(t.product_id.is_(None), t.promoter_id.is_not(None))
    return t.product_id.is_(None)


def _columns(model, keys: tuple[str, ...], measures: tuple[str, ...], with_day: bool):
    return [*([model.day.label("day")] if with_day else []), *[getattr(model, k).label(k) for k in keys],
            *[getattr(model, m).label(m) for m in measures]]


def facts(model, brand_id: int, start: date, end: date, measures: tuple[str, ...], by_day: bool = False):
    """The rows of ``model``'s grain whose sum over the days ``start``..``end`` is the
    period's figure: month sums for whole months, day sums for the rest (only day sums when
    ``by_day``: each row then carries its ``day``), and the deltas not folded yet. A UNION
    ALL subquery named "facts" with the grain's key, the ``measures`` and (``by_day``) day.
    A promoter's whole months, from SNAPSHOT_MONTHS on, are the difference of two snapshots
    of its running totals instead: a promoter's rows may then be negative, and only their
    sum by promoter means anything (group before filtering)."""
    keys = tuple(k for k in _key_names(model) if k not in ("brand_id", "span", "day"))
    parts = []
    if by_day:
        pieces = Spans(None, ((start.isoformat(), end.isoformat()),))
    else:
        pieces = spans(start, end)
    if pieces.months is not None and model is DashboardPromoterDay and snapshots_pay(brand_id, pieces.months):
        parts.extend(_snapshot_difference(brand_id, pieces.months, measures))
    elif pieces.months is not None:
        parts.append(select(*_columns(model, keys, measures, by_day))
                     .where(model.brand_id == brand_id, model.span == MONTH,
                            model.day.between(pieces.months[0], pieces.months[1])))
    if pieces.days:
        parts.append(select(*_columns(model, keys, measures, by_day))
                     .where(model.brand_id == brand_id, model.span == DAY,
                            or_(*[model.day.between(low, high) for low, high in pieces.days])))
    parts.append(select(*_columns(DashboardDelta, keys, measures, by_day))
                 .where(DashboardDelta.brand_id == brand_id, DashboardDelta.day.between(start.isoformat(),
                                                                                         end.isoformat()),
                        _delta_filter(model)))
    return union_all(*parts).subquery("facts")


SNAPSHOT_MONTHS = 3  # fewer whole months than this: their month sums are always the fewer rows
_ESTIMATES = "distweb_dashboard_snapshot_estimates"


def _months_apart(first: str, last: str) -> int:
    return (int(last[:4]) - int(first[:4])) * 12 + int(last[5:7]) - int(first[5:7]) + 1


def snapshots_pay(brand_id: int, months: tuple[str, str]) -> bool:
    """Whether two snapshots of the running totals are fewer rows to read than the promoter
    month sums over ``months`` (first, last). The month sums hold a row per seller and per
    upline earning on its orders each month, about two per order at most; the snapshots a
    row per promoter, twice. So: more orders in those months than promoters joined by their
    end (both from the brand's month sums: a few rows). Either way the figures are the same;
    this only picks the cheaper rows. Kept for the transaction."""
    if _months_apart(*months) < SNAPSHOT_MONTHS:
        return False
    memo = db.session.info.setdefault(_ESTIMATES, {})
    key = (brand_id, months)
    if key not in memo:
        b = DashboardBrandDay
        in_months = and_(b.brand_id == brand_id, b.span == MONTH, b.day.between(*months))
        orders, joined = db.session.execute(select(
            select(func.sum(b.orders)).where(in_months).scalar_subquery(),
            select(func.sum(b.joined)).where(b.brand_id == brand_id, b.span == MONTH, b.day <= months[1])
            .scalar_subquery())).one()
        memo[key] = int(orders or 0) > int(joined or 0)
    return memo[key]


def _snapshot_difference(brand_id: int, months: tuple[str, str], measures: tuple[str, ...]) -> list:
    """The promoters' sums over the whole months ``months`` (first, last) as two row sets:
    each one's running totals at the latest snapshot up to ``last``, and the same negated
    at the latest snapshot before ``first``. Snapshots are dense (every promoter with a
    figure by a month has a row at every later month up to the brand's latest), so "the
    latest snapshot up to X" is the one at X, or the brand's latest when X is later, and a
    promoter missing from it had no figure by then (0)."""
    t = DashboardPromoterTotal

    def at(month: str):
        return select(func.max(t.month)).where(t.brand_id == brand_id, t.month <= month).scalar_subquery()

    def rows(month: str, sign: int):
        return (select(t.promoter_id.label("promoter_id"),
                       *[(getattr(t, m) if sign > 0 else -getattr(t, m)).label(m) for m in measures])
                .where(t.brand_id == brand_id, t.month == at(month)))

    return [rows(months[1], 1), rows(month_before(months[0]), -1)]


def facts_until(model, brand_id: int, end: date, measures: tuple[str, ...]):
    """``facts`` over every day up to ``end`` (the wallet's balances at a period's end)."""
    return facts(model, brand_id, date(1970, 1, 1), end, measures)
