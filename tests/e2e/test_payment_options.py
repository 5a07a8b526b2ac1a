"""The manager's payment options on a desktop: a close time out of range is refused with the
form's message and nothing saved; a valid one and commission 分账 are saved and shown again;
the reconciliation page lists a commission split's state (failed at WeChat, with each
receiver's result, the earlier out_no and the retry button).

The split is written straight into the live server's database (a failed one moves no
money); making one through the stand-ins is the integration tests' work
(tests/integration/test_commission_splits.py), and would make this test slow."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e import live

pytestmark = pytest.mark.e2e

CLOSE_LABEL = "未付款订单关闭时间（分钟，留空用系统默认）"
SPLIT_LABEL = "推广佣金通过支付平台分账给推客（需推客设置微信或支付宝收款账户）"


@pytest.fixture
def failed_split(live_server, service_urls, tmp_path):
    """A commission split of a demo order that WeChat closed (the seller's account abnormal),
    already retried once: (out_no, earlier out_no, the seller's name). Removed afterwards,
    with the brand's payment options."""
    from sqlalchemy import select

    from distweb.extensions import db
    from distweb.models import Order, Payment, PaymentOptions, ProfitSplit, Promoter
    from distweb.models.base import utcnow
    from distweb.models.order import OrderStatus

    control = live.control_app(service_urls, tmp_path)
    with control.app_context():
        order = db.session.scalars(select(Order).where(Order.promoter_id.is_not(None),
                                                       Order.status == OrderStatus.COMPLETED)
                                   .order_by(Order.id)).first()
        promoter = db.session.get(Promoter, order.promoter_id)
        now = utcnow()
        payment = Payment(brand_id=order.brand_id, order_id=order.id, provider="wechat", channel="native",
                          out_trade_no=f"E2E{order.id}PAY", amount_fen=order.total_paid_fen, status="paid",
                          provider_txn_id="4200000000e2e", created_at=now, paid_at=now)
        db.session.add(payment)
        db.session.flush()
        first = f"S{order.id}E2E0A1B2C"
        split = ProfitSplit(brand_id=order.brand_id, order_id=order.id, payment_id=payment.id, provider="wechat",
                            out_no=f"{first}_2", amount_fen=1234, status="failed", attempts=1,
                            failure="ACCOUNT_ABNORMAL", created_at=now, next_try_at=now, completed_at=now, sent_at=now,
                            earlier_out_nos=[first],
                            receivers=[{"kind": "promoter", "promoter_id": promoter.id, "line_ids": [],
                                        "account": "oE2ESeller000000000000001", "account_type": "PERSONAL_OPENID",
                                        "amount_fen": 1234, "result": "CLOSED", "failure": "ACCOUNT_ABNORMAL"}])
        db.session.add(split)
        db.session.commit()
        ids, name = (split.id, payment.id, order.brand_id), promoter.name
    try:
        yield f"{first}_2", first, name
    finally:
        with control.app_context():
            split_id, payment_id, brand_id = ids
            db.session.delete(db.session.get(ProfitSplit, split_id))
            db.session.delete(db.session.get(Payment, payment_id))
            options = db.session.get(PaymentOptions, brand_id)
            if options is not None:
                db.session.delete(options)
            db.session.commit()
            db.session.remove()
            db.engine.dispose()


def test_manager_sets_the_close_time_and_commission_split_and_sees_a_splits_state(
        desktop, manager_cookies, live_server, failed_split):
    out_no, earlier, seller = failed_split
    manager = desktop.new_page()
    desktop.add_cookies(manager_cookies)
    manager.goto("/manage/")
    manager.goto("/manage/settings/payments")
    form = manager.locator("form#pay-options")
    expect(form.get_by_label(CLOSE_LABEL)).to_have_value("")
    expect(form.get_by_label(SPLIT_LABEL)).not_to_be_checked()

    form.get_by_label(CLOSE_LABEL).fill("3")
    form.get_by_label(SPLIT_LABEL).check()
    form.get_by_role("button", name="保存").click()
    form = manager.locator("form#pay-options")
    expect(form.locator(".field.has-error .error")).to_have_text("关单时间应为 5 到 10080 分钟之间的整数。")
    expect(form.get_by_label(CLOSE_LABEL)).to_have_attribute("aria-invalid", "true")
    manager.goto("/manage/settings/payments")  # nothing was saved
    form = manager.locator("form#pay-options")
    expect(form.get_by_label(CLOSE_LABEL)).to_have_value("")
    expect(form.get_by_label(SPLIT_LABEL)).not_to_be_checked()

    form.get_by_label(CLOSE_LABEL).fill("30")
    form.get_by_label(SPLIT_LABEL).check()
    form.get_by_role("button", name="保存").click()
    expect(manager.locator("#toasts")).to_contain_text("支付设置已保存。")
    form = manager.locator("form#pay-options")
    expect(form.get_by_label(CLOSE_LABEL)).to_have_value("30")
    expect(form.get_by_label(SPLIT_LABEL)).to_be_checked()

    manager.get_by_role("link", name="支付对账").click()
    row = manager.locator("table#splits tbody tr", has=manager.locator("code", has_text=out_no))
    expect(row).to_have_count(1)
    expect(row).to_contain_text("分账失败")
    expect(row).to_contain_text(f"推客 {seller} ¥12.34")
    expect(row).to_contain_text("ACCOUNT_ABNORMAL")
    expect(row.locator(".hint")).to_contain_text(f"此前失败的分账单号: {earlier}")
    expect(row.get_by_role("button", name="重试")).to_be_visible()
    watch = desktop.watch
    assert not watch.csp and not watch.page_errors, vars(watch)
    # The refused save is the only failed response: 422 with the form and its message.
    assert [r.split(" ")[0] for r in watch.failed_responses] == ["422"], watch.failed_responses
