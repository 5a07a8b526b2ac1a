"""One-tap sharing on a phone: the promoter opens 素材, taps 一键分享 and the Web Share API
gets the copy, the promoter's own link and the poster as a PNG file; without the Web Share
API the same tap copies the text and offers the poster; a friend who follows the link is
counted as a click on that material."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import PHONE, PageWatch

pytestmark = pytest.mark.e2e

# Records what a page hands to the Web Share API (Chromium on Linux has none of its own).
FAKE_WEB_SHARE = """
window.__shared = [];
Object.defineProperty(Navigator.prototype, "canShare", {configurable: true, value: function (data) {
  return !!data && (!data.files || data.files.every(function (f) { return f.type === "image/png"; }));
}});
Object.defineProperty(Navigator.prototype, "share", {configurable: true, value: function (data) {
  window.__shared.push({
    title: data.title, text: data.text, url: data.url,
    files: (data.files || []).map(function (f) { return {name: f.name, type: f.type, size: f.size}; })
  });
  return Promise.resolve();
}});
"""
NO_WEB_SHARE = """
delete Navigator.prototype.share;
delete Navigator.prototype.canShare;
"""


def open_materials(context):
    page = context.new_page()
    page.goto("/promoter/")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="素材", exact=True).tap()
    expect(page).to_have_url(re.compile(r"/promoter/materials$"))
    expect(page.locator("article.material").first).to_be_visible()
    return page


def test_share_sends_link_and_poster_then_copy_fallback_then_the_click_counts(
    promoter_phone, browser, promoter_cookies, live_server
):
    # 1. Web Share with files: the text, the tracked link as the url, and the poster PNG.
    promoter_phone.add_init_script(FAKE_WEB_SHARE)
    page = open_materials(promoter_phone)
    card = page.locator("article.material").first
    expect(card.locator("h3")).to_have_text("明前龙井 · 今春头采")  # the pinned one leads
    expect(card.locator(".badge-pinned")).to_be_visible()
    link = card.locator("[data-material-share]").get_attribute("data-link")
    assert re.fullmatch(re.escape(live_server.url) + r"/r/[A-Z2-9]{8}/TEA-001\?m=\d+", link)
    with page.expect_response(lambda r: r.url.endswith("/shared") and r.request.method == "POST") as reported:
        card.get_by_role("button", name="一键分享").tap()
    assert reported.value.status == 204
    shared = page.evaluate("() => window.__shared")
    assert len(shared) == 1
    # the link once: as the url, not also in the text (targets that join them showed it twice)
    assert shared[0]["url"] == link and link not in shared[0]["text"] and shared[0]["text"].strip()
    assert shared[0]["files"][0]["type"] == "image/png" and shared[0]["files"][0]["name"] == "poster.png"
    assert shared[0]["files"][0]["size"] > 20_000
    assert "¥59.00" in card.locator(".material-product").inner_text()
    promoter_phone.watch.assert_clean()

    # 2. No Web Share API: the tap copies text + link, says so, and shows the poster to save.
    fallback = browser.new_context(base_url=live_server.url, **PHONE)
    fallback.set_default_timeout(10_000)
    fallback.watch = PageWatch(live_server.url)
    fallback.watch.attach(fallback)
    try:
        fallback.add_cookies(promoter_cookies)
        fallback.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        fallback.add_init_script(NO_WEB_SHARE)
        page = open_materials(fallback)
        card = page.locator("article.material").first
        card.get_by_role("button", name="一键分享").tap()
        expect(page.locator(".toast").filter(has_text="文案和链接已复制")).to_be_visible()
        sheet = page.locator("#poster-sheet")
        expect(sheet).to_be_visible()
        expect(sheet.locator("img.sheet-poster")).to_have_attribute("src", re.compile(r"/poster\.png$"))
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert link in copied and "明前龙井" in copied
        sheet.get_by_role("button", name="关闭").tap()
        expect(sheet).to_be_hidden()
        fallback.watch.assert_clean()
    finally:
        fallback.close()

    # 3. A friend follows the link on another phone: the shop's product page, one click counted.
    friend = browser.new_context(base_url=live_server.url, **PHONE)
    try:
        visit = friend.new_page()
        visit.goto(link)
        expect(visit).to_have_url(re.compile(r"/s/[A-Z2-9]{8}/p/TEA-001$"))
        expect(visit.get_by_text("明前龙井 250g").first).to_be_visible()
    finally:
        friend.close()
    page = promoter_phone.new_page()
    page.goto("/promoter/materials")
    figures = page.locator("article.material").first.locator(".material-figures")
    expect(figures).to_contain_text("点击 1")


WECHAT_UA = ("Mozilla/5.0 (Linux; Android 14; V2309A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0 "
             "Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MicroMessenger/8.0.47.2560(0x28002F30) "
             "WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64")


def test_inside_wechat_the_tap_shows_how_to_share_from_wechats_menu(browser, promoter_cookies, live_server):
    context = browser.new_context(base_url=live_server.url, **PHONE, user_agent=WECHAT_UA)
    context.set_default_timeout(10_000)
    context.watch = PageWatch(live_server.url)
    context.watch.attach(context)
    try:
        context.add_cookies(promoter_cookies)
        context.add_init_script(FAKE_WEB_SHARE)  # even with a Web Share API, WeChat's menu is the way
        page = open_materials(context)
        with page.expect_request(lambda r: r.url.endswith("/shared")) as reported:
            page.locator("article.material").first.get_by_role("button", name="一键分享").tap()
        assert reported.value.post_data == "channel=wechat"
        guide = page.locator("#wechat-guide")
        expect(guide).to_be_visible()
        expect(guide).to_contain_text("点击右上角「···」")
        expect(guide.locator("img.sheet-poster")).to_be_visible()  # long-press to save
        assert page.evaluate("() => window.__shared") == []
        guide.get_by_role("button", name="知道了").tap()
        expect(guide).to_be_hidden()
        context.watch.assert_clean()
    finally:
        context.close()
