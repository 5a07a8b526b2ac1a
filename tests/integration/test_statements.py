"""PDF statements: rendered by a worker, Chinese text embedded, served only to their owner."""

import subprocess
from datetime import timedelta

from rq import SimpleWorker

from distweb.extensions import db
from distweb.models import Brand, Statement
from distweb.models.base import utcnow
from distweb.queues import all_queues, redis_connection
from distweb.services import catalogue, commission, orders, settlement
from tests.conftest import Browser
from tests.support.factories import PASSWORD


def work():
    SimpleWorker(all_queues(), connection=redis_connection()).work(burst=True)


def test_statement_pdf_has_the_chinese_name_and_the_right_closing_balance(app, make):
    seller = make.promoter(name="李小明", phone="13300001111")
    with app.app_context():
        brand = db.session.query(Brand).one()
        catalogue.upsert_product(brand, "TEA-001", catalogue.ProductInput(name="龙井", price_fen=12345))
        commission.save_plan(brand.id, {"depth": 1, "freeze_days": 0, "max_total_bp": 3000, "rules": [
            {"scope": {}, "level": 1, "kind": "percent", "rate_bp": 1000}]})
        for n in range(2):
            order = orders.place_order(brand, orders.OrderInput(
                external_id=f"P-{n}", mode="promotion", promoter_code=seller.code,
                items=[orders.ItemInput("TEA-001", 1)], paid_at=utcnow() - timedelta(hours=2)))
            orders.complete(brand.id, order.id, utcnow() - timedelta(hours=1))
        orders.refund(brand.id, order.id, "R1", [orders.RefundItemInput("TEA-001", 6000)])
        settlement.execute_run(settlement.start_run(brand.id).id)
    browser = Browser(app.test_client())
    browser.login("13300001111", PASSWORD)
    period = utcnow().strftime("%Y-%m")
    assert browser.post("/promoter/statements", {"period": period}).status_code == 302
    with app.app_context():
        work()
        statement = db.session.query(Statement).one()
        assert statement.status.value == "succeeded"
        # 1234.50 → 1235 (half up) twice, then 6000/12345 of one refunded: keeps 635
        assert statement.closing_fen == 1235 + 635
    page = browser.get("/promoter/statements").get_data(as_text=True)
    assert "¥18.70" in page
    assert f"{period} 对账单已生成。" in browser.get("/promoter/inbox").get_data(as_text=True)
    response = browser.get(f"/promoter/statements/{statement.id}.pdf")
    assert response.mimetype == "application/pdf" and response.data[:4] == b"%PDF"
    text = subprocess.run(["pdftotext", "-", "-"], input=response.data, capture_output=True, check=True).stdout.decode()
    assert "李小明" in text and "¥18.70" in text and "退款扣回" in text and "SHA-256" in text
    response.close()

    other = make.promoter(name="别人", phone="13300002222")
    thief = Browser(app.test_client())
    thief.login("13300002222", PASSWORD)
    assert thief.get(f"/promoter/statements/{statement.id}.pdf").status_code == 404
    del other


def test_a_bad_period_is_a_message(app, make):
    make.promoter(name="甲", phone="13300003333")
    browser = Browser(app.test_client())
    browser.login("13300003333", PASSWORD)
    browser.post("/promoter/statements", {"period": "2026-13"})
    assert "YYYY-MM" in browser.get("/promoter/statements").get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Statement).count() == 0
