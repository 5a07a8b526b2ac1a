"""Job functions. Each takes ids, loads what it needs, and is safe to run twice."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, text

from distweb.extensions import db
from distweb.models import Order, Promoter
from distweb.queues import redis_connection
from distweb.services.jobs import run_job
from worker.context import with_app_context


@with_app_context
def run_diagnostics(job_id: int) -> None:
    """Checks what the system needs to run (database, Redis, PDF fonts) and reports it."""

    def work(job, progress):
        result: dict[str, str] = {}
        progress(10, "database")
        db.session.execute(text("SELECT 1"))
        result["database"] = db.engine.dialect.name
        result["orders"] = str(db.session.scalar(select(func.count(Order.id))))
        result["promoters"] = str(db.session.scalar(select(func.count(Promoter.id))))
        time.sleep(0.3)
        progress(40, "redis")
        info = redis_connection().info("server")
        result["redis"] = str(info.get("redis_version"))
        time.sleep(0.3)
        progress(70, "fonts")
        result["cjk_font"] = "yes" if _has_cjk_font() else "missing"
        result["harfbuzz_subset"] = "yes" if _has_harfbuzz_subset() else "missing"
        result["queue_prefix"] = current_app.config.get("RQ_QUEUE_PREFIX", "") or "-"
        time.sleep(0.3)
        return result

    run_job(job_id, work)


def _has_cjk_font() -> bool:
    import subprocess

    if not shutil.which("fc-list"):
        return False
    out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, timeout=10).stdout
    return bool(out.strip())


def _has_harfbuzz_subset() -> bool:
    import ctypes.util

    return ctypes.util.find_library("harfbuzz-subset") is not None


@with_app_context
def evaluate_ranks(job_id: int) -> None:
    """Promote promoters whose sales meet the brand's rank rules (only ever upwards)."""
    from distweb.services import network

    def work(job, progress):
        progress(10, "evaluate")
        promotions = network.evaluate_ranks(job.brand_id)
        return {"promoted": str(len(promotions))}

    run_job(job_id, work)


@with_app_context
def deliver_push() -> None:
    """Send pending notifications by Web Push (see services.push; safe to run twice)."""
    from distweb.services import notifications, push

    try:
        redis_connection().delete(notifications.PUSH_KICK_KEY)  # later notifications kick anew
    except Exception:  # noqa: BLE001 — without Redis the sweep still calls us
        pass
    push.deliver_all()


@with_app_context
def drain_webhooks(lane: int) -> None:
    """Apply the webhook events queued in this lane, in the order they arrived (see
    services.webhooks.drain; safe to run twice, and beside another drain of the lane)."""
    from distweb.services import webhooks

    try:
        webhooks.drain(lane)
    finally:
        db.session.remove()  # it may run in the worker's own process (worker.main.DistwebWorker)


@with_app_context
def settle_run(job_id: int) -> None:
    """Carry out the settlement run recorded for this job (safe to run again: a rerun
    settles only what is still frozen)."""
    from distweb.models import SettlementRun
    from distweb.services import settlement

    def work(job, progress):
        run = db.session.scalars(select(SettlementRun).where(SettlementRun.job_id == job.id)).first()
        if run is None:
            return {"settled": "0"}
        run = settlement.execute_run(run.id, progress)
        progress(90, "report")
        # The brand's report for finance, written next to the statements.
        target = settlement.report_path(run)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(render_pdf("pdf/settlement_report.html", **settlement.report_data(run)))
        tmp.replace(target)
        if run.trigger == "schedule" and (run.period_key or "").startswith("M"):
            _queue_monthly_statements(run)
        return {"settled": str(run.settled_count), "settled_fen": str(run.settled_fen)}

    run_job(job_id, work)


@with_app_context
def pay_payout_batch(job_id: int) -> None:
    """批量打款 of a settlement run (services.provider_payouts.pay_batch; safe to run again:
    a withdrawal paid or being paid is skipped)."""
    from distweb.services import provider_payouts

    run_job(job_id, lambda job, progress: provider_payouts.pay_batch(job.id, progress))


@with_app_context
def render_statement(job_id: int) -> None:
    """Render the statement recorded for this job to PDF (WeasyPrint, CJK font embedded).
    The file is written to a temporary name and moved into place, so a killed render
    never leaves a half-written PDF behind."""
    from distweb.models import Notification, Promoter, Statement
    from distweb.models.base import utcnow
    from distweb.models.payouts import RunStatus
    from distweb.services import notifications, statements
    from distweb.services.tx import transaction

    def work(job, progress):
        statement = db.session.scalars(select(Statement).where(Statement.job_id == job.id)).first()
        if statement is None:
            return {"rendered": "0"}
        if statement.status == RunStatus.SUCCEEDED:
            # An earlier attempt of this job rendered it and told the promoter, and was killed
            # before the job's row said so: rendering again would tell them twice. (A new
            # request of the statement sets it queued before its own job is pushed.)
            return {"closing_fen": str(statement.closing_fen)}
        with transaction():
            statement.status = RunStatus.RUNNING
        promoter = db.session.get(Promoter, statement.promoter_id)
        data = statements.build(promoter, statement.period)
        pdf = render_pdf("pdf/statement.html", data=data)
        target = statements.file_path(statement)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(pdf)
        tmp.replace(target)
        with transaction():  # the notice commits with the success, or neither does
            statement.status = RunStatus.SUCCEEDED
            statement.opening_fen, statement.closing_fen = data.opening_fen, data.closing_fen
            statement.checksum, statement.rendered_at = data.checksum, utcnow()
            statement.file_name = target.name
            db.session.add(Notification(user_id=promoter.user_id, kind="statement_ready",
                                        data={"period": statement.period, "statement": statement.id}))
            notifications.push_after_commit()
        return {"closing_fen": str(data.closing_fen)}

    run_job(job_id, work)


def render_pdf(template: str, **context) -> bytes:
    """HTML from a Jinja template → PDF bytes. Only the worker imports WeasyPrint."""
    return html_to_pdf(*pdf_html(template, **context))


def pdf_html(template: str, **context) -> tuple[str, str]:
    """The HTML of a PDF document and the base URL its relative links resolve against."""
    from pathlib import Path

    from flask import render_template
    from flask_babel import force_locale, format_datetime

    from distweb.labels import MOVEMENT_KIND
    from distweb.services.accounts import current_brand

    brand = current_brand()
    logo_uri = None
    if brand and brand.logo_file:
        logo = Path(current_app.config["DISTWEB_UPLOADS"]) / brand.logo_file
        if logo.exists():
            logo_uri = logo.as_uri()
    with current_app.test_request_context(), force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        html = render_template(template, logo_uri=logo_uri, generated_at=format_datetime(utcnow_local(), "yyyy-MM-dd HH:mm"),
                               movement_label=lambda kind: str(MOVEMENT_KIND.get(kind, kind)), **context)
    return html, str(Path(current_app.root_path))


def html_to_pdf(html: str, base_url: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html, base_url=base_url).write_pdf(font_config=_font_config())


_FONT_CONFIG = None


def _font_config():
    """One font configuration per worker: a new one per PDF leaks memory in WeasyPrint."""
    global _FONT_CONFIG
    if _FONT_CONFIG is None:
        from weasyprint.text.fonts import FontConfiguration

        _FONT_CONFIG = FontConfiguration()
    return _FONT_CONFIG


# A line in the PDF templates' font stack (templates/pdf/*.html), so the CJK font is loaded.
_WARM_UP_HTML = ('<p style="font-family: \'WenQuanYi Micro Hei\', \'Noto Sans CJK SC\', \'Noto Sans SC\', '
                 'sans-serif">对账单 ¥0.00</p>')


def warm_pdf_renderer() -> None:
    """Import WeasyPrint, build the font configuration and lay out one line of Chinese, in
    the worker's main process before it forks: RQ runs every job in a fresh fork, which
    otherwise pays all of that again for every PDF and throws it away when the job ends, so the shared font configuration never got shared."""
    from weasyprint import HTML

    HTML(string=_WARM_UP_HTML).write_pdf(font_config=_font_config())


def utcnow_local():
    from distweb.models.base import utcnow

    return utcnow()


def _queue_monthly_statements(run) -> None:
    """After a monthly settlement, every promoter with money on the ledger gets last month's
    statement (each rendered by its own pdf job)."""
    from zoneinfo import ZoneInfo

    from distweb.models import Brand, LedgerAccount, Promoter
    from distweb.models.ledger import AccountKind
    from distweb.services import statements

    brand = db.session.get(Brand, run.brand_id)
    local = run.as_of.astimezone(ZoneInfo(brand.timezone))
    previous = (local.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    owners = db.session.scalars(select(LedgerAccount.owner_id).where(
        LedgerAccount.brand_id == brand.id, LedgerAccount.kind == AccountKind.PROMOTER_FROZEN).distinct())
    for promoter_id in owners:
        statements.request(db.session.get(Promoter, promoter_id), previous)


@with_app_context
def run_import(job_id: int) -> None:
    """Carry out the platform import recorded for this job (services.imports): safe to run
    again, and a killed run resumes after its last checkpoint."""
    from distweb.services import imports

    run_job(job_id, imports.run)
