"""Settlement runs (结算): frozen commission whose order completed at least the plan's
``freeze_days`` before ``as_of`` becomes available, in set-based batches.

Each batch is one database transaction: the lines change state and one balanced ledger
transaction moves their money from frozen to available, written with INSERT … SELECT.
A worker killed between batches leaves whole batches done and the rest untouched; the next
attempt (or a second run) picks up exactly the lines still frozen, so nothing settles twice.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, literal, or_, select, union_all, update

from distweb.extensions import db
from distweb.models import Brand, CommissionLine, CommissionPlan, Order, Promoter
from distweb.models.base import UTCDateTime, utcnow
from distweb.models.ledger import AccountKind, LineStatus
from distweb.models.order import OrderStatus
from distweb.models.payouts import RunStatus, SettlementRun
from distweb.services import jobs, ledger
from distweb.services.errors import NotFound, ServiceError
from distweb.services.tx import transaction

BATCH = 5000
SETTLEABLE_ORDER_STATUSES = (OrderStatus.COMPLETED, OrderStatus.REFUNDED)


def start_run(brand_id: int, as_of: datetime | None = None, trigger: str = "manual",
              created_by_id: int | None = None, period_key: str | None = None,
              enqueue: bool = True) -> SettlementRun:
    """Record a run and queue it on the settlement queue (``enqueue=False``: the caller runs
    it inline, as the demo loader does)."""
    as_of = as_of or utcnow()
    if as_of.tzinfo is None:
        raise ServiceError("naive_time", _l("时间必须带时区，例如 2026-11-28T10:00:00+08:00。"), "as_of")
    with transaction():
        run = SettlementRun(brand_id=brand_id, as_of=as_of, trigger=trigger, created_by_id=created_by_id,
                            period_key=period_key)
        db.session.add(run)
    if not enqueue:
        return run
    job = jobs.create_job("settlement", brand_id=brand_id, created_by_id=created_by_id)
    with transaction():
        run.job_id = job.id
    return run


def get_run(brand_id: int, run_id: int) -> SettlementRun:
    run = db.session.get(SettlementRun, run_id)
    if run is None or run.brand_id != brand_id:
        raise NotFound("run_not_found", _l("结算批次不存在。"))
    return run


def _freeze_days(brand_id: int) -> dict[int | None, int]:
    """freeze_days of every plan version (and of the default plan, version None)."""
    from distweb.services.commission import DEFAULT_PLAN

    days: dict[int | None, int] = {None: DEFAULT_PLAN["freeze_days"]}
    for version, body in db.session.execute(
        select(CommissionPlan.version, CommissionPlan.body).where(CommissionPlan.brand_id == brand_id)
    ):
        days[version] = int((body or {}).get("freeze_days", 7))
    return days


def freeze_cutoff(as_of: datetime, freeze_days: int, tz: str) -> datetime:
    """Freeze windows are calendar days in the brand's time zone: an order completed on
    1 Dec with 7 freeze days is settleable from 8 Dec 00:00 local time. So at ``as_of`` a
    line settles when its order completed before the local midnight that starts the day
    ``freeze_days - 1`` days before ``as_of``'s local day (``completed_at < cutoff``)."""
    zone = ZoneInfo(tz)
    local_day = as_of.astimezone(zone).date() - timedelta(days=freeze_days - 1)
    return datetime.combine(local_day, time(0), tzinfo=zone)


def eligible(brand_id: int, as_of: datetime, tz: str):
    """The condition for a line to settle at ``as_of``, per plan version's freeze window."""
    clauses = []
    for version, days in _freeze_days(brand_id).items():
        version_match = CommissionLine.plan_version.is_(None) if version is None else CommissionLine.plan_version == version
        clauses.append(and_(version_match, Order.completed_at < freeze_cutoff(as_of, days, tz)))
    return and_(
        CommissionLine.brand_id == brand_id,
        CommissionLine.status == LineStatus.FROZEN,
        Order.id == CommissionLine.order_id,
        Order.status.in_(SETTLEABLE_ORDER_STATUSES),
        Order.completed_at.is_not(None),
        or_(*clauses),
    )


class Batch(NamedTuple):
    count: int
    fen: int
    last_id: int  # the highest line id settled; the next batch looks only above it
    promoters: frozenset[int]  # whose accounts exist once the batch commits


def settle_batch(run: SettlementRun, now: datetime, after_id: int = 0, tz: str = "Asia/Shanghai",
                 known_promoters: frozenset[int] | set[int] = frozenset()) -> Batch:
    """Settle up to BATCH eligible lines with ids above ``after_id``, in the caller's
    transaction: the lines change state (one UPDATE), their promoters' accounts are made
    sure of, and one balanced ledger transaction at the run's ``as_of`` moves what each line
    keeps from frozen to available (``ledger.post_from_select``). The same statements on
    every database. ``known_promoters``: promoters whose accounts an earlier batch of this
    run made sure of (committed), so only new ones are looked at."""
    kept = CommissionLine.amount_fen - CommissionLine.reversed_fen
    # Keyset: lines are picked in id order from where the last batch stopped, so a batch does
    # not walk past the lines already settled. A line another transaction holds is skipped
    # (FOR UPDATE SKIP LOCKED, where the database locks rows) and left for the next run.
    pick = (select(CommissionLine.id).select_from(CommissionLine).join(Order, Order.id == CommissionLine.order_id)
            .where(eligible(run.brand_id, run.as_of, tz), CommissionLine.id > after_id)
            .order_by(CommissionLine.id).limit(BATCH).correlate(None)
            .with_for_update(of=CommissionLine, skip_locked=True))
    moved = db.session.execute(
        update(CommissionLine)
        .where(CommissionLine.id.in_(pick), CommissionLine.status == LineStatus.FROZEN)
        .values(status=LineStatus.AVAILABLE, settled_at=now, settlement_run_id=run.id)
        .returning(CommissionLine.id, CommissionLine.promoter_id, kept)
        .execution_options(synchronize_session=False)
    ).all()
    if not moved:
        return Batch(0, 0, after_id, frozenset())
    last_id = max(line_id for line_id, _promoter, _kept in moved)
    total = sum(line_kept for _id, _promoter, line_kept in moved)
    paid = {promoter for _id, promoter, line_kept in moved if line_kept > 0}
    # This batch's lines, without sending their ids back to the database: this run's, in
    # the id range it picked, stamped with this batch's time (an earlier attempt of the same
    # run, killed and restarted, settled lines in the same range at another time).
    batch = and_(CommissionLine.settlement_run_id == run.id, CommissionLine.id > after_id,
                 CommissionLine.id <= last_id, CommissionLine.settled_at == now)
    if total:
        ledger.ensure_accounts(run.brand_id, (AccountKind.PROMOTER_FROZEN, AccountKind.PROMOTER_AVAILABLE),
                               sorted(paid - known_promoters))
        legs = [select(ledger.account_of(CommissionLine.brand_id, kind, CommissionLine.promoter_id), kept * sign,
                       CommissionLine.id).where(batch, kept > 0)
                for kind, sign in ((AccountKind.PROMOTER_FROZEN, -1), (AccountKind.PROMOTER_AVAILABLE, 1))]
        ledger.post_from_select(run.brand_id, "settlement", run.as_of, union_all(*legs), reference=f"run:{run.id}",
                                memo={"run": run.id, "as_of": run.as_of.isoformat()})
    run.settled_count += len(moved)
    run.settled_fen += total
    return Batch(len(moved), total, last_id, frozenset(paid))


def execute_run(run_id: int, progress=None) -> SettlementRun:
    """Carry out a run to the end, batch by batch (safe to call again after a crash)."""
    run = db.session.get(SettlementRun, run_id)
    if run is None:
        raise NotFound("run_not_found", "run not found")
    if run.status == RunStatus.SUCCEEDED:
        return run
    with transaction():
        run.status = RunStatus.RUNNING
        run.started_at = run.started_at or utcnow()
        run.error = None
    tz = db.session.get(Brand, run.brand_id).timezone
    try:
        last_id = 0
        known: set[int] = set()
        while True:
            with transaction():
                batch = settle_batch(run, utcnow(), last_id, tz, known)
            last_id = batch.last_id
            known |= batch.promoters
            if progress:
                progress(50, "settling")
            if batch.count < BATCH:
                break
        # Done and told in one transaction: a crash before it commits leaves the run to be
        # finished (and its promoters told) by the next attempt, never told twice.
        with transaction():
            run.status = RunStatus.SUCCEEDED
            run.finished_at = utcnow()
            _notify_unfrozen(run)
    except Exception as exc:
        db.session.rollback()
        with transaction():
            run.status = RunStatus.FAILED
            run.error = f"{type(exc).__name__}: {exc}"[:2000]
            run.finished_at = utcnow()
        raise
    return run


def _notify_unfrozen(run: SettlementRun) -> None:
    """One "commission unfrozen" notification per promoter the run paid, with the amount,
    written by one INSERT … SELECT in the caller's transaction."""
    from distweb.services import notifications

    promoter_total = func.sum(CommissionLine.amount_fen - CommissionLine.reversed_fen)
    notifications.insert_from(
        run.brand_id,
        select(Promoter.user_id, literal("commission_unfrozen"),
               notifications.json_object(amount_fen=promoter_total, run=literal(run.id)),
               literal(utcnow(), UTCDateTime))
        .select_from(CommissionLine).join(Promoter, Promoter.id == CommissionLine.promoter_id)
        .where(CommissionLine.settlement_run_id == run.id)
        .group_by(Promoter.id, Promoter.user_id))


def per_promoter(run_id: int, limit: int = 500) -> list[tuple[int, str, int, int]]:
    """(promoter id, name, lines, fen) settled by a run, largest first."""
    from distweb.models import User

    # PostgreSQL sums BIGINT columns as NUMERIC: the totals are made ints again (fen are ints).
    return [(promoter_id, name, int(lines), int(fen)) for promoter_id, name, lines, fen in db.session.execute(
        select(Promoter.id, User.name, func.count(CommissionLine.id),
               func.sum(CommissionLine.amount_fen - CommissionLine.reversed_fen))
        .join(Promoter, Promoter.id == CommissionLine.promoter_id).join(User, User.id == Promoter.user_id)
        .where(CommissionLine.settlement_run_id == run_id)
        .group_by(Promoter.id, User.name)
        .order_by(func.sum(CommissionLine.amount_fen - CommissionLine.reversed_fen).desc()).limit(limit)
    )]


def recent_runs(brand_id: int, limit: int = 30) -> list[SettlementRun]:
    return list(db.session.scalars(select(SettlementRun).where(SettlementRun.brand_id == brand_id)
                                   .order_by(SettlementRun.id.desc()).limit(limit)))


def due_period(settings: dict, now_local: datetime) -> tuple[str, datetime] | None:
    """The scheduled period that is due now (key, as_of), or None. Cycles: daily (every day
    at 02:00), weekly (a weekday at 02:00), monthly (a day of the month at 02:00)."""
    cycle = (settings or {}).get("cycle", "manual")
    at = now_local.replace(hour=2, minute=0, second=0, microsecond=0)
    if now_local < at:
        return None
    if cycle == "daily":
        return at.strftime("D%Y%m%d"), at
    if cycle == "weekly" and now_local.weekday() == int(settings.get("weekday", 0)):
        return at.strftime("W%Y%m%d"), at
    if cycle == "monthly" and now_local.day == int(settings.get("day", 1)):
        return at.strftime("M%Y%m"), at
    return None


def schedule_due_runs() -> int:
    """Start the runs that the brands' cycles say are due (called from the worker's
    maintenance loop; a period is only ever started once)."""
    from zoneinfo import ZoneInfo

    from distweb.models import Brand, ProgrammeSettings

    started = 0
    for brand, settings in db.session.execute(
        select(Brand, ProgrammeSettings).join(ProgrammeSettings, ProgrammeSettings.brand_id == Brand.id)
    ):
        due = due_period(settings.settlement, utcnow().astimezone(ZoneInfo(brand.timezone)))
        if due is None:
            continue
        key, as_of = due
        if db.session.scalar(select(func.count(SettlementRun.id)).where(
                SettlementRun.brand_id == brand.id, SettlementRun.period_key == key)):
            continue
        start_run(brand.id, as_of, trigger="schedule", period_key=key)
        started += 1
    return started


def report_data(run: SettlementRun) -> dict:
    """Totals of a run by level, by supplier and by promoter (for the report PDF)."""
    from distweb.models import Brand, OrderItem, Product, Supplier

    kept = CommissionLine.amount_fen - CommissionLine.reversed_fen
    by_level = [(level, kind, int(lines), int(fen)) for level, kind, lines, fen in db.session.execute(
        select(CommissionLine.level, CommissionLine.kind, func.count(CommissionLine.id), func.sum(kept))
        .where(CommissionLine.settlement_run_id == run.id)
        .group_by(CommissionLine.level, CommissionLine.kind).order_by(CommissionLine.level))]
    by_supplier = [(name, int(lines), int(fen)) for name, lines, fen in db.session.execute(
        select(Supplier.name, func.count(CommissionLine.id), func.sum(kept))
        .select_from(CommissionLine)
        .join(OrderItem, OrderItem.id == CommissionLine.order_item_id)
        .join(Product, Product.id == OrderItem.product_id)
        .outerjoin(Supplier, Supplier.id == Product.supplier_id)
        .where(CommissionLine.settlement_run_id == run.id)
        .group_by(Supplier.name).order_by(func.sum(kept).desc()))]
    return {"run": run, "brand": db.session.get(Brand, run.brand_id), "by_level": by_level,
            "by_supplier": by_supplier, "by_promoter": per_promoter(run.id, limit=10000)}


def report_path(run: SettlementRun):
    from distweb.services.statements import storage_dir

    return storage_dir() / f"settlement-{run.id}.pdf"


def request_report(run: SettlementRun) -> None:
    """Have the report of a finished run written by a worker, when no job of the run is still
    on its way: a run carried out inline (the demo's) or whose file went missing. The run's
    job settles nothing again (the run has succeeded) and writes the report."""
    from distweb.models import Job
    from distweb.models.job import JobStatus

    if run.status != RunStatus.SUCCEEDED:
        return
    if run.job_id is not None:
        job = db.session.get(Job, run.job_id)
        if job is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            return
    job = jobs.create_job("settlement", brand_id=run.brand_id, created_by_id=run.created_by_id)
    with transaction():
        run.job_id = job.id
