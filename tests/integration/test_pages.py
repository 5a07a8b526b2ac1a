"""What the promoter and the manager see, and what they may not see."""

import re

import pytest

from distweb.models.network import PromoterStatus
from distweb.models.order import OrderStatus
from tests.support.factories import PASSWORD

TABS = ["首页", "素材", "订单", "钱包", "我的"]


@pytest.fixture
def promoter_browser(browser, make):
    promoter = make.promoter(name="张伟", phone="13700000001")
    browser.login("13700000001", PASSWORD)
    browser.promoter = promoter
    return browser


def test_promoter_shell_has_the_five_tabs_with_the_current_one_marked(promoter_browser):
    for url, label in [("/promoter/", "首页"), ("/promoter/materials", "素材"), ("/promoter/orders", "订单"),
                       ("/promoter/wallet", "钱包"), ("/promoter/me", "我的")]:
        html = promoter_browser.get(url).get_data(as_text=True)
        tabbar = html.split('class="tabbar"', 1)[1]
        assert [t for t in TABS if f"<span>{t}</span>" in tabbar] == TABS
        current = re.search(r'class="tab active" aria-current="page">.*?<span>(.+?)</span>', tabbar, re.S)
        assert current.group(1) == label


def test_home_shows_this_months_sales_and_team_from_real_orders(promoter_browser, make):
    me = promoter_browser.promoter
    product = make.product(price_fen=123456)
    make.order(me, product, quantity=1)
    make.order(me, product, quantity=1, status=OrderStatus.CANCELLED)  # not a sale
    make.promoter(name="下级一", upline=me)
    html = promoter_browser.get("/promoter/").get_data(as_text=True)
    stats = html.split('class="stat-grid"', 1)[1].split("</section>", 1)[0]
    assert stats.count("¥1,234.56") == 2  # today and this month; the cancelled order is no sale
    assert stats.count("1 单") == 2
    assert re.search(r"直属团队</span><strong class=\"stat-value\">1</strong>", stats)


def test_home_counts_only_my_sales_of_today_and_this_month_and_my_active_team(promoter_browser, make):
    me = promoter_browser.promoter
    other = make.promoter(name="别人")
    product = make.product(price_fen=10000)
    make.order(me, product, quantity=2)  # today: ¥200.00
    make.order(me, product, quantity=1, days_ago=40)  # an earlier month: neither figure
    make.order(me, product, quantity=1, status=OrderStatus.CREATED)  # not paid: no sale
    make.order(other, product, quantity=5)  # someone else's sale
    make.promoter(name="下级一", upline=me)
    make.promoter(name="下级二", upline=me, status=PromoterStatus.SUSPENDED)
    make.promoter(name="二级", upline=other)
    html = promoter_browser.get("/promoter/").get_data(as_text=True)
    stats = html.split('class="stat-grid"', 1)[1].split("</section>", 1)[0]
    assert stats.count("¥200.00") == 2 and "¥500.00" not in stats
    assert re.search(r"直属团队</span><strong class=\"stat-value\">1</strong>", stats)


def test_home_lists_my_five_latest_orders_newest_first(promoter_browser, make):
    me = promoter_browser.promoter
    product = make.product(price_fen=100)
    numbers = [make.order(me, product, quantity=q).external_id for q in range(1, 8)]
    html = promoter_browser.get("/promoter/").get_data(as_text=True)
    latest = html.split('class="order-list"', 1)[1].split("</ul>", 1)[0]
    assert re.findall(r'class="order-no">([^<]+)<', latest) == numbers[::-1][:5]
    assert "¥7.00" in latest and "已付款" in latest


def test_orders_tab_lists_only_my_orders_and_pages_with_htmx(promoter_browser, make):
    me = promoter_browser.promoter
    other = make.promoter(name="别人")
    product = make.product(price_fen=1000)
    mine = [make.order(me, product) for _ in range(25)]
    theirs = make.order(other, product)
    page = promoter_browser.get("/promoter/orders").get_data(as_text=True)
    assert theirs.external_id not in page
    assert page.count('class="order"') == 20
    assert 'hx-trigger="revealed"' in page
    more = promoter_browser.get(f"/promoter/orders?before={mine[5].id}", headers={"HX-Request": "true"})
    fragment = more.get_data(as_text=True)
    assert "<html" not in fragment  # a fragment, not a page
    assert fragment.count('class="order"') == 5
    assert more.headers["Vary"] == "HX-Request" or "HX-Request" in more.headers["Vary"]


def test_boosted_navigation_and_history_restore_get_the_whole_page(promoter_browser):
    for headers in ({"HX-Request": "true", "HX-Boosted": "true"},
                    {"HX-Request": "true", "HX-History-Restore-Request": "true"}):
        html = promoter_browser.get("/promoter/orders", headers=headers).get_data(as_text=True)
        assert html.startswith("<!doctype html>")


def test_a_promoter_cannot_open_the_manager_console(promoter_browser):
    assert promoter_browser.get("/manage/").status_code == 403
    assert promoter_browser.get("/manage/orders").status_code == 403
    assert promoter_browser.get("/supplier/").status_code == 403


def test_a_manager_cannot_open_the_promoter_app(browser, make):
    make.brand()
    browser.login("boss@example.com", PASSWORD)
    assert browser.get("/promoter/").status_code == 403


def test_manager_console_pages_show_real_data(browser, make):
    me = make.promoter(name="赵敏", phone="13700000002")
    product = make.product(sku="TEA-009", price_fen=5900)
    order = make.order(me, product, quantity=2)
    browser.login("boss@example.com", PASSWORD)
    overview = browser.get("/manage/").get_data(as_text=True)
    assert "¥118.00" in overview and order.external_id in overview
    assert "赵敏" in browser.get("/manage/promoters").get_data(as_text=True)
    assert order.external_id in browser.get("/manage/orders").get_data(as_text=True)
    products = browser.get("/manage/products").get_data(as_text=True)
    assert "TEA-009" in products and "¥59.00" in products


def test_every_page_carries_a_strict_csp_and_no_inline_script(promoter_browser):
    response = promoter_browser.get("/promoter/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert response.headers["Cache-Control"] == "no-store"


def test_language_switch_is_on_every_page_and_remembers_the_choice(promoter_browser):
    html = promoter_browser.get("/promoter/").get_data(as_text=True)
    assert 'class="lang-switch"' in html and '<html lang="zh-CN">' in html
    response = promoter_browser.get("/lang/en?next=/promoter/me")
    assert response.status_code == 302 and response.headers["Location"].endswith("/promoter/me")
    english = promoter_browser.get("/promoter/me").get_data(as_text=True)
    assert '<html lang="en">' in english


def test_language_switch_refuses_offsite_next_and_unknown_codes(client, make):
    make.brand()
    response = client.get("/lang/xx?next=https://evil.example/")
    assert response.status_code == 302 and "evil" not in response.headers["Location"]
    assert "lang=" not in response.headers.get("Set-Cookie", "")


def test_unknown_url_is_a_friendly_404_in_chinese(client, make):
    make.brand()
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_api_paths_get_json_errors(client, make):
    make.brand()
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_oversized_request_is_a_413_not_a_crash(browser, make, app):
    make.brand()
    body = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = browser.client.post("/auth/login", data=body, content_type="application/octet-stream")
    assert response.status_code == 413
    assert "内容过大" in response.get_data(as_text=True)


def test_healthz_reports_database_and_redis(client, make):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["database"], body["redis"]) == ("ok", "ok")
    assert set(body) == {"database", "redis", "worker", "queue"}  # and the queue's figures (test_webhooks)


def test_absurd_ids_in_urls_are_404s_or_first_pages_never_500s(promoter_browser):
    assert promoter_browser.get("/promoter/orders/99999999999999999999").status_code == 404
    assert promoter_browser.get("/promoter/orders?before=99999999999999999999").status_code == 200
    assert promoter_browser.get("/promoter/team?before=3000000000").status_code == 200


def test_home_shows_earnings_balances_and_the_materials_to_share_now(promoter_browser, make, app):
    from distweb.services import materials, orders
    from distweb.services.accounts import current_brand

    me = promoter_browser.promoter
    make.product(sku="TEA-1", price_fen=5900)  # the default plan pays level 1 ten per cent
    with app.app_context():
        brand = current_brand()
        order = orders.place_order(brand, orders.OrderInput(
            external_id=None, mode="promotion", promoter_code=me.code, source="shop",
            items=[orders.ItemInput(sku="TEA-1", quantity=2)], buyer=orders.BuyerInput("买家", "13900000001", "上海")))
        orders.mark_paid(brand.id, order.id)
        for title in ("素材一", "素材二", "素材三", "素材四"):
            materials.save_material(brand.id, materials.MaterialInput(title=title))
        pinned = materials.save_material(brand.id, materials.MaterialInput(title="置顶的", pinned=True))
        pinned_id = pinned.id
    html = promoter_browser.get("/promoter/").get_data(as_text=True)
    earnings = html.split('aria-label="收益"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r'stat-value">([^<]+)<', earnings) == ["¥11.80", "¥11.80", "0"]
    assert earnings.count("自售 1 单 · ¥118.00") == 2  # one order (of two units), today and this month
    wallet = html.split('aria-label="钱包"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r'stat-value">([^<]+)<', wallet) == ["¥11.80", "¥0.00"]
    picks = html.split("现在就分享", 1)[1].split("</section>", 1)[0]
    assert re.findall(r"<strong>(.+?)</strong>", picks) == ["置顶的", "素材四", "素材三"]
    assert f"/promoter/materials/{pinned_id}" in picks
    assert 'id="install-card"' in html  # the install prompt, shown by app.js where installable
    card = promoter_browser.get(f"/promoter/materials/{pinned_id}").get_data(as_text=True)
    assert "<h3>置顶的</h3>" in card and "一键分享" in card


def test_the_shared_parts_of_the_shell_follow_the_language_the_tab_the_page_and_the_brand(promoter_browser, app):
    """The <head>, the tab bar, the language switch and the logo are rendered once and reused
    (distweb.web.fragments): each must still change with what it shows."""
    from distweb.extensions import db
    from distweb.models import Brand

    def shell(url):
        html = promoter_browser.get(url).get_data(as_text=True)
        tabbar = html.split('class="tabbar"', 1)[1].split("</nav>", 1)[0]
        active = re.search(r'class="tab active" aria-current="page">.*?<span>([^<]+)</span>', tabbar, re.S).group(1)
        switch = html.split('class="lang-switch"', 1)[1].split("</nav>", 1)[0]
        theme = re.search(r'<meta name="theme-color" content="([^"]+)"', html).group(1)
        logo_alt = re.search(r'<img class="logo" [^>]*alt="([^"]*)"', html).group(1)
        return active, switch, theme, logo_alt

    active, switch, theme, logo_alt = shell("/promoter/")
    assert active == "首页" and "next=/promoter/" in switch and "English" in switch
    active, switch, _, _ = shell("/promoter/orders")
    assert active == "订单" and "next=/promoter/orders" in switch
    promoter_browser.client.set_cookie("lang", "en", domain="distweb.test")
    active, switch, _, _ = shell("/promoter/orders")
    assert active == "Orders" and "中文" in switch
    promoter_browser.client.set_cookie("lang", "zh-CN", domain="distweb.test")
    with app.app_context():
        brand = db.session.get(Brand, promoter_browser.promoter.brand_id)
        old_theme, brand.name, brand.theme_color = brand.theme_color, "新名字茶社", "#0a7d4f"
        db.session.commit()
    assert theme == old_theme != "#0a7d4f"
    active, _, theme, logo_alt = shell("/promoter/")
    assert (active, theme, logo_alt) == ("首页", "#0a7d4f", "新名字茶社")


def test_the_home_opened_again_shows_what_changed_since(promoter_browser, make, app):
    """The home's figures are kept under the promoter's data version and its markup by its
    inputs: opening it again must still show a new order, a new name, another language and a
    new team member at once."""
    from distweb.extensions import db
    from distweb.models import User

    me = promoter_browser.promoter
    product = make.product(price_fen=1000)
    make.order(me, product, quantity=1)

    def home():
        html = promoter_browser.get("/promoter/").get_data(as_text=True)
        stats = html.split('class="stat-grid"', 1)[1].split("</section>", 1)[0]
        latest = html.split('class="order-list"', 1)[1].split("</ul>", 1)[0]
        greeting = re.search(r'<section class="hello">\s*<h2>([^<]+)</h2>', html).group(1)
        return stats, re.findall(r'class="order-no">([^<]+)<', latest), greeting

    stats, numbers, greeting = home()
    assert stats.count("¥10.00") == 2 and len(numbers) == 1 and greeting == "你好，张伟"
    assert home() == (stats, numbers, greeting)  # nothing new: the same page
    newest = make.order(me, product, quantity=3)
    stats, numbers, _ = home()
    assert stats.count("¥40.00") == 2 and numbers[0] == newest.external_id and len(numbers) == 2
    with app.app_context():
        db.session.get(User, me.user_id).name = "张伟伟"
        db.session.commit()
    assert home()[2] == "你好，张伟伟"
    make.promoter(name="新下级", upline=me)
    assert re.search(r"直属团队</span><strong class=\"stat-value\">1</strong>", home()[0])
    promoter_browser.client.set_cookie("lang", "en", domain="distweb.test")
    html = promoter_browser.get("/promoter/").get_data(as_text=True)
    assert "Hello, 张伟伟" in html and "你好" not in html


def test_a_brand_in_another_time_zone_gets_its_own_today(promoter_browser, make, app, monkeypatch):
    """Today is the brand's calendar day, and figures kept from before a change of the brand's
    time zone are not shown after it."""
    from datetime import UTC, datetime

    from distweb.extensions import db
    from distweb.models import Brand, Order
    from distweb.services import reports

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # 20:00 in Shanghai, 04:00 in Los Angeles
            return datetime(2026, 11, 28, 12, 0, tzinfo=UTC).astimezone(tz)

    monkeypatch.setattr(reports, "datetime", Frozen)
    me = promoter_browser.promoter
    product = make.product(price_fen=10000)
    order = make.order(me, product, quantity=1)
    with app.app_context():
        # 15:59 today in Shanghai, 23:59 yesterday in Los Angeles.
        db.session.get(Order, order.id).placed_at = datetime(2026, 11, 28, 7, 59, tzinfo=UTC)
        db.session.commit()

    def today_and_month():
        html = promoter_browser.get("/promoter/").get_data(as_text=True)
        earnings = html.split('aria-label="收益"', 1)[1].split("</section>", 1)[0]
        return re.findall(r"自售 (\d+) 单", earnings)

    assert today_and_month() == ["1", "1"]  # the brand in Shanghai, like the app
    with app.app_context():
        db.session.get(Brand, me.brand_id).timezone = "America/Los_Angeles"
        db.session.commit()
    assert today_and_month() == ["0", "1"]  # counted again in LA's day
    assert today_and_month() == ["0", "1"]
