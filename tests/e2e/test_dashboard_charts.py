"""The manager's dashboard in a real browser: the ECharts trend charts draw from the JSON
endpoint under the strict CSP (no violation, no script error), after a full load and after
an htmx-boosted navigation from another page; a card's explanation opens on tap."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_charts_draw_under_the_csp_after_a_load_and_a_boosted_navigation(desktop, manager_cookies, live_server):
    page = desktop.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    desktop.add_cookies(manager_cookies)
    page.goto("/manage/")
    page.goto(f"{live_server.url}/manage/?range=30d")
    expect(page.locator(".dash-chart canvas")).to_have_count(3, timeout=15_000)
    card = page.locator('[data-card="churn"]')
    card.locator("summary").click()
    expect(card.locator("details p")).to_contain_text("前 20％")

    page.get_by_role("navigation", name="管理导航").get_by_role("link", name="订单").click()
    expect(page).to_have_url(f"{live_server.url}/manage/orders")
    page.get_by_role("navigation", name="管理导航").get_by_role("link", name="概览").click()
    expect(page).to_have_url(f"{live_server.url}/manage/")
    expect(page.locator(".dash-chart canvas")).to_have_count(3, timeout=15_000)
    assert not problems, problems
