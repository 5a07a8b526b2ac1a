"""The promoter's phone app as a person uses it: sign in, the five tabs, the language switch,
installing it (manifest + service worker) and what it shows with no network."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import CHROMIUM, CHROMIUM_ARGS, PHONE, PageWatch, login

pytestmark = pytest.mark.e2e

CJK = re.compile(r"[\u3400-\u9fff]")


def tabbar(page):
    return page.get_by_role("navigation", name=re.compile("主导航|Main", re.I))


def active_tab(page):
    return page.locator("nav.tabbar a[aria-current=page]")


def assert_no_sideways_scroll(page) -> None:
    """Nothing on a phone page is wider than the phone."""
    width, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{page.url} is {width}px wide on a {inner}px screen"


def wait_for_service_worker(page) -> None:
    """Until the service worker is active and controls this page (it claims open clients)."""
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=10_000)


def test_promoter_signs_in_and_taps_through_the_five_tabs(phone, live_server):
    demo = live_server.demo
    page = phone.new_page()
    login(page, demo.promoter_login, demo.password)

    expect(page).to_have_url(f"{live_server.url}/promoter/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(active_tab(page)).to_have_count(1)
    expect(active_tab(page)).to_have_text("首页")
    expect(page.locator(".topbar-title")).to_have_text(demo.brand_name)
    expect(page.get_by_role("heading", name=f"你好，{demo.promoter_name}")).to_be_visible()
    expect(page.get_by_text("本月收益")).to_be_visible()
    expect(page.get_by_text("可提现")).to_be_visible()
    expect(page.get_by_role("heading", name="新订单")).to_be_visible()
    expect(page.get_by_role("heading", name="现在就分享")).to_be_visible()
    expect(page.locator(".material-pick").first).to_contain_text("明前龙井 · 今春头采")  # the pinned one
    assert page.locator(".order-list .order").count() > 0, "the demo promoter has orders"

    # Each tab: (label, path, heading in the top bar, something that page shows)
    main = page.locator("#main > *").first
    tabs = [
        ("素材", "/promoter/materials", "推广素材", main),
        ("订单", "/promoter/orders", "我的订单", page.locator("#order-list .order").first),
        ("钱包", "/promoter/wallet", "我的钱包", main),
        ("我的", "/promoter/me", "我的", page.get_by_role("button", name="退出登录")),
        ("首页", "/promoter/", demo.brand_name, page.get_by_role("heading", name=f"你好，{demo.promoter_name}")),
    ]
    for label, path, heading, content in tabs:
        tabbar(page).get_by_role("link", name=label, exact=True).tap()
        expect(page).to_have_url(f"{live_server.url}{path}")
        expect(page.locator(".topbar-title")).to_have_text(heading)
        expect(active_tab(page)).to_have_text(label)
        expect(content).to_be_visible()
        expect(page).to_have_title(re.compile(re.escape(label) + r" · "))
        assert_no_sideways_scroll(page)

    # The profile page names the promoter.
    tabbar(page).get_by_role("link", name="我的", exact=True).tap()
    expect(page.locator(".profile h2")).to_have_text(demo.promoter_name)
    expect(page.locator(".profile")).to_contain_text(demo.promoter_login)

    phone.watch.assert_clean()


def test_language_switch_turns_the_app_english_and_back(promoter_phone, live_server):
    page = promoter_phone.new_page()
    page.goto("/promoter/orders")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    page.locator(".topbar .lang-switch").get_by_role("link", name="English").click()

    # Same page, now in English.
    expect(page).to_have_url(f"{live_server.url}/promoter/orders")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".topbar .lang-switch [aria-current]")).to_have_text("English")
    labels = page.locator("nav.tabbar a span")
    expect(labels).to_have_count(6)  # the demo promoter is a partner: the five tabs and Team
    expect(labels.first).to_have_text("Home")
    expect(tabbar(page).get_by_role("link", name="Team")).to_be_visible()
    for label in labels.all_inner_texts():
        assert not CJK.search(label), f"tab label {label!r} is not translated"
    assert not CJK.search(page.locator(".topbar-title").inner_text()), "page heading not translated"
    assert_no_sideways_scroll(page)
    # It sticks: another page is English too.
    tabbar(page).get_by_role("link", name="Home").tap()
    expect(page).to_have_url(f"{live_server.url}/promoter/")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.locator(".topbar .lang-switch").get_by_role("link", name="中文").click()
    expect(page).to_have_url(f"{live_server.url}/promoter/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(active_tab(page)).to_have_text("首页")

    promoter_phone.watch.assert_clean()


@pytest.fixture
def installable_phone(playwright_driver, live_server, promoter_cookies, tmp_path):
    """Chromium never offers to install from an incognito profile, and every
    ``browser.new_context()`` is one; installability needs a real (persistent) profile."""
    context = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        base_url=live_server.url, **PHONE,
    )
    context.set_default_timeout(10_000)
    watch = PageWatch(live_server.url)
    watch.attach(context)
    for page in context.pages:
        watch._watch_page(page)
    context.watch = watch
    context.add_cookies(promoter_cookies)
    yield context
    context.close()


def test_the_promoter_app_is_installable(installable_phone, live_server):
    context = installable_phone
    page = context.pages[0] if context.pages else context.new_page()
    page.goto("/promoter/")
    wait_for_service_worker(page)

    cdp = context.new_cdp_session(page)
    assert cdp.send("Page.getAppManifest")["errors"] == []
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []

    manifest = page.evaluate(
        """async () => {
             const link = document.querySelector('link[rel=manifest]');
             const r = await fetch(link.href);
             return {type: r.headers.get('content-type'), body: await r.json()};
           }"""
    )
    assert manifest["type"].startswith("application/manifest+json")
    body = manifest["body"]
    assert body["name"] == live_server.demo.brand_name
    assert body["short_name"] and len(body["short_name"]) <= 12
    assert body["display"] == "standalone"
    assert body["start_url"].startswith("/promoter/")
    assert body["scope"] == "/"
    assert body["lang"] == "zh-CN"
    theme = page.locator("meta[name=theme-color]").get_attribute("content")
    assert body["theme_color"].lower() == theme.lower()
    sizes = {(icon["sizes"], icon.get("purpose", "any")) for icon in body["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes

    # Every icon is a real PNG of the size the manifest claims.
    for icon in body["icons"]:
        width, height, kind = page.evaluate(
            """async (src) => {
                 const r = await fetch(src);
                 const bitmap = await createImageBitmap(await r.blob());
                 return [bitmap.width, bitmap.height, r.headers.get('content-type')];
               }""",
            icon["src"],
        )
        assert kind == "image/png", icon
        assert f"{width}x{height}" == icon["sizes"], icon

    context.watch.assert_clean()


def test_offline_navigation_shows_the_offline_page(promoter_phone, live_server):
    page = promoter_phone.new_page()
    page.goto("/promoter/")
    wait_for_service_worker(page)

    promoter_phone.set_offline(True)
    response = page.goto("/promoter/orders")
    assert response is not None and response.from_service_worker
    expect(page.get_by_role("heading", level=1)).to_have_text("网络已断开")
    expect(page.get_by_text("当前没有网络连接")).to_be_visible()
    # The precached stylesheet still applies: the page is not unstyled.
    assert page.evaluate("() => document.styleSheets.length > 0 && document.styleSheets[0].cssRules.length > 0")

    # Back online, 重试 takes the promoter home again.
    promoter_phone.set_offline(False)
    page.get_by_role("link", name="重试").click()
    expect(page).to_have_url(f"{live_server.url}/promoter/")
    expect(active_tab(page)).to_have_text("首页")

    # While offline, the browser itself logs the failed navigation fetch.
    promoter_phone.watch.assert_clean(allow_console=("net::ERR_INTERNET_DISCONNECTED",))


def test_tapping_a_tab_offline_shows_the_offline_page(promoter_phone, live_server):
    """A tab is a boosted link: offline, htmx could not send it and the tap did nothing."""
    page = promoter_phone.new_page()
    page.goto("/promoter/")
    wait_for_service_worker(page)
    promoter_phone.set_offline(True)
    tabbar(page).get_by_role("link", name="钱包", exact=True).tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("网络已断开")
    expect(page.get_by_text("当前没有网络连接")).to_be_visible()
    promoter_phone.set_offline(False)
    promoter_phone.watch.assert_clean(allow_console=("net::ERR_INTERNET_DISCONNECTED",))


def test_no_page_breaks_the_content_security_policy(promoter_phone, live_server):
    """Every page the promoter sees, loaded both in full and through htmx navigation."""
    phone = promoter_phone
    page = phone.new_page()
    # (The offline page is checked in its own test, served by the service worker.)
    paths = ["/promoter/", "/promoter/materials", "/promoter/orders", "/promoter/wallet", "/promoter/me",
             "/auth/password"]
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("load")
    page.goto("/promoter/")
    for label in ("素材", "订单", "钱包", "我的", "首页"):
        tabbar(page).get_by_role("link", name=label, exact=True).tap()
        expect(active_tab(page)).to_have_text(label)
    # Scrolling the order list loads the next page through htmx.
    page.goto("/promoter/orders")
    page.mouse.wheel(0, 20_000)
    page.wait_for_load_state("networkidle")
    phone.watch.assert_clean()


CONTRAST = """(el) => {
  function rgb(text) { return text.match(/[\\d.]+/g).slice(0, 3).map(Number); }
  function lum(c) { return c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
                     .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0); }
  let back = el, bg = "rgba(0, 0, 0, 0)";
  while (back && (bg === "rgba(0, 0, 0, 0)" || bg === "transparent")) { bg = getComputedStyle(back).backgroundColor; back = back.parentElement; }
  const style = getComputedStyle(el);
  const a = lum(rgb(style.color)), b = lum(rgb(bg));
  return {ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), opacity: Number(style.opacity)};
}"""


def test_tap_targets_are_44px_and_the_reported_contrast_failures_pass(promoter_phone, live_server):
    page = promoter_phone.new_page()
    checks = [("/promoter/", ".topbar .lang-switch a"), ("/promoter/", ".topbar .bell"), ("/promoter/me", ".menu .lang-switch a"),
              ("/promoter/materials", ".chip-row:not(.small) .chip"),
              ("/promoter/notifications", ".toggle-list input[type=checkbox]"),
              ("/promoter/", ".card-head a")]
    for url, selector in checks:
        page.goto(url)
        targets = page.locator(selector)
        assert targets.count() > 0, (url, selector)
        for i in range(targets.count()):
            box = targets.nth(i).bounding_box()
            if box is None:  # scrolled out of a chip row: still a box, but not laid out here
                continue
            assert box["width"] >= 44 and box["height"] >= 44, (url, selector, i, box)
    page.goto("/promoter/")
    english = page.locator(".topbar .lang-switch a").first
    result = english.evaluate(CONTRAST)
    assert result["opacity"] == 1 and result["ratio"] >= 4.5, result
    page.goto("/promoter/orders")
    paid = page.locator(".badge.status-paid").first
    if paid.count():
        assert paid.evaluate(CONTRAST)["ratio"] >= 4.5
    promoter_phone.watch.assert_clean()
