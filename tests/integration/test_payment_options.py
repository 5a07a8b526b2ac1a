"""A brand's payment options beyond one provider: providers' settings supplied by the
environment (shown as such on the page, secrets never shown nor logged; the page's own
settings win), and the brand's own close time for unpaid online orders."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

import pytest

from distweb.extensions import db
from distweb.models import Brand, Order, Payment, PaymentOptions
from distweb.models.base import utcnow
from distweb.models.order import OrderStatus
from distweb.services import catalogue, online_pay, payment_env
from tests.integration.test_online_pay import place, start_paying


def wechat_environment(stand_in, tmp_path) -> dict:
    settings, secrets = stand_in.settings()
    key_file = tmp_path / "apiclient_key.pem"
    key_file.write_text(secrets["private_key"])
    return {"DISTWEB_WECHATPAY_MCHID": settings["mchid"], "DISTWEB_WECHATPAY_APPID": settings["appid"],
            "DISTWEB_WECHATPAY_CERT_SERIAL_NO": settings["cert_serial_no"],
            "DISTWEB_WECHATPAY_PROXY": settings["proxy"], "DISTWEB_WECHATPAY_PRIVATE_KEY_FILE": str(key_file),
            "DISTWEB_WECHATPAY_APIV3_KEY": secrets["apiv3_key"]}


@pytest.fixture
def env_config(app):
    before = {k: app.config.get(k) for k in ("PAYMENT_ENV", "PAYMENT_ENV_BRANDS")}

    def use(environ):
        app.config.update(payment_env.from_environment(environ))

    yield use
    app.config.update(before)


@pytest.fixture
def tea_shop(app, make):
    brand = make.brand()
    seller = make.promoter(name="店主", phone="13500000002", distributor=True)
    make.supplier_user("westlake")
    with app.app_context():
        catalogue.upsert_product(db.session.get(Brand, brand.id), "TEA-001", catalogue.ProductInput(
            name="明前龙井", price_fen=5900, supply_cost_fen=3100, supplier_code="westlake",
            modes=("promotion", "consignment")))
        db.session.remove()
    return {"brand": brand, "seller": seller}


def test_the_environment_names_and_only_complete_providers_count(tmp_path):
    assert payment_env.from_environment({}) == {"PAYMENT_ENV": {}, "PAYMENT_ENV_BRANDS": None}
    partial = payment_env.from_environment({"DISTWEB_ALIPAY_APP_ID": "2021000000000001"})
    assert partial["PAYMENT_ENV"] == {}  # no keys: not supplied
    with pytest.raises(payment_env.PaymentEnvError, match="DISTWEB_ALIPAY_APP_PRIVATE_KEY_FILE") as err:
        payment_env.from_environment({"DISTWEB_ALIPAY_APP_PRIVATE_KEY_FILE": str(tmp_path / "missing.pem")})
    assert "missing.pem" not in str(err.value)
    named = payment_env.from_environment({"DISTWEB_PAYMENT_ENV_BRAND": "3, 7"})
    assert named["PAYMENT_ENV_BRANDS"] == frozenset({3, 7})
    with pytest.raises(payment_env.PaymentEnvError):
        payment_env.from_environment({"DISTWEB_PAYMENT_ENV_BRAND": "tea"})


def test_a_provider_from_the_environment_takes_payment_and_the_page_says_so_without_secrets(
        app, tea_shop, client, browser, wechat, trusted, env_config, tmp_path, caplog):
    environ = wechat_environment(wechat, tmp_path)
    env_config(environ)
    token = place(client, tea_shop["seller"])
    with caplog.at_level(logging.DEBUG):
        assert start_paying(client, token, "wechat").status_code == 302
        with app.app_context():
            payment = db.session.query(Payment).one()
            assert (payment.provider, payment.status, payment.amount_fen) == ("wechat", "pending", 11800)
        headers, body = wechat.pay(payment.out_trade_no)
        assert client.post("/pay/wechat/notify", data=body, headers=headers).status_code == 204
    with app.app_context():
        assert db.session.query(Order).one().status == OrderStatus.PAID
        assert online_pay.enabled(tea_shop["brand"].id) == ["wechat"]
    browser.login("boss@example.com", "secret123")
    page = browser.get("/manage/settings/payments").get_data(as_text=True)
    assert "已启用（环境变量）" in page and "DISTWEB_WECHATPAY_PRIVATE_KEY" in page and wechat.mchid in page
    key_body = (tmp_path / "apiclient_key.pem").read_text().splitlines()[1]
    for secret in (key_body, environ["DISTWEB_WECHATPAY_APIV3_KEY"]):
        assert secret not in page and secret not in caplog.text
    # Another brand's id named: this brand no longer takes it from the environment.
    env_config({**environ, "DISTWEB_PAYMENT_ENV_BRAND": str(tea_shop["brand"].id + 1)})
    with app.app_context():
        assert online_pay.enabled(tea_shop["brand"].id) == []
    assert "已启用（环境变量）" not in browser.get("/manage/settings/payments").get_data(as_text=True)


def test_settings_saved_on_the_page_win_over_the_environment(app, tea_shop, wechat, env_config, tmp_path):
    env_config(wechat_environment(wechat, tmp_path))
    brand_id = tea_shop["brand"].id
    with app.app_context():
        settings, secrets = wechat.settings()
        online_pay.save_config(brand_id, "wechat", False, settings, secrets)  # saved, switched off
        assert online_pay.enabled(brand_id) == []
        assert online_pay.enabled_pairs() == []


def test_a_brands_own_close_time_closes_its_unpaid_orders_and_a_wrong_one_is_refused(
        app, tea_shop, client, browser, wechat, trusted):
    with app.app_context():
        settings, secrets = wechat.settings()
        online_pay.save_config(tea_shop["brand"].id, "wechat", True, settings, secrets)
    browser.login("boss@example.com", "secret123")
    page = browser.get("/manage/settings/payments").get_data(as_text=True)
    token = re.search(r'name="options-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    for wrong in ("3", "abc", "10081"):
        response = browser.client.post("/manage/settings/payments", data={
            "provider": "options", "options-csrf_token": token, "options-close_minutes": wrong})
        assert response.status_code == 422
        assert "关单时间应为 5 到 10080 分钟之间的整数。" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(PaymentOptions, tea_shop["brand"].id) is None  # nothing changed
    response = browser.client.post("/manage/settings/payments", data={
        "provider": "options", "options-csrf_token": token, "options-close_minutes": "90",
        "options-commission_split": "y"})
    assert response.status_code == 302
    page = browser.get("/manage/settings/payments").get_data(as_text=True)
    assert 'value="90"' in page and re.search(r'<input (?=[^>]*\bchecked\b)[^>]*id="options-commission_split"', page)
    with app.app_context():
        assert online_pay.commission_split(tea_shop["brand"].id) is True
    order_token = place(client, tea_shop["seller"])
    start_paying(client, order_token, "wechat")
    with app.app_context():
        payment = db.session.query(Payment).one()
        expire = datetime.fromisoformat(wechat.calls[-1][2]["time_expire"])
        assert abs(expire - (payment.created_at + timedelta(minutes=90))) < timedelta(seconds=5)  # told the provider
        default_later = utcnow() + timedelta(minutes=app.config["PAYMENT_CLOSE_MINUTES"] + 1)
        assert default_later < utcnow() + timedelta(minutes=90)
        assert online_pay.close_expired(now=default_later) == 0  # the default would have closed it
        assert online_pay.close_expired(now=utcnow() + timedelta(minutes=91)) == 1
        assert db.session.query(Order).one().status == OrderStatus.CANCELLED
    # Emptied: the installation's default again.
    browser.client.post("/manage/settings/payments", data={
        "provider": "options", "options-csrf_token": token, "options-close_minutes": ""})
    with app.app_context():
        assert online_pay.close_minutes(tea_shop["brand"].id) == app.config["PAYMENT_CLOSE_MINUTES"]
        assert online_pay.commission_split(tea_shop["brand"].id) is False  # unticked


def test_alipay_from_the_environment_with_its_key_in_a_file(app, tea_shop, alipay, env_config, tmp_path):
    settings, secrets = alipay.settings()
    key_file = tmp_path / "app_private_key.pem"
    key_file.write_text(secrets["app_private_key"])
    env_config({"DISTWEB_ALIPAY_APP_ID": settings["app_id"], "DISTWEB_ALIPAY_GATEWAY": settings["gateway"],
                "DISTWEB_ALIPAY_APP_PRIVATE_KEY_FILE": str(key_file),
                "DISTWEB_ALIPAY_PUBLIC_KEY": secrets["alipay_public_key"],
                "DISTWEB_PAYMENT_ENV_BRAND": str(tea_shop["brand"].id)})
    with app.app_context():
        assert online_pay.enabled(tea_shop["brand"].id) == ["alipay"]
        assert online_pay.enabled_pairs() == [(tea_shop["brand"].id, "alipay")]
        provider = online_pay.provider_for(tea_shop["brand"].id, "alipay")
        notice = provider.query("D1NEVERSTARTED")  # a signed call the stand-in verifies
        assert (notice.kind, notice.status) == ("payment", "pending")
    assert alipay.calls[-1][0] == "alipay.trade.query"
