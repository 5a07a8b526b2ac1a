"""The promoter home is kept in the page cache (Redis, Flask-Caching) under the promoter's and the
brand's data versions: every write that changes a figure raises a version in its own
transaction, so the page opened right after the write shows it. Each kind of write a
promoter's home depends on is pinned here, after the home was opened once (so it is cached).
And the shared fragments never carry one user's data to another."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from distweb.extensions import db
from distweb.models import Brand, Promoter
from distweb.models.base import utcnow
from distweb.services import (
    catalogue,
    commission,
    materials,
    network,
    notifications,
    orders,
    settlement,
    withdrawals,
)
from tests.conftest import Browser
from tests.support.factories import PASSWORD

_ids = itertools.count(1)
RATES = {1: 1000, 2: 500, 3: 200}


@pytest.fixture
def world(app, make):
    brand_ref = make.brand()
    top = make.promoter(name="合伙人", phone="13700000101")
    seller = make.promoter(name="推客甲", upline=top, phone="13700000102")
    other = make.promoter(name="推客乙", phone="13700000103")
    with app.app_context():
        brand = db.session.get(Brand, brand_ref.id)
        catalogue.upsert_product(brand, "TEA-001", catalogue.ProductInput(
            name="龙井", price_fen=5900, supply_cost_fen=3100, supplier_code="westlake", category="tea",
            modes=("promotion",)))
        commission.save_plan(brand.id, {
            "depth": 2, "freeze_days": 7, "rounding": "half_up", "max_total_bp": 3000, "self_purchase": False,
            "consignment_funding": "supplier",
            "rules": [{"scope": {}, "level": level, "kind": "percent", "base": "paid", "rate_bp": RATES[level]}
                      for level in (1, 2)]})
        db.session.remove()
    browsers = {}
    for name, phone in (("top", "13700000101"), ("seller", "13700000102"), ("other", "13700000103")):
        browser = Browser(app.test_client())
        assert browser.login(phone, PASSWORD).status_code == 302
        browsers[name] = browser
    return {"app": app, "brand_id": brand_ref.id, "top": top, "seller": seller, "other": other, "browsers": browsers}


def place(world, promoter="seller", quantity=1, paid=True):
    app = world["app"]
    with app.app_context():
        brand = db.session.get(Brand, world["brand_id"])
        order = orders.place_order(brand, orders.OrderInput(
            external_id=f"C-{next(_ids)}", mode="promotion", promoter_code=world[promoter].code,
            items=[orders.ItemInput("TEA-001", quantity)],
            # A buyer of its own each time: a paid order binds its buyer to its promoter.
            buyer=orders.BuyerInput("李女士", f"139{next(_ids):08d}", "杭州"),
            paid_at=utcnow() if paid else None))
        order_id = order.id
        db.session.remove()
    return order_id


def home(world, who="seller") -> dict:
    html = world["browsers"][who].get("/promoter/").get_data(as_text=True)
    figures = dict(re.findall(r'<span class="stat-label">([^<]+)</span><strong class="stat-value">([^<]+)</strong>',
                              html))
    figures["orders"] = re.findall(r'class="order-no">([^<]+)<', html)
    badge = re.search(r'class="bell-badge">([^<]+)<', html)
    figures["bell"] = badge.group(1) if badge else "0"
    figures["html"] = html
    return figures


@pytest.fixture
def home_queries(world):
    """How many times the home's figures were read from the database."""
    with world["app"].app_context():
        engine = db.engine
    reads = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "month_orders" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    yield reads
    event.remove(engine, "before_cursor_execute", count)


def test_the_home_is_read_once_and_then_served_from_the_cache(world, home_queries):
    first = home(world)
    assert len(home_queries) == 1
    again = home(world)
    assert len(home_queries) == 1  # from the cache
    assert {k: v for k, v in again.items() if k != "html"} == {k: v for k, v in first.items() if k != "html"}


def test_an_order_for_the_promoter_shows_at_once(world, home_queries):
    assert home(world)["今日收益"] == "¥0.00"
    order_id = place(world, quantity=2)  # 11,800 fen paid, 10% = 1,180 for the seller
    figures = home(world)
    assert figures["今日收益"] == "¥11.80" and figures["冻结中"] == "¥11.80" and len(figures["orders"]) == 1
    assert len(home_queries) == 2
    with world["app"].app_context():
        orders.cancel(world["brand_id"], order_id, "买家取消")
        db.session.remove()
    figures = home(world)
    assert figures["今日收益"] == "¥0.00" and figures["冻结中"] == "¥0.00"


def test_an_unpaid_order_and_its_payment_show_at_once(world):
    home(world)
    order_id = place(world, paid=False)
    figures = home(world)
    assert len(figures["orders"]) == 1 and figures["今日收益"] == "¥0.00"
    with world["app"].app_context():
        orders.mark_paid(world["brand_id"], order_id)
        db.session.remove()
    assert home(world)["今日收益"] == "¥5.90"


def test_an_order_of_the_team_shows_on_the_uplines_home(world):
    assert home(world, "top")["今日收益"] == "¥0.00"
    place(world, quantity=2)  # 5% of 11,800 for the upline
    assert home(world, "top")["今日收益"] == "¥5.90"
    assert home(world, "other")["今日收益"] == "¥0.00"


def test_a_settlement_and_a_withdrawal_show_at_once(world):
    order_id = place(world, quantity=2)
    app, brand_id = world["app"], world["brand_id"]
    with app.app_context():
        orders.complete(brand_id, order_id, utcnow() - timedelta(days=10))
        db.session.remove()
    before = home(world)
    assert (before["冻结中"], before["可提现"], before["bell"]) == ("¥11.80", "¥0.00", "1")  # order paid
    with app.app_context():
        settlement.execute_run(settlement.start_run(brand_id, enqueue=False).id)
        db.session.remove()
    after = home(world)
    assert (after["冻结中"], after["可提现"]) == ("¥0.00", "¥11.80")
    assert after["bell"] == "2"  # and "commission unfrozen"
    with app.app_context():
        withdrawals.request(world["seller"].id, withdrawals.Request(1000, "alipay", "甲", "a@b"))
        db.session.remove()
    assert home(world)["可提现"] == "¥1.80"


def test_a_notice_and_reading_it_show_on_the_bell_at_once(world):
    assert home(world)["bell"] == "0"
    with world["app"].app_context():
        notifications.notify_promoters([(world["seller"].id, "material_pinned", {"material_id": 1, "title": "新"})])
        db.session.remove()
    assert home(world)["bell"] == "1"
    with world["app"].app_context():
        notifications.mark_all_read(world["seller"].user_id)
        db.session.remove()
    assert home(world)["bell"] == "0"


def test_a_new_team_member_and_one_suspended_show_at_once(world, make):
    assert home(world, "top")["直属团队"] == "1"
    newcomer = make.promoter(name="新人", upline=world["top"])
    assert home(world, "top")["直属团队"] == "2"
    with world["app"].app_context():
        network.change_status(None, db.session.get(Promoter, newcomer.id), "suspend", "测试")
        db.session.remove()
    assert home(world, "top")["直属团队"] == "1"


def test_a_brand_edit_and_a_material_edit_show_at_once(world):
    app, brand_id = world["app"], world["brand_id"]
    assert "加入测试品牌推广计划" in home(world)["html"]
    with app.app_context():
        from distweb.services import branding

        brand = db.session.get(Brand, brand_id)
        branding.update_brand(brand, "新茶社", "新茶社", "#0a7d4f")
        db.session.remove()
    html = home(world)["html"]
    assert "加入新茶社推广计划" in html and "加入测试品牌推广计划" not in html
    with app.app_context():
        material = materials.save_material(brand_id, materials.MaterialInput(title="双十二海报", pinned=True))
        material_id = material.id
        db.session.remove()
    assert "双十二海报" in home(world)["html"]
    with app.app_context():
        materials.delete_material(brand_id, material_id)
        db.session.remove()
    assert "双十二海报" not in home(world)["html"]


def test_a_write_that_rolls_back_raises_no_version(world):
    from distweb.models import DataVersion
    from distweb.services import versions
    from distweb.services.tx import transaction

    app = world["app"]
    with app.app_context():
        before = versions.current(world["seller"].id, world["brand_id"])
        with pytest.raises(RuntimeError), transaction():
            versions.touch_promoters([world["seller"].id])
            raise RuntimeError("the write failed")
        assert versions.current(world["seller"].id, world["brand_id"]) == before
        with transaction():
            versions.touch_promoters([world["seller"].id])
        assert versions.current(world["seller"].id, world["brand_id"])[0] == before[0] + 1
        assert db.session.scalar(select(DataVersion.version).where(DataVersion.owner_id == world["seller"].id,
                                                                   DataVersion.scope == "promoter")) == before[0] + 1
        db.session.remove()


# ---------------------------------------------------------------- no user's data reaches another


def test_two_promoters_see_only_their_own_home_whatever_the_order_of_requests(world):
    place(world, "seller", quantity=3)
    place(world, "other", quantity=1)
    seen = {}
    for who in ("seller", "other", "seller", "other", "top", "seller"):
        seen.setdefault(who, []).append(home(world, who))
    mine = {"seller": ("推客甲", world["seller"].code, "¥17.70"), "other": ("推客乙", world["other"].code, "¥5.90")}
    for who, (name, code, earned) in mine.items():
        (theirs_name, theirs_code, _), = [v for k, v in mine.items() if k != who]
        for page in seen[who]:
            assert f"你好，{name}" in page["html"] and f"<code>{code}</code>" in page["html"]
            assert page["今日收益"] == earned
            assert theirs_name not in page["html"] and theirs_code not in page["html"]
    assert seen["top"][0]["今日收益"] == "¥8.85"  # 5% of its member's 17,700


def test_a_fragment_cannot_use_per_request_data(app, monkeypatch):
    from jinja2 import ChoiceLoader, DictLoader

    from distweb.web.fragments import fragment

    monkeypatch.setattr(app.jinja_env, "loader", ChoiceLoader([DictLoader({
        "leaky.html": "{{ current_user.name }}", "leaky_csrf.html": "{{ csrf_token() }}",
        "leaky_request.html": "{{ request.path }}", "fine.html": "{{ _('首页') }} {{ n }}"}),
        app.jinja_env.loader]))
    with app.test_request_context("/"):
        for name in ("leaky.html", "leaky_csrf.html", "leaky_request.html"):
            with pytest.raises(RuntimeError, match="cannot be used inside a fragment"):
                fragment(name)
        assert str(fragment("fine.html", n=3)) == "首页 3"
        assert str(fragment("fine.html", n=3)) == "首页 3"  # kept


def test_the_home_renders_the_same_without_the_cache_and_with_redis_away(world, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from distweb.extensions import cache, local_cache

    place(world, quantity=2)
    cached = home(world)
    local_cache.clear()  # as in another process

    def away(*args, **kwargs):
        raise RedisConnectionError("Redis is restarting")

    monkeypatch.setattr(cache, "get", away)
    monkeypatch.setattr(cache, "set", away)
    fresh = home(world)
    assert fresh["今日收益"] == cached["今日收益"] == "¥11.80"
    assert fresh["orders"] == cached["orders"]


def test_with_the_page_cache_off_every_home_reads_the_database_and_shows_the_same(world, home_queries, monkeypatch):
    place(world, quantity=2)
    cached = home(world)
    assert len(home_queries) == 1
    monkeypatch.setitem(world["app"].config, "DISTWEB_PAGE_CACHE", False)
    for expected_reads in (2, 3):
        fresh = home(world)
        assert len(home_queries) == expected_reads
        assert {k: v for k, v in fresh.items() if k != "html"} == {k: v for k, v in cached.items() if k != "html"}


def test_a_home_served_from_the_cache_carries_a_csrf_token_of_its_own_session(world, home_queries, app):
    from tests.conftest import csrf_token_from

    seller = world["browsers"]["seller"]
    home(world)
    cached_token = csrf_token_from(home(world)["html"])  # the second time: the kept page
    assert len(home_queries) == 1
    second = Browser(app.test_client())  # the same promoter signed in on another phone
    assert second.login("13700000102", PASSWORD).status_code == 302
    other_token = csrf_token_from(second.get("/promoter/").get_data(as_text=True))
    assert second.post("/auth/logout", {"csrf_token": cached_token}).status_code == 400  # not that session's
    assert seller.post("/auth/logout", {"csrf_token": cached_token}).status_code == 302
    assert second.post("/auth/logout", {"csrf_token": other_token}).status_code == 302
