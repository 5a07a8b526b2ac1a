"""The daily brand report's job (services/daily_report.py): a PDF and a notice to managers."""

from __future__ import annotations

from sqlalchemy import select

from distweb.extensions import db
from distweb.services.jobs import run_job
from worker.context import with_app_context
from worker.jobs import render_pdf


@with_app_context
def render_daily_report(job_id: int) -> None:
    """Render the report recorded for this job. Safe to run twice: a rendered report is left
    as it is (its managers were told once); the file is written under a temporary name and
    moved into place, so a killed render never leaves half a PDF."""
    from distweb.models import DailyReport
    from distweb.services import daily_report

    def work(job, progress):
        report = db.session.scalars(select(DailyReport).where(DailyReport.job_id == job.id)).first()
        if report is None:
            return {"rendered": "0"}
        if report.status == "succeeded":
            return {"day": report.day, "gmv_fen": str(report.gmv_fen)}
        progress(20, "figures")
        data = daily_report.build(report)
        progress(60, "pdf")
        pdf = render_pdf("pdf/daily_report.html", data=data, bp_text=daily_report.dashboard.bp_text)
        target = daily_report.file_path(report)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(pdf)
        tmp.replace(target)
        daily_report.finish(report, data, target)
        return {"day": report.day, "gmv_fen": str(data.yesterday["gmv_fen"])}

    run_job(job_id, work)
