"""A friend opens an invite link on a phone, verifies the phone by SMS code, signs up, and
appears in the inviter's team."""

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
    friend.get_by_role("button", name="获取验证码").click()
    # the console sender of a fresh installation shows the code on the page (the demo)
    expect(friend.locator("#code-status")).to_contain_text("验证码已发送至 139****5678")
    code = friend.locator(".demo-code strong").inner_text()
    expect(friend.locator("#name")).to_have_value("新朋友小林")  # what was typed is kept
    expect(friend.locator(".btn-send-code")).to_be_disabled()  # counting down to a resend
    friend.fill("#code", code)
    friend.fill("#password", "welcome2026")
    friend.check("#agree")
    friend.get_by_role("button", name="免费注册").click()
    # the onboarding first: install, share, how the brand pays (its real rates)
    expect(friend.get_by_role("heading", name="你怎么赚钱")).to_be_visible()
    expect(friend.locator("#step-earn")).to_contain_text("实付金额的")
    friend.get_by_role("link", name="开始使用").click()
    expect(friend.locator(".hello h2")).to_have_text("你好，新朋友小林")

    inviter_page.goto("/promoter/team")
    expect(inviter_page.locator("#team-list")).to_contain_text("新朋友小林")
    expect(inviter_page.locator("#team-list")).to_contain_text("139****5678")
    assert not errors and not promoter_phone.watch.csp
    friends_phone.close()
