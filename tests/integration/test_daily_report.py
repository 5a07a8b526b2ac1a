"""The daily brand report: started every morning in the brand's time zone, once per brand and
day however often the schedulers run, rendered to a PDF with Chinese text, and announced in
every manager's inbox."""

from __future__ import annotations

import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

from rq import SimpleWorker
from sqlalchemy import func, select

from distweb.extensions import db
from distweb.models import Brand, DailyReport, Job, Notification, User
from distweb.queues import all_queues, redis_connection
from distweb.services import daily_report
from tests.integration.test_dashboard import build_net
from tests.support.factories import PASSWORD

SH = ZoneInfo("Asia/Shanghai")


def test_due_only_from_seven_in_the_morning_brand_time():
    assert daily_report.due_day("Asia/Shanghai", datetime(2026, 12, 1, 6, 59, tzinfo=SH)) is None
    assert daily_report.due_day("Asia/Shanghai", datetime(2026, 12, 1, 7, 0, tzinfo=SH)).isoformat() == "2026-11-30"
    # 23:30 UTC on 30 Nov is 07:30 on 1 Dec in Shanghai
    assert daily_report.due_day("Asia/Shanghai", datetime(2026, 11, 30, 23, 30, tzinfo=ZoneInfo("UTC"))
                                ).isoformat() == "2026-11-30"


def test_one_report_per_brand_and_day_rendered_and_announced(app, make, browser):
    make.manager(email="finance@example.com")  # a second manager is told too
    with app.app_context():
        net = build_net(db.session.get(Brand, make.brand().id))
        morning = datetime(2026, 12, 1, 7, 5, tzinfo=SH)
        assert daily_report.schedule_due(morning) == 1
        assert daily_report.schedule_due(morning) == 0  # run twice: still one
        assert daily_report.schedule_due(datetime(2026, 12, 1, 23, 0, tzinfo=SH)) == 0
        report = db.session.scalars(select(DailyReport)).one()
        assert (report.brand_id, report.day, report.status) == (net.brand_id, "2026-11-30", "queued")
        assert db.session.get(Job, report.job_id).kind == "daily_report"
        SimpleWorker(all_queues(), connection=redis_connection()).work(burst=True)
        db.session.expire_all()
        report = db.session.get(DailyReport, report.id)
        # 30 Nov: O7 5900 and D's 2000
        assert (report.status, report.gmv_fen, report.orders) == ("succeeded", 7900, 2)
        # Running the job again renders nothing twice and tells nobody twice.
        from worker.reports import render_daily_report

        job = db.session.get(Job, report.job_id)
        job.status = job.status.__class__("failed")
        db.session.commit()
        render_daily_report(report.job_id)
        managers = db.session.scalars(select(User.id).where(User.role == "manager")).all()
        assert len(managers) == 2
        assert db.session.scalar(select(func.count(Notification.id)).where(Notification.kind == "daily_report")) == 2
        notice = db.session.scalars(select(Notification).where(Notification.kind == "daily_report")).first()
        assert notice.data == {"day": "2026-11-30", "report": report.id, "gmv_fen": 7900, "orders": 2}
        report_id = report.id
    browser.login("boss@example.com", PASSWORD)
    page = browser.get("/manage/").get_data(as_text=True)
    assert "2026-11-30" in page and f"/manage/reports/{report_id}.pdf" in page
    pdf = browser.get(f"/manage/reports/{report_id}.pdf")
    assert pdf.status_code == 200 and pdf.data[:4] == b"%PDF"
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.data, capture_output=True, check=True).stdout.decode()
    assert "每日简报 2026-11-30" in text
    # November so far: 54600 GMV; yesterday 7900
    assert "¥546.00" in text and "¥79.00" in text and "推客A" in text
    assert browser.get(f"/manage/reports/{report_id + 1}.pdf").status_code == 404


def test_bar_chart_svg_scales_to_the_largest_bar():
    svg = daily_report.bar_chart_svg([("11-01", 100), ("11-02", 0), ("11-03", 50)], "#123456", width=68, height=124)
    # plot height 124 − 18 − 6 = 100: bars of 100 and 50
    assert '<rect x="8" y="6" width="18" height="100" fill="#123456"/>' in svg
    assert '<rect x="48" y="56" width="18" height="50" fill="#123456"/>' in svg
    assert 'fill="#d9363e"' in daily_report.bar_chart_svg([("a", 1)], "red;x")
