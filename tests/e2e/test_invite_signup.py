"""A friend opens an invite link on a phone, signs up, and appears in the inviter's team."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.helpers import PHONE


def test_invite_link_sign_up_and_team(browser, promoter_phone, live_server):
    inviter_page = promoter_phone.new_page()
    inviter_page.goto("/promoter/invite")
    invite_url = inviter_page.locator(".invite-url code").inner_text().strip()
    assert re.search(r"/j/[A-Z2-9]{8}$", invite_url)
    expect(inviter_page.locator("img.qr")).to_be_visible()

    friends_phone = browser.new_context(base_url=live_server.url, **PHONE)  # a different person's phone
    friend = friends_phone.new_page()
    errors = []
    friend.on("pageerror", lambda err: errors.append(str(err)))
    friend.goto(invite_url)
    expect(friend.locator("h2")).to_contain_text("邀请你加入")
    friend.fill("#name", "新朋友小林")
    friend.fill("#phone", "13912345678")
    friend.fill("#password", "welcome2026")
    friend.check("#agree")
    friend.get_by_role("button", name="免费注册").click()
    expect(friend.locator(".hello h2")).to_have_text("你好，新朋友小林")

    inviter_page.goto("/promoter/team")
    expect(inviter_page.locator("#team-list")).to_contain_text("新朋友小林")
    expect(inviter_page.locator("#team-list")).to_contain_text("139****5678")
    assert not errors and not promoter_phone.watch.csp
    friends_phone.close()
