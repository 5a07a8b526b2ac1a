"""A buyer's shop order paid online through a provider's stand-in (tests/fakes), as the
payment and split tests start theirs."""

from __future__ import annotations

import requests

from distweb.extensions import db
from distweb.models import Order, Payment
from tests.conftest import Browser, csrf_token_from


def paid_order(app, client, seller, provider, wechat, alipay) -> tuple[int, str]:
    """Two TEA-001 bought in the seller's shop and paid with ``provider``: (order id, out_trade_no)."""
    browser = Browser(client)
    response = browser.post(f"/s/{seller.code}/p/TEA-001", {
        "quantity": "2", "name": "李女士", "phone": "13912341234", "address": "杭州市西湖区"})
    token = response.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/s/o/{token}").get_data(as_text=True)
    client.post(f"/s/o/{token}/pay", data={"provider": provider, "csrf_token": csrf_token_from(page)})
    with app.app_context():
        payment = db.session.query(Payment).order_by(Payment.id.desc()).first()
        number, action = payment.out_trade_no, payment.action
    if provider == "wechat":
        headers, body = wechat.pay(number)
        assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    else:
        requests.get(action["url"], timeout=5)
        client.post("/pay/alipay/notify", data=alipay.pay(number), content_type="application/x-www-form-urlencoded")
    with app.app_context():
        order_id = db.session.query(Order).filter(Order.public_token == token).one().id
    return order_id, number
