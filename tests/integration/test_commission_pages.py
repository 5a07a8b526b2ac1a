"""The rule editor, the plan API, the wallet page and the ledger page."""

import json
import re

from distweb.extensions import db
from distweb.models import CommissionPlan
from distweb.services import api_keys, catalogue
from tests.conftest import Browser
from tests.support.factories import PASSWORD


def editor_form(token, **overrides):
    form = {"csrf_token": token, "rule_count": "2", "depth": "2", "freeze_days": "7", "max_total": "30",
            "rounding": "half_up", "consignment_funding": "supplier",
            "r0_scope_type": "all", "r0_level": "1", "r0_kind": "percent", "r0_base": "paid", "r0_rate": "12.5",
            "r1_scope_type": "all", "r1_level": "2", "r1_kind": "fixed_per_unit", "r1_amount": "1.50",
            "preview_qty": "3", "preview_mode": "promotion", "action": "preview"}
    form.update(overrides)
    return form


def manager(app, make):
    brand = make.brand()
    with app.app_context():
        from distweb.models import Brand

        catalogue.upsert_product(db.session.get(Brand, brand.id), "TEA-001", catalogue.ProductInput(
            name="龙井", price_fen=5900, supply_cost_fen=3100, category="茶叶"))
    browser = Browser(app.test_client())
    browser.login("boss@example.com", PASSWORD)
    return browser


def token_of(html):
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def test_live_preview_prices_a_sample_order_without_saving(app, make):
    browser = manager(app, make)
    token = token_of(browser.get("/manage/commission").get_data(as_text=True))
    response = browser.client.post("/manage/commission", data=editor_form(token, preview_sku="TEA-001"),
                                   headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    # 3 × 59.00 = 177.00; L1 12.5 % = 22.125 → 22.13; L2 3 × 1.50 = 4.50
    assert "¥22.13" in html and "¥4.50" in html and "¥26.63" in html and "<html" not in html
    with app.app_context():
        assert db.session.query(CommissionPlan).count() == 0


def test_saving_writes_a_version_with_its_note_and_history_shows_the_diff(app, make):
    browser = manager(app, make)
    token = token_of(browser.get("/manage/commission").get_data(as_text=True))
    saved = browser.client.post("/manage/commission", data=editor_form(token, action="save", note="提高一级"))
    assert saved.status_code == 302
    second = browser.client.post("/manage/commission", data=editor_form(token, action="save", note="再调", r0_rate="15"))
    assert second.status_code == 302
    history = browser.get("/manage/commission/history").get_data(as_text=True)
    assert "提高一级" in history and "再调" in history
    version = browser.get("/manage/commission/versions/2").get_data(as_text=True)
    changes = version[version.find("plan-changes"):version.find("</table>")]
    # in the manager's words, not the stored keys: 直推佣金 12.5% → 15%
    assert '<td>直推佣金</td><td class="diff-removed">12.5%</td><td class="diff-added">15%</td>' in changes
    assert "rate_bp" not in changes and "{" not in changes
    first = browser.get("/manage/commission/versions/1").get_data(as_text=True)
    first = first[first.find("plan-changes"):first.find("</table>")]
    assert "<td>分佣层级</td>" in first and "2 级" in first and "None" not in first and "depth" not in first
    browser.client.get("/lang/en")
    english = browser.get("/manage/commission/versions/2").get_data(as_text=True)
    english = english[english.find("plan-changes"):english.find("</table>")]
    assert "12.5%" in english and "直推" not in english
    exported = json.loads(browser.get("/manage/commission/export.json").get_data(as_text=True))
    assert exported["version"] == 2 and exported["rules"][0]["rate_bp"] == 1500


def test_bad_rules_are_refused_with_the_rule_named_and_nothing_saved(app, make):
    browser = manager(app, make)
    token = token_of(browser.get("/manage/commission").get_data(as_text=True))
    for overrides, message in [({"r0_rate": "abc"}, "比例请填写数字"), ({"r0_rate": "10.555"}, "最多两位小数"),
                               ({"r0_rate": "120"}, "rules[0].rate_bp"), ({"depth": "1"}, "rules[1].level"),
                               ({"r0_rate": "25", "r1_kind": "percent", "r1_rate": "10"}, "rules[1]"),
                               ({"r0_scope_type": "sku", "r0_scope_value": "NOPE"}, "rules[0].scope.sku")]:
        response = browser.client.post("/manage/commission", data=editor_form(token, action="save", **overrides))
        assert response.status_code == 422, overrides
        assert message in response.get_data(as_text=True), (overrides, message)
    with app.app_context():
        assert db.session.query(CommissionPlan).count() == 0


def test_plan_api_round_trips_and_refuses_bad_plans(app, make, client):
    make.brand()
    with app.app_context():
        from distweb.models import Brand

        _row, key = api_keys.create_key(db.session.query(Brand).one(), "ERP")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/commission-plan", headers=headers).get_json()["version"] is None
    body = {"depth": 2, "freeze_days": 10, "rounding": "half_even", "max_total_bp": 2000, "self_purchase": True,
            "rules": [{"scope": {"sku": None, "category": None, "rank": "partner"}, "level": 1, "kind": "percent",
                       "base": "margin", "rate_bp": 1500}]}
    put = client.put("/api/v1/commission-plan", json=body, headers=headers)
    assert put.status_code == 200 and put.get_json()["version"] == 1 and put.get_json()["freeze_days"] == 10
    bad = client.put("/api/v1/commission-plan", json={**body, "depth": 4}, headers=headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "depth"
    assert client.get("/api/v1/commission-plan", headers=headers).get_json()["version"] == 1


def test_wallet_shows_ledger_balances_and_lines(app, make):
    from distweb.models.base import utcnow
    from distweb.services import orders

    promoter = make.promoter(name="钱包主人", phone="13400000001")
    with app.app_context():
        from distweb.models import Brand

        brand = db.session.query(Brand).one()
        catalogue.upsert_product(brand, "TEA-001", catalogue.ProductInput(name="龙井", price_fen=5900))
        order = orders.place_order(brand, orders.OrderInput(
            external_id="W-1", mode="promotion", promoter_code=promoter.code,
            items=[orders.ItemInput("TEA-001", 2)], paid_at=utcnow()))
        orders.complete(brand.id, order.id)
    browser = Browser(app.test_client())
    browser.login("13400000001", PASSWORD)
    page = browser.get("/promoter/wallet").get_data(as_text=True)
    hero, rest = page.split('class="stat-grid"', 1)
    assert "¥0.00" in hero  # nothing settled yet
    assert "¥11.80" in rest and "冻结中" in rest and "W-1" in rest and "解冻" in rest
    assert "直推佣金" in page


def test_the_first_load_preview_prices_the_product_the_dropdown_shows_selected(app, make):
    brand = make.brand()
    with app.app_context():
        from distweb.models import Brand

        brand_row = db.session.get(Brand, brand.id)
        # created first (lower id) but second in the dropdown, which lists by SKU
        catalogue.upsert_product(brand_row, "ZZ-LAST", catalogue.ProductInput(name="后面的茶", price_fen=100000))
        catalogue.upsert_product(brand_row, "AA-FIRST", catalogue.ProductInput(name="前面的茶", price_fen=1000))
    browser = Browser(app.test_client())
    browser.login("boss@example.com", PASSWORD)
    page = browser.get("/manage/commission").get_data(as_text=True)
    assert '<option value="AA-FIRST" selected>' in page
    assert "实付 ¥10.00" in page  # the selected product's price, not ¥1,000.00


def test_wallet_groups_lines_by_order_with_products_says_why_frozen_and_pages(app, make):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from distweb.models import Brand
    from distweb.models.base import utcnow
    from distweb.services import orders

    upline = make.promoter(name="上级", phone="13400000009")
    promoter = make.promoter(name="钱包主人", phone="13400000001", upline=upline)
    with app.app_context():
        brand = db.session.query(Brand).one()
        catalogue.upsert_product(brand, "TEA-001", catalogue.ProductInput(name="西湖龙井", price_fen=5900))
        catalogue.upsert_product(brand, "TEA-002", catalogue.ProductInput(name="安吉白茶", price_fen=10000))
        both = orders.place_order(brand, orders.OrderInput(
            external_id="W-BOTH", mode="promotion", promoter_code=promoter.code,
            items=[orders.ItemInput("TEA-001", 1), orders.ItemInput("TEA-002", 1)], paid_at=utcnow()))
        assert both.status.value == "paid"
        done = orders.place_order(brand, orders.OrderInput(
            external_id="W-DONE", mode="promotion", promoter_code=promoter.code,
            items=[orders.ItemInput("TEA-001", 2)], paid_at=utcnow()))
        orders.complete(brand.id, done.id)
        completed_at = db.session.get(type(done), done.id).completed_at
        for n in range(21):
            orders.place_order(brand, orders.OrderInput(
                external_id=f"W-MORE-{n}", mode="promotion", promoter_code=promoter.code,
                items=[orders.ItemInput("TEA-002", 1)], paid_at=utcnow()))
    browser = Browser(app.test_client())
    browser.login("13400000001", PASSWORD)
    first = browser.get("/promoter/wallet").get_data(as_text=True)
    assert first.count('class="order wallet-group"') == 20 and "load-more" in first
    before = first.split('before=', 1)[1].split('"', 1)[0]
    rest = browser.get(f"/promoter/wallet?before={before}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in rest and rest.count('class="order wallet-group"') == 3 and "load-more" not in rest
    cards = rest.split('class="order wallet-group"')[1:]
    both_card = next(card for card in cards if "W-BOTH" in card)
    done_card = next(card for card in cards if "W-DONE" in card)
    # one card per order: its products by name, its total (10 % of ¥159.00), each line
    assert "西湖龙井、安吉白茶" in both_card and "¥15.90" in both_card
    assert both_card.count("直推佣金") == 2
    assert "等待买家确认收货，之后再冻结 7 天退货期" in both_card
    local = completed_at.astimezone(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=7)
    assert f"{datetime.combine(local, datetime.min.time()):%Y-%m-%d} 解冻" in done_card
    assert "¥11.80" in done_card and "西湖龙井" in done_card
    # the upline's wallet shows the same orders as its level-2 lines, not the promoter's
    upline_browser = Browser(app.test_client())
    upline_browser.login("13400000009", PASSWORD)
    theirs = upline_browser.get("/promoter/wallet").get_data(as_text=True)
    assert "二级佣金" in theirs and "直推佣金" not in theirs
