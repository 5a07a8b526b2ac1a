"""The daily brand report (每日简报): every morning, in each brand's time zone, a worker
renders yesterday's figures and the month so far to a PDF and leaves a notice in every
manager's inbox. Nobody has to ask for it.

The worker's regular upkeep calls ``schedule_due``; a report row is unique per brand and day,
so any number of workers (or a second run) start each report once, and its job renders it
once (a job that finds its report rendered does nothing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from distweb.extensions import db
from distweb.models import Brand, DailyReport, Job, Notification, User
from distweb.models.base import insert_ignoring_duplicates, utcnow
from distweb.models.user import Role
from distweb.services import dashboard
from distweb.services.errors import NotFound
from distweb.services.tx import transaction

log = logging.getLogger(__name__)

REPORT_HOUR = 7  # local time from which yesterday's report is due
KIND = "daily_report"


def due_day(tz: str, now: datetime | None = None):
    """The day whose report is due now in zone ``tz`` (yesterday, from REPORT_HOUR), or None."""
    local = (now or utcnow()).astimezone(ZoneInfo(tz))
    if local.hour < REPORT_HOUR:
        return None
    return local.date() - timedelta(days=1)


def schedule_due(now: datetime | None = None) -> int:
    """Start the reports that are due and not started; how many were started."""
    from distweb.services import jobs

    started = 0
    for brand_id, tz in db.session.execute(select(Brand.id, Brand.timezone)).all():
        day = due_day(tz, now)
        if day is None:
            continue
        if db.session.scalar(select(DailyReport.id).where(DailyReport.brand_id == brand_id,
                                                          DailyReport.day == day.isoformat())):
            continue
        with transaction():
            inserted = db.session.execute(insert_ignoring_duplicates(DailyReport.__table__, ("brand_id", "day")),
                                          {"brand_id": brand_id, "day": day.isoformat(), "status": "queued",
                                           "created_at": utcnow()}).rowcount
            if not inserted:
                continue  # another worker started it a moment ago
            job = Job(kind=KIND, queue=jobs.JOB_KINDS[KIND][0], brand_id=brand_id)
            db.session.add(job)
            db.session.flush()
            report = db.session.scalar(select(DailyReport).where(DailyReport.brand_id == brand_id,
                                                                 DailyReport.day == day.isoformat()))
            report.job_id = job.id
        jobs.push_job(job)  # if Redis is down, the job sweep pushes the queued row later
        started += 1
    return started


@dataclass
class ReportData:
    brand: Brand
    day: str
    yesterday: dict
    month: dict
    month_period: dashboard.Period
    trend: list[dict]
    top_promoters: list[dict]
    top_products: list[dict]
    chart_svg: str


def build(report: DailyReport) -> ReportData:
    brand = db.session.get(Brand, report.brand_id)
    day = datetime.fromisoformat(report.day).date()
    yesterday = dashboard.Period(day, day, brand.timezone)
    month = dashboard.Period(day.replace(day=1), day, brand.timezone)
    last_30 = dashboard.Period(day - timedelta(days=29), day, brand.timezone)
    trend = dashboard.trend(brand.id, last_30)["buckets"]
    return ReportData(
        brand=brand, day=report.day,
        yesterday=dashboard.cards(brand.id, yesterday), month=dashboard.cards(brand.id, month),
        month_period=month, trend=trend,
        top_promoters=dashboard.top_promoters(brand.id, month, limit=5),
        top_products=dashboard.top_products(brand.id, month, limit=5),
        chart_svg=bar_chart_svg([(b["start"][5:], b["gmv_fen"]) for b in trend], brand.theme_color),
    )


def bar_chart_svg(bars: list[tuple[str, int]], color: str = "#d9363e", width: int = 520, height: int = 160) -> str:
    """A bar chart of fen amounts as SVG text (rendered by WeasyPrint in the PDF): bars scaled
    to the largest, in integer arithmetic, every fifth label shown."""
    left, bottom, top = 8, 18, 6
    plot_h = height - bottom - top
    biggest = max((fen for _label, fen in bars), default=0)
    slot = (width - left) // max(1, len(bars))
    bar_w = max(1, slot - 2)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#c9cdd4" '
             f'stroke-width="1"/>']
    safe_color = color if color.startswith("#") and len(color) in (4, 7) and all(
        c in "0123456789abcdefABCDEF" for c in color[1:]) else "#d9363e"
    for i, (label, fen) in enumerate(bars):
        h = (fen * plot_h // biggest) if biggest > 0 else 0
        x = left + i * slot
        parts.append(f'<rect x="{x}" y="{height - bottom - h}" width="{bar_w}" height="{h}" fill="{safe_color}"/>')
        if i % 5 == 0 or i == len(bars) - 1:
            parts.append(f'<text x="{x}" y="{height - 5}" font-size="8" fill="#646a73">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def storage_dir() -> Path:
    path = Path(current_app.config["INSTANCE_PATH"]) / "reports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_path(report: DailyReport) -> Path:
    return storage_dir() / f"daily-{report.brand_id}-{report.day}-{report.id}.pdf"


def finish(report: DailyReport, data: ReportData, target: Path) -> None:
    """Mark it rendered and tell every manager of the brand, in one transaction."""
    with transaction():
        report.status = "succeeded"
        report.file_name = target.name
        report.rendered_at = utcnow()
        report.gmv_fen, report.orders = data.yesterday["gmv_fen"], data.yesterday["orders"]
        managers = db.session.scalars(select(User.id).where(User.brand_id == report.brand_id,
                                                            User.role == Role.MANAGER)).all()
        db.session.add_all([Notification(user_id=user_id, kind=KIND, push_pending=False,
                                         data={"day": report.day, "report": report.id,
                                               "gmv_fen": data.yesterday["gmv_fen"],
                                               "orders": data.yesterday["orders"]})
                            for user_id in managers])


def recent(brand_id: int, limit: int = 7) -> list[DailyReport]:
    return list(db.session.scalars(select(DailyReport).where(DailyReport.brand_id == brand_id,
                                                             DailyReport.status == "succeeded")
                                   .order_by(DailyReport.day.desc()).limit(limit)))


def get_for_brand(brand_id: int, report_id: int) -> DailyReport:
    report = db.session.get(DailyReport, report_id)
    if report is None or report.brand_id != brand_id or report.status != "succeeded":
        raise NotFound("report_not_found", _l("日报不存在。"))
    return report
