"""我的客户: a promoter sees the buyers bound to it — masked, with what they bought through
it — and never another promoter's buyers, however the URL is edited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from distweb.extensions import db
from distweb.models import Brand, BuyerBinding
from distweb.models.base import utcnow
from distweb.models.network import BindingMode
from distweb.services import catalogue, network, orders
from tests.conftest import Browser
from tests.support.factories import PASSWORD


def signed_in(app, phone):
    browser = Browser(app.test_client())
    assert browser.login(phone, PASSWORD).status_code == 302
    return browser


def paid_order(app, brand_id, promoter, buyer_phone, n, quantity=1):
    with app.app_context():
        brand = db.session.get(Brand, brand_id)
        orders.place_order(brand, orders.OrderInput(
            external_id=f"C-{n}", mode="promotion", promoter_code=promoter.code,
            items=[orders.ItemInput("TEA-1", quantity)], buyer=orders.BuyerInput("买家", buyer_phone),
            paid_at=utcnow()))


@pytest.fixture
def world(app, make):
    brand = make.brand()
    me = make.promoter(name="我", phone="13600000001")
    other = make.promoter(name="别人", phone="13600000002")
    with app.app_context():
        catalogue.upsert_product(db.session.get(Brand, brand.id), "TEA-1", catalogue.ProductInput(
            name="明前龙井", price_fen=5900, modes=("promotion",)))
    return {"brand": brand, "me": me, "other": other}


def test_my_customers_lists_my_bound_buyers_masked_with_orders_and_sales(app, world):
    brand_id, me, other = world["brand"].id, world["me"], world["other"]
    paid_order(app, brand_id, me, "13911110001", 1, quantity=2)
    paid_order(app, brand_id, me, "13911110001", 2)
    paid_order(app, brand_id, me, "13922220002", 3)
    paid_order(app, brand_id, other, "13933330003", 4)
    page = signed_in(app, "13600000001").get("/promoter/customers").get_data(as_text=True)
    assert "139****0001" in page and "139****0002" in page
    assert "13911110001" not in page  # never the whole number
    assert "139****0003" not in page  # another promoter's buyer
    assert "2 单 · <strong>¥177.00</strong>" in page  # two orders, three boxes at ¥59.00
    assert "1 单 · <strong>¥59.00</strong>" in page
    assert "2 位买家绑定在你名下" in page
    assert "长期有效" in page  # the brand binds for good by default


def test_a_binding_for_n_days_says_when_it_expires(app, world):
    with app.app_context():
        settings = network.get_settings(world["brand"].id)
        settings.binding_mode = BindingMode.DAYS
        settings.binding_days = 30
        db.session.commit()
    paid_order(app, world["brand"].id, world["me"], "13911110001", 1)
    with app.app_context():
        expires = db.session.scalar(select(BuyerBinding.expires_at))
    page = signed_in(app, "13600000001").get("/promoter/customers").get_data(as_text=True)
    from zoneinfo import ZoneInfo

    assert expires.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d 到期") in page
    assert "长期有效" not in page


def test_search_by_phone_digits_is_a_fragment_and_stays_in_my_buyers(app, world):
    brand_id, me, other = world["brand"].id, world["me"], world["other"]
    paid_order(app, brand_id, me, "13911110001", 1)
    paid_order(app, brand_id, me, "13922220002", 2)
    paid_order(app, brand_id, other, "13933330003", 3)
    browser = signed_in(app, "13600000001")
    found = browser.get("/promoter/customers?q=0002", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "139****0002" in found and "139****0001" not in found and "<html" not in found
    # another promoter's buyer, searched by its whole number, is not found
    theirs = browser.get("/promoter/customers?q=13933330003").get_data(as_text=True)
    assert "139****0003" not in theirs and "没有找到这个手机号的客户" in theirs
    assert "没有找到" in browser.get("/promoter/customers?q=abc").get_data(as_text=True)


def test_paging_by_guessed_ids_never_shows_another_promoters_buyers(app, world):
    brand_id, me, other = world["brand"].id, world["me"], world["other"]
    for n in range(22):
        paid_order(app, brand_id, me, f"139000000{n:02d}", n)
    paid_order(app, brand_id, other, "13533330777", 99)
    browser = signed_in(app, "13600000001")
    first = browser.get("/promoter/customers").get_data(as_text=True)
    assert first.count('class="member"') == 20 and "load-more" in first
    with app.app_context():
        ids = db.session.scalars(select(BuyerBinding.id).order_by(BuyerBinding.id)).all()
    rest = browser.get(f"/promoter/customers?before={ids[-1] + 1}&q=", headers={"HX-Request": "true"})
    assert "135****0777" not in rest.get_data(as_text=True)
    second = browser.get(f"/promoter/customers?before={ids[2]}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert second.count('class="member"') == 2 and "load-more" not in second
    assert browser.get("/promoter/customers?before=99999999999999999999").status_code == 200


def test_the_me_page_links_my_customers_and_managers_cannot_open_it(app, world, make):
    browser = signed_in(app, "13600000001")
    assert "/promoter/customers" in browser.get("/promoter/me").get_data(as_text=True)
    make.manager()
    boss = Browser(app.test_client())
    boss.login("boss@example.com", PASSWORD)
    assert boss.get("/promoter/customers").status_code in (302, 403)
