"""The manager runs the system check from 后台任务 and watches it finish: proof that the real
worker takes jobs from Redis and reports back through the database."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import login

pytestmark = pytest.mark.e2e


def test_manager_runs_the_system_check_and_sees_it_finish(desktop, live_server):
    demo = live_server.demo
    page = desktop.new_page()
    login(page, demo.manager_login, demo.password)
    expect(page).to_have_url(f"{live_server.url}/manage/")

    page.get_by_role("navigation", name="管理导航").get_by_role("link", name="后台任务").click()
    expect(page).to_have_url(f"{live_server.url}/manage/jobs")
    expect(page.get_by_role("heading", name="后台任务").first).to_be_visible()

    page.get_by_role("button", name="运行系统自检").click()
    expect(page).to_have_url(re.compile(re.escape(live_server.url) + r"/manage/jobs/\d+$"))
    job_id = page.url.rsplit("/", 1)[1]
    widget = page.locator(f"#job-{job_id}")
    expect(widget).to_be_visible()

    # The widget polls itself until the worker has finished the job.
    expect(widget.locator(".badge")).to_have_text("已完成", timeout=30_000)
    expect(widget.locator("progress")).to_have_attribute("value", "100")
    results = dict(
        zip(widget.locator("dl.result dt").all_inner_texts(), widget.locator("dl.result dd").all_inner_texts(), strict=True)
    )
    assert results["数据库"] == live_server.database, results
    assert re.fullmatch(r"\d+\.\d+\.\d+", results["Redis"]), results
    assert int(results["推客数"]) >= 50, results  # other e2e tests may sign up more
    assert int(results["订单数"]) > 0, results
    # Once done, it stops polling: no request for the job for two seconds.
    polls = []
    page.on("request", lambda r: polls.append(r.url) if f"/manage/jobs/{job_id}" in r.url else None)
    page.wait_for_timeout(2_000)
    assert polls == []

    # The job list shows it as finished too.
    page.get_by_role("link", name="返回任务列表").click()
    expect(page).to_have_url(f"{live_server.url}/manage/jobs")
    row = page.locator("table tbody tr", has=page.get_by_role("link", name=job_id, exact=True))
    expect(row).to_contain_text("系统自检")
    expect(row).to_contain_text("已完成")

    desktop.watch.assert_clean()
