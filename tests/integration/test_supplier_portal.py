"""The supplier portal: carriers picked from a list (or typed as "other"), purchase orders
filtered, searched and exported (its own only), and a way out in the header."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from distweb.extensions import db
from distweb.models import Brand, Order, PurchaseOrder, Supplier
from distweb.models.base import utcnow
from distweb.services import catalogue, orders
from tests.conftest import Browser
from tests.support.factories import PASSWORD


@pytest.fixture
def world(app, make):
    brand = make.brand()
    make.supplier_user("westlake")
    make.supplier_user("other")
    seller = make.promoter(name="卖家", phone="13500000002", distributor=True)
    with app.app_context():
        brand_row = db.session.get(Brand, brand.id)
        westlake = db.session.scalars(select(Supplier).where(Supplier.code == "westlake")).one()
        other = db.session.scalars(select(Supplier).where(Supplier.code == "other")).one()
        catalogue.upsert_product(brand_row, "TEA-1", catalogue.ProductInput(
            name="明前龙井", price_fen=5900, supply_cost_fen=3100, supplier_code=westlake.code,
            modes=("consignment",)))
        catalogue.upsert_product(brand_row, "TEA-2", catalogue.ProductInput(
            name="安吉白茶", price_fen=8800, supply_cost_fen=4000, supplier_code=westlake.code,
            modes=("consignment",)))
        catalogue.upsert_product(brand_row, "TEA-9", catalogue.ProductInput(
            name="别家的茶", price_fen=5000, supply_cost_fen=2000, supplier_code=other.code,
            modes=("consignment",)))
        for n, (sku, buyer, phone) in enumerate([("TEA-1", "张三", "13911110001"), ("TEA-2", "李四", "13922220002"),
                                                 ("TEA-9", "王五", "13933330003")]):
            orders.place_order(brand_row, orders.OrderInput(
                external_id=f"SO-{n}", mode="consignment", promoter_code=seller.code,
                items=[orders.ItemInput(sku, 1)], buyer=orders.BuyerInput(buyer, phone, "杭州西湖区"),
                paid_at=utcnow()))
    return brand


def supplier(app, code="westlake"):
    browser = Browser(app.test_client())
    assert browser.login(f"{code}@example.com", PASSWORD).status_code == 302
    return browser


def po_of(app, external_id):
    with app.app_context():
        return db.session.scalars(select(PurchaseOrder).join(Order).where(Order.external_id == external_id)).one()


def test_carriers_come_from_a_list_with_other_typed_in(app, world):
    browser = supplier(app)
    po = po_of(app, "SO-0")
    page = browser.get(f"/supplier/po/{po.id}").get_data(as_text=True)
    for name in ("顺丰速运", "中通快递", "圆通速递", "韵达快递", "申通快递", "京东物流", "EMS", "中国邮政"):
        assert f'<option value="{name}">{name}</option>' in page
    assert '<option value="other">其他（手动填写）</option>' in page
    empty_other = browser.post(f"/supplier/po/{po.id}/ship", {"carrier": "other", "carrier_other": " ",
                                                              "tracking_no": "X1"}, token_from=f"/supplier/po/{po.id}")
    assert "请填写快递公司和运单号" in browser.get(empty_other.headers["Location"]).get_data(as_text=True)
    browser.post(f"/supplier/po/{po.id}/ship", {"carrier": "other", "carrier_other": "跨越速运", "tracking_no": "KY001"},
                 token_from=f"/supplier/po/{po.id}")
    assert po_of(app, "SO-0").carrier == "跨越速运"
    second = po_of(app, "SO-1")
    forged = browser.post(f"/supplier/po/{second.id}/ship", {"carrier": "<b>假快递</b>", "tracking_no": "Z9"},
                          token_from=f"/supplier/po/{second.id}")
    assert forged.status_code == 302 and po_of(app, "SO-1").carrier is None  # not on the list, not "other"
    browser.post(f"/supplier/po/{second.id}/ship", {"carrier": "顺丰速运", "tracking_no": "SF123"},
                 token_from=f"/supplier/po/{second.id}")
    assert po_of(app, "SO-1").carrier == "顺丰速运"


def test_purchase_orders_filter_by_status_and_search_only_within_my_own(app, world):
    browser = supplier(app)
    po = po_of(app, "SO-0")
    browser.post(f"/supplier/po/{po.id}/ship", {"carrier": "中通快递", "tracking_no": "ZT778899"},
                 token_from=f"/supplier/po/{po.id}")
    everything = browser.get("/supplier/").get_data(as_text=True)
    assert "SO-0" in everything and "SO-1" in everything and "SO-2" not in everything
    shipped = browser.get("/supplier/?status=shipped").get_data(as_text=True)
    assert "SO-0" in shipped and "SO-1" not in shipped
    assert "SO-0" in browser.get("/supplier/?q=ZT7788").get_data(as_text=True)  # by tracking number
    by_buyer = browser.get("/supplier/?q=李四").get_data(as_text=True)
    assert "SO-1" in by_buyer and "SO-0" not in by_buyer
    by_product = browser.get("/supplier/?q=白茶").get_data(as_text=True)
    assert "SO-1" in by_product and "SO-0" not in by_product
    theirs = browser.get("/supplier/?q=王五").get_data(as_text=True)  # another supplier's buyer
    assert "SO-2" not in theirs and "没有符合条件的采购单" in theirs
    assert browser.get("/supplier/?status=bogus&page=-4").status_code == 200


def test_the_export_is_my_filtered_purchase_orders_with_numbers_kept_as_text(app, world):
    browser = supplier(app)
    response = browser.get("/supplier/po.csv?status=open")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["采购单号", "订单号", "状态"]
    assert sorted(r[1] for r in rows[1:]) == ["SO-0", "SO-1"]  # never another supplier's SO-2
    phones = {r[6] for r in rows[1:]}
    assert phones == {"'13911110001", "'13922220002"}  # text, every digit kept


def test_logout_is_in_the_header(app, world):
    browser = supplier(app)
    page = browser.get("/supplier/").get_data(as_text=True)
    header = page[page.find('<header class="topbar">'):page.find("</header>")]
    assert 'action="/auth/logout"' in header and "退出" in header
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert browser.client.post("/auth/logout", data={"csrf_token": token}).status_code == 302
    assert browser.get("/supplier/").status_code == 302
