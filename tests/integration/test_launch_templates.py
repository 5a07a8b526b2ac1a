"""Launch templates (行业模板): a brand picks an industry preset, sees what it will change,
confirms with a POST (CSRF), and the plan, rank rules, withdrawal rules and starter materials
are written through the owning services — all editable afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from distweb.extensions import db
from distweb.models import Brand, CommissionPlan, Material
from distweb.services import catalogue, commission, launch_templates, network, withdrawals
from tests.conftest import Browser
from tests.support.factories import PASSWORD


@pytest.fixture
def boss(app, make):
    make.brand()
    browser = Browser(app.test_client())
    browser.login("boss@example.com", PASSWORD)
    return browser


def text(response):
    return response.get_data(as_text=True)


def test_every_preset_is_a_plan_the_services_accept(app_ctx, make):
    brand = make.brand()
    assert set(launch_templates.PRESETS) == {"fmcg", "tea_wine", "jewelry", "health", "apparel"}
    for preset in launch_templates.PRESETS.values():
        commission.check_plan(brand.id, preset.plan)
        network.validate_rank_rules(preset.rank_rules)
        assert preset.plan["depth"] <= 2 and len(preset.starter_materials()) >= 2


def test_first_run_offers_the_templates_until_a_plan_is_saved(app, boss):
    overview = text(boss.get("/manage/"))
    assert "第一次使用？选择一个行业模板" in overview
    gallery = text(boss.get("/manage/settings/launch"))
    for name in ("快消", "茶酒", "饰品", "大健康", "服饰"):
        assert f"<h2>{name}</h2>" in gallery


def test_the_preview_shows_what_will_change_and_writes_nothing(app, boss):
    page = text(boss.get("/manage/settings/launch/tea_wine"))
    assert "行业模板：茶酒" in page
    assert "<td>直推佣金</td><td class=\"diff-removed\">10%</td><td class=\"diff-added\">15%</td>" in page
    assert "冻结天数" in page and "15 天" in page
    assert "本人 30 天销售额满 ¥10,000.00" in page  # 晋升为导师
    assert "最低提现金额" in page and "¥50.00" in page
    assert "今年的新茶到了" in page and "送礼" in page
    with app.app_context():
        assert db.session.query(CommissionPlan).count() == 0
        assert db.session.query(Material).count() == 0


def test_applying_writes_through_the_services_and_twice_changes_nothing_more(app, boss, make):
    brand = make.brand()
    page = text(boss.get("/manage/settings/launch/tea_wine"))
    assert boss.client.post("/manage/settings/launch/tea_wine").status_code == 400  # no CSRF token
    applied = boss.post("/manage/settings/launch/tea_wine", token_from="/manage/settings/launch/tea_wine")
    assert applied.status_code == 302
    assert "已应用行业模板「茶酒」" in text(boss.get(applied.headers["Location"]))
    with app.app_context():
        version, plan = commission.current_plan(brand.id)
        assert version == 1 and plan.freeze_days == 15
        assert [(r.level, r.rank, r.rate_bp) for r in plan.rules] == [
            (1, None, 1500), (2, None, 500), (1, "mentor", 1800), (1, "partner", 2000)]
        assert network.get_settings(brand.id).rank_rules["mentor"]["own_sales_fen"] == 10000_00
        assert withdrawals.rules_for(brand.id)["min_fen"] == 5000
        titles = sorted(db.session.scalars(select(Material.title)))
        assert titles == ["今年的新茶到了", "送礼不知道选什么？"]
    again = text(boss.get("/manage/settings/launch/tea_wine"))
    assert again.count("不变。") == 3 and "已在素材库中，不会重复添加" in again
    boss.post("/manage/settings/launch/tea_wine", token_from="/manage/settings/launch/tea_wine")
    with app.app_context():
        assert db.session.query(CommissionPlan).count() == 1 and db.session.query(Material).count() == 2
    assert "第一次使用" not in text(boss.get("/manage/"))
    del page


def test_an_unknown_template_is_404_and_promoters_cannot_apply_one(app, boss, make):
    assert boss.get("/manage/settings/launch/casino").status_code == 404
    assert boss.post("/manage/settings/launch/casino", token_from="/manage/settings/launch").status_code == 404
    make.promoter(phone="13600000001")
    promoter = Browser(app.test_client())
    promoter.login("13600000001", PASSWORD)
    response = promoter.post("/manage/settings/launch/fmcg", token_from="/promoter/me")
    assert response.status_code in (302, 403)
    with app.app_context():
        assert db.session.query(CommissionPlan).count() == 0


def test_a_catalogue_the_plan_cannot_fit_is_a_message_not_a_500(app, boss, make):
    """A fixed-amount rule saved earlier does not matter: the preset replaces the whole plan;
    but a plan the services refuse must come back as a message."""
    brand = make.brand()
    with app.app_context():
        catalogue.upsert_product(db.session.get(Brand, brand.id), "T-1", catalogue.ProductInput(
            name="茶", price_fen=5900, category="茶叶"))
    original = launch_templates.PRESETS["fmcg"]
    broken = dict(original.plan, max_total_bp=500)  # 8 % + 3 % is over a 5 % cap
    launch_templates.PRESETS["fmcg"] = launch_templates.Preset(
        original.key, original.name, original.summary, broken, original.rank_rules, original.withdrawal,
        original.tags, original.starters)
    try:
        response = boss.post("/manage/settings/launch/fmcg", token_from="/manage/settings/launch/fmcg")
        assert response.status_code == 302
        assert "佣金方案有误" in text(boss.get(response.headers["Location"]))
    finally:
        launch_templates.PRESETS["fmcg"] = original
    with app.app_context():
        assert db.session.query(CommissionPlan).count() == 0 and db.session.query(Material).count() == 0
