"""Form pages that answer 4xx (a bad field, a refused login, a missing CSRF token) carry no
inline style or script: under the strict CSP the browser would refuse it and log a violation."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Browser
from tests.support.factories import PASSWORD

INLINE = re.compile(r"<style\b|\sstyle\s*=|<script(?![^>]*\ssrc=)[^>]*>|\son[a-z]+\s*=", re.I)


def assert_no_inline(response, what):
    assert 400 <= response.status_code < 500, (what, response.status_code)
    html = response.get_data(as_text=True)
    found = INLINE.search(html)
    assert found is None, (what, html[max(0, found.start() - 80):found.end() + 80])
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.fixture
def boss(app, make):
    make.brand()
    make.promoter(name="推客", phone="13600000001")
    browser = Browser(app.test_client())
    browser.login("boss@example.com", PASSWORD)
    return browser


def test_manager_forms_that_answer_4xx_have_no_inline_style(app, boss):
    cases = [
        ("/manage/settings/brand", {"name": "", "short_name": "", "theme_color": "red"}),
        ("/manage/settings/withdrawals", {"min_amount": "abc"}),
        ("/manage/settings/programme", {"commission_depth": "9"}),
        ("/manage/products/new", {"sku": "", "name": ""}),
        ("/manage/materials/new", {"title": ""}),
        ("/manage/suppliers/new", {"code": "", "name": ""}),
        ("/manage/commission", {"action": "save", "rule_count": "1", "depth": "2", "r0_rate": "abc"}),
    ]
    for url, data in cases:
        assert_no_inline(boss.post(url, data, token_from=url), url)
        assert_no_inline(boss.client.post(url, data=data), url + " without CSRF")


def test_sign_in_sign_up_and_promoter_forms_that_answer_4xx_have_no_inline_style(app, boss, make):
    anonymous = Browser(app.test_client())
    assert_no_inline(anonymous.login("13600000001", "wrong"), "login")
    inviter = make.promoter(name="邀请人", phone="13600000002")
    assert_no_inline(anonymous.post(f"/j/{inviter.code}", {"name": "", "phone": "1", "password": "x"}), "join")
    promoter = Browser(app.test_client())
    promoter.login("13600000001", PASSWORD)
    assert_no_inline(promoter.post("/promoter/withdraw", {"amount": "abc"}), "withdraw")
    assert_no_inline(promoter.post("/promoter/payout-account", {"password": "x"}), "payout account")
    assert_no_inline(promoter.post("/auth/password", {"current": "x", "new": "y"}), "password")
