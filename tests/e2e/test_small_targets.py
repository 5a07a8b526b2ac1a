"""The small controls the walk found too small or unmarked: the manager's ↑/↓ buttons on the
materials list (44×44 and they move the row, saved), and the join page's link in running
text (underlined, not told apart by colour alone)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_manager_move_buttons_are_44px_and_move_the_row(desktop, manager_cookies, live_server):
    page = desktop.new_page()
    desktop.add_cookies(manager_cookies)
    page.goto("/manage/")
    page.goto("/manage/materials")
    rows = page.locator("tbody[data-sortable] tr.sortable-row")
    assert rows.count() >= 2
    for button in page.locator("[data-move]").all():
        box = button.bounding_box()
        assert box is not None and box["width"] >= 44 and box["height"] >= 44, box

    # Pinned materials always come first, so move the last two unpinned ones past each other.
    unpinned = page.locator("tbody[data-sortable] tr.sortable-row:not(:has(.badge-pinned))")
    assert unpinned.count() >= 2
    before = [r.get_attribute("data-id") for r in unpinned.all()]
    moving = unpinned.nth(len(before) - 2)
    moving_id = moving.get_attribute("data-id")
    moving.get_by_role("button", name="下移").click()
    expect(page.locator(".toast, [role=status]").filter(has_text="顺序已保存。").first).to_be_visible()
    page.reload()
    after = [r.get_attribute("data-id") for r in page.locator(
        "tbody[data-sortable] tr.sortable-row:not(:has(.badge-pinned))").all()]
    assert after[-1] == moving_id and after[:-2] == before[:-2], (before, after)
    desktop.watch.assert_clean()


def test_the_join_pages_login_link_is_underlined(browser, promoter_phone, live_server):
    inviter = promoter_phone.new_page()
    inviter.goto("/promoter/invite")
    invite_url = inviter.locator(".invite-url code").inner_text().strip()
    friend = promoter_phone.browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740},
                                                locale="zh-CN")
    page = friend.new_page()
    page.goto(invite_url)
    link = page.locator(".hint a", has_text="登录")
    expect(link).to_be_visible()
    assert "underline" in link.evaluate("(el) => getComputedStyle(el).textDecorationLine")
    friend.close()
