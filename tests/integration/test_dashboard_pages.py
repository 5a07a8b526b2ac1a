"""The manager's dashboard pages show the API's figures: cards with their comparison, the
charts' JSON, and the tables (sorted, paged, exported)."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from sqlalchemy import update

from distweb.extensions import db
from distweb.models import Brand, Click, Material, MaterialEvent, MaterialOrder, Order, Promoter
from distweb.models.materials import MaterialEventKind
from distweb.services import dashboard
from distweb.services.tx import transaction
from tests.integration.test_dashboard import NOV, build_net, local
from tests.support.factories import PASSWORD

NOV_ARGS = "range=custom&from=2026-11-01&to=2026-11-30"


@pytest.fixture
def built(app, make, browser):
    with app.app_context():
        n = build_net(db.session.get(Brand, make.brand().id))
        with transaction():
            db.session.execute(update(Promoter).where(Promoter.code == n.codes["A"]).values(rank="partner"))
            o2 = db.session.query(Order).filter_by(brand_id=n.brand_id, total_paid_fen=11800).one()
            material = Material(brand_id=n.brand_id, title="春茶海报", body="")
            db.session.add(material)
            db.session.flush()
            a = n.p["A"].id
            db.session.add(MaterialEvent(brand_id=n.brand_id, material_id=material.id, promoter_id=a,
                                         kind=MaterialEventKind.SHARE, created_at=local("2026-11-03 09:00")))
            for minute in (1, 2):
                db.session.add(Click(brand_id=n.brand_id, promoter_id=a, material_id=material.id, ip_hash=f"h{minute}",
                                     created_at=local(f"2026-11-04 09:0{minute}")))
            db.session.add(MaterialOrder(order_id=o2.id, material_id=material.id, promoter_id=a))
        db.session.remove()
    browser.login("boss@example.com", PASSWORD)
    return n


def _card(html: str, key: str) -> str:
    match = re.search(rf'<article class="dash-card" data-card="{key}".*?</article>', html, re.S)
    assert match, key
    return match.group(0)


def test_cards_show_the_figures_and_the_change_on_the_previous_period(built, browser):
    response = browser.get(f"/manage/?{NOV_ARGS}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    gmv = _card(html, "gmv")
    # November 54600 against 2–31 October 44900: +9700 / 44900 = 21.60%
    assert "¥546.00" in gmv and "↑" in gmv and "21.60%" in gmv and "¥449.00" in gmv
    assert "¥386.00" in _card(html, "net")
    assert "¥160.00" in _card(html, "refunds")
    assert "¥46.55" in _card(html, "commission")
    # Frozen at the end of 30 Nov (brand time): October's 3900 and November's 4655 kept, by the
    # ledger's business time; the 2065 accrued in December (O6, H's and I's orders) is not yet.
    assert "¥85.55" in _card(html, "frozen") and "¥0.00" in _card(html, "available")
    assert "¥0.00" in _card(html, "paid_out")
    assert ">12<" in _card(html, "promoters_total") and ">4<" in _card(html, "promoters_new")
    assert ">6<" in _card(html, "promoters_active")
    sell = _card(html, "sell_through")
    assert "80.00%" in sell and "4 / 5" in sell
    assert "75.00%" in _card(html, "survival") and "3 / 4" in _card(html, "survival")
    churn = _card(html, "churn")
    assert "66.67%" in churn and "2 / 3" in churn
    assert "前 20％" in churn  # the one-line explanation
    # The vendored ECharts, by its fingerprinted name (distweb.web.static_files).
    assert "data-dashboard-charts" in html and re.search(r"js/vendor/echarts-6\.1\.0\.common\.min\.[0-9a-f]{12}\.js", html)
    # ECharts is loaded by the dashboard pages only.
    assert "echarts" not in browser.get("/manage/orders").get_data(as_text=True)


def test_the_pages_show_the_same_numbers_as_the_api(built, browser, app):
    with app.app_context():
        api = dashboard.summary(built.brand_id, NOV)
    html = browser.get(f"/manage/?{NOV_ARGS}").get_data(as_text=True)
    for row in api["top_promoters"]:
        assert row["code"] in html
    assert f"{api['sell_through']['sold']} / {api['sell_through']['listed']}" in html


def test_trend_json_by_day_and_by_week(built, browser):
    data = browser.get(f"/manage/dashboard/trend.json?{NOV_ARGS}").get_json()
    assert data["unit"] == "day" and len(data["buckets"]) == 30
    last = data["buckets"][-1]
    # 30 Nov: O7 5900 (B 590 + A 295) and D's 2000 (D 200); D joined that day
    assert last == {"start": "2026-11-30", "gmv_fen": 7900, "orders": 2, "commission_fen": 1085,
                    "new_promoters": 1, "active_promoters": 2, "gmv_text": "¥79.00", "commission_text": "¥10.85"}
    assert sum(b["gmv_fen"] for b in data["buckets"]) == 54600
    year = browser.get("/manage/dashboard/trend.json?range=custom&from=2026-01-01&to=2026-12-05").get_json()
    assert year["unit"] == "week" and year["buckets"][0]["start"] == "2026-01-01"
    assert sum(b["gmv_fen"] for b in year["buckets"]) == 44900 + 54600 + 5900 + 5900 + 5900
    assert sum(b["orders"] for b in year["buckets"]) == 7 + 9 + 3
    bad = browser.get("/manage/dashboard/trend.json?range=custom&from=2026-11-30&to=2026-11-01")
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "to"


def test_a_bad_custom_range_is_a_form_message(built, browser):
    response = browser.get("/manage/?range=custom&from=2026-11-30&to=2026-11-01")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "结束日期不能早于开始日期" in html and 'aria-invalid="true"' in html
    assert browser.get("/manage/?range=custom&from=nonsense&to=2026-11-01").status_code == 422
    assert browser.get("/manage/?range=whatever").status_code == 200  # an unknown preset: the default


def test_promoter_ranking_sorts_pages_and_exports(built, browser):
    codes = built.codes
    html = browser.get(f"/manage/dashboard/promoters?{NOV_ARGS}&sort=commission_fen&dir=desc").get_data(as_text=True)
    # Commission on November's orders: A 400+1180+0+295 = 1875, B 800+590 = 1390, C 590, J 300, M 300, D 200
    order = [m for m in re.findall(r"<td class=\"\">([A-Z0-9]{6,12})</td>", html)]
    assert order[:3] == [codes["A"], codes["B"], codes["C"]]
    assert "¥18.75" in html and "¥13.90" in html
    assert "共 6 行" in html
    csv = browser.get(f"/manage/dashboard/promoters.csv?{NOV_ARGS}&sort=gmv_fen&dir=desc").get_data(as_text=True)
    lines = csv.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("邀请码,姓名,GMV（元）,订单数,佣金（元）,团队人数")
    assert lines[1] == f"{codes['A']},推客A,218.00,2,18.75,1"
    assert len(lines) == 7
    xlsx = browser.get(f"/manage/dashboard/promoters.xlsx?{NOV_ARGS}&sort=gmv_fen&dir=desc")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    row = sheet[2]
    assert [row[0].value, row[1].value, row[3].value, row[5].value] == [codes["A"], "推客A", 2, 1]
    assert row[2].value == 218 and row[2].number_format == "0.00"  # ¥218.00, shown with its fen
    assert row[4].value == pytest.approx(18.75) and row[4].number_format == "0.00"
    # A sort key that is not a column falls back to the default; an unknown table is a 404.
    assert browser.get(f"/manage/dashboard/promoters?{NOV_ARGS}&sort=1;drop&dir=sideways&page=x").status_code == 200
    assert browser.get("/manage/dashboard/nothing").status_code == 404


def test_paging(built, browser, monkeypatch):
    from distweb.web.manage import dashboard as pages

    monkeypatch.setattr(pages, "TABLE_PAGE", 4)
    first = browser.get(f"/manage/dashboard/promoters?{NOV_ARGS}").get_data(as_text=True)
    second = browser.get(f"/manage/dashboard/promoters?{NOV_ARGS}&page=2").get_data(as_text=True)
    assert "第 1 / 2 页" in first and "第 2 / 2 页" in second
    assert built.codes["A"] in first and built.codes["A"] not in second
    assert built.codes["D"] in second  # sixth by GMV


def _table(browser, url: str) -> str:
    """The table body of a dashboard table page (not the page around it, whose CSRF token is random text)."""
    html = browser.get(url).get_data(as_text=True)
    return re.search(r"<tbody>.*?</tbody>", html, re.S).group(0)


def _first_cells(body: str) -> list[str]:
    return re.findall(r"<tr><td class=\"[^\"]*\">([^<]*)</td>", body)


def test_the_other_tables(built, browser):
    codes = built.codes
    products = _table(browser, f"/manage/dashboard/products?{NOV_ARGS}")
    assert _first_cells(products) == ["P1", "P2", "P3", "P4"] and "¥236.00" in products
    unsold = _table(browser, f"/manage/dashboard/unsold?{NOV_ARGS}")
    # P6 on sale and never sold; P5 listed after the period, P4 off sale, P1–P3 sold
    assert _first_cells(unsold) == ["P6"] and "¥15.00" in unsold and "—" in unsold
    teams = _table(browser, f"/manage/dashboard/teams?{NOV_ARGS}&rank=partner")
    # A's team: B (one member, active), B's November GMV 15900
    assert _first_cells(teams) == [codes["A"]] and "100.00%" in teams and "¥159.00" in teams
    cohorts = browser.get(f"/manage/dashboard/cohorts?{NOV_ARGS}").get_data(as_text=True)
    row = re.search(r"<tr><td class=\"\">2026-11</td>(.*?)</tr>", cohorts, re.S).group(1)
    cells = re.findall(r">([^<]*)</td>", row)
    # joined 4; within 7 days: C (O9, 5 days; cancelled later, still a paid order) and D;
    # 30 days: C D I; 90 days: all four (H sold on day 31)
    assert cells == ["4", "2", "50.00%", "3", "75.00%", "4", "100.00%"]
    churned = _table(browser, f"/manage/dashboard/churned?{NOV_ARGS}")
    assert sorted(_first_cells(churned)) == sorted([codes["K"], codes["L"]])
    assert "2026-10-06" in churned and "¥10.00" in churned
    funnel = browser.get(f"/manage/dashboard/materials?{NOV_ARGS}").get_data(as_text=True)
    row = re.search(r"<td class=\"\">春茶海报</td>(.*?)</tr>", funnel, re.S).group(1)
    assert re.findall(r">([^<]*)</td>", row) == ["1", "2", "1", "¥118.00"]
    csv = browser.get(f"/manage/dashboard/materials.csv?{NOV_ARGS}").get_data(as_text=True)
    assert "春茶海报,1,2,1,118.00" in csv


def _row_of(html: str, code: str) -> str:
    match = re.search(rf"<tr>(?:(?!</tr>).)*?<code>{code}</code>.*?</tr>", html, re.S)
    assert match, code
    return match.group(0)


def test_the_promoter_list_and_page_show_sales_commission_and_balances(built, browser, app):
    codes = built.codes
    with app.app_context():
        december = dashboard.this_month("Asia/Shanghai").start.isoformat() == "2026-12-01"
    html = browser.get("/manage/promoters").get_data(as_text=True)
    a = _row_of(html, codes["A"])
    cells = re.findall(r'data-col="(\w+)">([^<]*)<', a)
    # A sold O2 11800 and O5 10000 (cancelled); it keeps O1 400 + O2 1180 + O5 0 + O7 295 + O6 295
    # + O4 100 = 2270 (L1 on its own sales, L2 on B's), all of it still frozen (nothing settled).
    assert cells == [("month_gmv", "¥0.00"), ("gmv", "¥218.00"), ("commission", "¥22.70"), ("frozen", "¥22.70"),
                     ("available", "¥0.00")]
    b = dict(re.findall(r'data-col="(\w+)">([^<]*)<', _row_of(html, codes["B"])))
    # B's December: the order paid at 00:00 on 1 December (brand time)
    assert b["month_gmv"] == ("¥59.00" if december else "¥0.00")
    assert b["gmv"] == "¥248.00"  # O4 3000 + O1 10000 + O7 5900 + O6 5900
    # B keeps O4 300 − 100, O1 1000 − 200, O7 590, O6 590
    assert b["commission"] == "¥21.80"
    with app.app_context():
        a_id = db.session.query(Promoter.id).filter_by(code=codes["A"]).scalar()
    page = browser.get(f"/manage/promoters/{a_id}").get_data(as_text=True)
    figures = re.search(r'<section class="kpis promoter-figures".*?</section>', page, re.S).group(0)
    assert "¥218.00" in figures and "¥22.70" in figures and "2 单" in figures


def test_a_mentor_sees_its_team_this_month(app, make, browser):
    from distweb.models.network import Rank

    lead = make.promoter(name="导师甲", phone="13711110000", rank=Rank.MENTOR)
    x = make.promoter(name="成员乙", upline=lead)
    y = make.promoter(name="成员丙", upline=x)
    z = make.promoter(name="成员丁", upline=y)  # three levels down
    make.promoter(name="成员戊", upline=z)  # four levels down: not in the team
    tea = make.product(sku="TEA-001", price_fen=5900)
    make.order(x, tea, quantity=2)
    make.order(z, tea)
    make.order(lead, tea)  # the mentor's own sale is not its team's
    browser.login("13711110000", PASSWORD)
    team = browser.get("/promoter/team").get_data(as_text=True)
    assert "/promoter/team/stats" in team
    html = browser.get("/promoter/team/stats").get_data(as_text=True)
    month = re.search(r'<section class="card team-month".*?</section>', html, re.S).group(0)
    figures = dict(re.findall(r'data-figure="(\w+)">([^<]*)<', month))
    assert figures == {"gmv": "¥177.00", "orders": "2", "new": "3", "active": "66.67%"}
    assert "2 / 3" in month
    assert month.index("成员乙") < month.index("成员丁") and "导师甲" not in month and "成员戊" not in month


def test_a_plain_promoter_has_no_team_figures(make, browser):
    make.promoter(name="推客", phone="13722220000")
    browser.login("13722220000", PASSWORD)
    assert "/promoter/team/stats" not in browser.get("/promoter/team").get_data(as_text=True)
    assert browser.get("/promoter/team/stats").status_code == 403


def test_dashboard_pages_keep_the_strict_csp(built, browser):
    for url in (f"/manage/?{NOV_ARGS}", f"/manage/dashboard/teams?{NOV_ARGS}"):
        response = browser.get(url)
        html = response.get_data(as_text=True)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert not re.search(r"\sstyle=", html) and "<style" not in html
        assert not re.search(r"\son[a-z]+=", html)


def test_presets_and_their_previous_periods():
    from datetime import date

    from distweb.web.manage.dashboard import preset_period

    today = date(2026, 3, 15)
    got = {key: preset_period(key, today, "Asia/Shanghai") for key in
           ("today", "7d", "month", "last_month", "30d", "90d", "365d")}
    assert (got["today"].start, got["today"].end) == (today, today)
    assert (got["7d"].start, got["7d"].days) == (date(2026, 3, 9), 7)
    assert (got["month"].start, got["month"].end) == (date(2026, 3, 1), today)
    assert (got["last_month"].start, got["last_month"].end) == (date(2026, 2, 1), date(2026, 2, 28))
    assert (got["30d"].days, got["90d"].days, got["365d"].days) == (30, 90, 365)
    # the previous period has the same length and ends the day before
    previous = got["last_month"].previous()
    assert (previous.start, previous.end) == (date(2026, 1, 4), date(2026, 1, 31))
    assert got["today"].previous().start == date(2026, 3, 14)


def _tabs(html: str) -> list[str]:
    nav = re.search(r'<nav class="tabbar".*?</nav>', html, re.S).group(0)
    return re.findall(r'<a href="([^"]+)" class="tab', nav)


def test_mentors_and_partners_have_a_team_tab(make, browser):
    """团队 sits in the tab bar of a mentor's or partner's every page (the cached home too),
    pointing at its team's figures, and is the current tab there; a plain promoter has none."""
    from distweb.models.network import Rank

    make.promoter(name="合伙人甲", phone="13733330000", rank=Rank.PARTNER)
    browser.login("13733330000", PASSWORD)
    for url in ("/promoter/", "/promoter/orders", "/promoter/team/stats"):
        html = browser.get(url).get_data(as_text=True)
        assert _tabs(html) == ["/promoter/", "/promoter/materials", "/promoter/orders", "/promoter/wallet",
                               "/promoter/team/stats", "/promoter/me"], url
        assert ">团队<" in html
    stats = browser.get("/promoter/team/stats").get_data(as_text=True)
    assert re.search(r'<a href="/promoter/team/stats" class="tab active" aria-current="page">', stats)


def test_a_plain_promoter_has_no_team_tab(make, browser):
    make.promoter(name="推客丙", phone="13755550000")
    browser.login("13755550000", PASSWORD)
    for url in ("/promoter/", "/promoter/orders"):
        html = browser.get(url).get_data(as_text=True)
        assert "/promoter/team/stats" not in _tabs(html) and ">团队<" not in html, url
        assert len(_tabs(html)) == 5
