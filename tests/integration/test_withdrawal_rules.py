"""Withdrawal rules (提现规则) set by the brand without code: docs/API.md's shape through
``/api/v1/withdrawal-rules`` and the manager's settings page, and every rule applied to a
request — minimum, fee (with its minimum, never above the amount, rounded half-up), the
daily limit on the brand's calendar day, the methods offered and automatic approval."""

import json
import re
from datetime import UTC, datetime

import pytest

from distweb.extensions import db
from distweb.models import AuditEntry, Brand, PayoutAccount, Promoter, Withdrawal
from distweb.models.ledger import AccountKind
from distweb.models.payouts import WithdrawalStatus
from distweb.services import (
    api_keys,
    commission,
    ledger,
    network,
    wallet,
    withdrawal_rules,
    withdrawals,
)
from distweb.services.errors import ServiceError
from distweb.services.verify import verify
from tests.conftest import Browser
from tests.integration.test_payouts import fund
from tests.support.factories import PASSWORD

DEFAULTS = {"min_fen": 1000, "fee_bp": 0, "fee_min_fen": 0, "daily_limit_fen": None,
            "methods": ["alipay", "wechat", "bank"], "auto_approve_below_fen": None}
RULES = {"min_fen": 1000, "fee_bp": 60, "fee_min_fen": 100, "daily_limit_fen": 500000,
         "methods": ["alipay", "wechat", "bank"], "auto_approve_below_fen": None}


def funding_plan(brand_id):
    """What ``fund`` counts on: the seller earns 10 % of a sale as level-1 commission."""
    commission.save_plan(brand_id, {"depth": 1, "freeze_days": 7, "max_total_bp": 3000, "rules": [
        {"scope": {}, "level": 1, "kind": "percent", "rate_bp": 1000}]})


@pytest.fixture
def world(app_ctx, make):
    """A brand and a promoter with a wallet (``fund`` puts money in it)."""
    make.brand()
    seller = make.promoter(name="卖家")
    funding_plan(seller.brand_id)
    return {"brand": db.session.get(Brand, seller.brand_id), "seller": seller}


def set_rules(brand_id, **changes):
    return withdrawal_rules.save(brand_id, {**RULES, **changes})


def ask(world, amount_fen, method="bank", now=None):
    return withdrawals.request(world["seller"].id, withdrawals.Request(amount_fen, method, "卖家", "6222 0000"),
                               now=now)


def refused(world, amount_fen, method="bank", now=None) -> str:
    with pytest.raises(ServiceError) as err:
        ask(world, amount_fen, method, now)
    assert err.value.status == 422
    return err.value.code


# ---------------------------------------------------------------- the API


@pytest.fixture
def api(app, make, client):
    brand = make.brand()
    promoter = make.promoter(name="卖家")
    with app.app_context():
        _row, key = api_keys.create_key(db.session.get(Brand, brand.id), "财务系统")

    class Api:
        brand_id = brand.id
        promoter_code = promoter.code
        promoter_id = promoter.id

        def call(self, method, path, body=None):
            kwargs = {"headers": {"Authorization": f"Bearer {key}"}}
            if body is not None:
                kwargs["data"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
                kwargs["content_type"] = "application/json"
            return client.open("/api/v1" + path, method=method, **kwargs)

        def audits(self):
            with app.app_context():
                return [(a.action, a.actor_user_id, a.details)
                        for a in db.session.query(AuditEntry).filter_by(action="settings.withdrawal")]

    return Api()


def test_the_api_reads_the_defaults_and_round_trips_the_whole_shape(api):
    assert api.call("GET", "/withdrawal-rules").get_json() == DEFAULTS
    body = {"min_fen": 2000, "fee_bp": 60, "fee_min_fen": 100, "daily_limit_fen": 500000,
            "methods": ["bank", "alipay"], "auto_approve_below_fen": 5000}
    saved = api.call("PUT", "/withdrawal-rules", body)
    assert saved.status_code == 200 and saved.get_json() == body
    assert api.call("GET", "/withdrawal-rules").get_json() == body
    # null is "no limit" / "never automatic"; the largest amount a rule may name is 2^53.
    unlimited = {**body, "daily_limit_fen": None, "auto_approve_below_fen": 2**53}
    assert api.call("PUT", "/withdrawal-rules", unlimited).get_json() == unlimited
    assert api.call("GET", "/withdrawal-rules").get_json() == unlimited
    (first, second) = api.audits()
    assert first[1] is None and first[2]["before"] == DEFAULTS and first[2]["after"] == body
    assert "api_key" in first[2] and second[2]["before"] == body and second[2]["after"] == unlimited


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"fee_rate": 60}, "unknown_field", "fee_rate"),
    ({"fee_fixed_fen": 100}, "unknown_field", "fee_fixed_fen"),  # the old shape's keys are not rules
    ({"auto_approve": True}, "unknown_field", "auto_approve"),
    ({"min_fen": None}, "invalid_type", "min_fen"),
    ({"min_fen": 1000.0}, "invalid_type", "min_fen"),  # a float is refused, never rounded
    ({"min_fen": "1000"}, "invalid_type", "min_fen"),
    ({"min_fen": 0}, "out_of_range", "min_fen"),
    ({"min_fen": -1}, "negative_amount", "min_fen"),
    ({"min_fen": 2**53 + 1}, "out_of_range", "min_fen"),
    ({"fee_bp": 60.5}, "invalid_type", "fee_bp"),
    ({"fee_bp": "60"}, "invalid_type", "fee_bp"),
    ({"fee_bp": True}, "invalid_type", "fee_bp"),
    ({"fee_bp": -1}, "negative_amount", "fee_bp"),
    ({"fee_bp": 10001}, "out_of_range", "fee_bp"),
    ({"fee_min_fen": None}, "invalid_type", "fee_min_fen"),
    ({"fee_min_fen": 1.5}, "invalid_type", "fee_min_fen"),
    ({"fee_min_fen": -100}, "negative_amount", "fee_min_fen"),
    ({"daily_limit_fen": "500000"}, "invalid_type", "daily_limit_fen"),
    ({"daily_limit_fen": 5000.0}, "invalid_type", "daily_limit_fen"),
    ({"daily_limit_fen": -1}, "negative_amount", "daily_limit_fen"),
    ({"daily_limit_fen": False}, "invalid_type", "daily_limit_fen"),
    ({"auto_approve_below_fen": True}, "invalid_type", "auto_approve_below_fen"),
    ({"auto_approve_below_fen": -5}, "negative_amount", "auto_approve_below_fen"),
    ({"auto_approve_below_fen": 99.99}, "invalid_type", "auto_approve_below_fen"),
    ({"methods": []}, "invalid_methods", "methods"),
    ({"methods": None}, "invalid_methods", "methods"),
    ({"methods": "bank"}, "invalid_methods", "methods"),
    ({"methods": ["bank", "paypal"]}, "invalid_methods", "methods"),
    ({"methods": ["bank", "bank"]}, "invalid_methods", "methods"),
    ({"methods": [1]}, "invalid_methods", "methods"),
    ({"methods": [["bank"]]}, "invalid_methods", "methods"),
])
def test_a_bad_rules_body_is_a_422_naming_the_field_and_saves_nothing(api, change, code, field):
    before = api.call("GET", "/withdrawal-rules").get_json()
    response = api.call("PUT", "/withdrawal-rules", {**RULES, **change})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == (code, field) and error["message"]
    assert api.call("GET", "/withdrawal-rules").get_json() == before
    assert api.audits() == []


@pytest.mark.parametrize("missing", list(RULES))
def test_put_takes_the_whole_shape(api, missing):
    body = {k: v for k, v in RULES.items() if k != missing}
    response = api.call("PUT", "/withdrawal-rules", body)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "missing_field"
    assert response.get_json()["error"]["field"] == missing
    assert api.call("GET", "/withdrawal-rules").get_json() == DEFAULTS


@pytest.mark.parametrize("raw", ["[1, 2]", "not json", ""])
def test_put_of_something_that_is_not_an_object_is_refused(api, raw):
    assert api.call("PUT", "/withdrawal-rules", raw).status_code == 400
    assert api.call("GET", "/withdrawal-rules").get_json() == DEFAULTS


def test_api_withdrawals_follow_the_rules_set_through_the_api(api, app):
    assert api.call("PUT", "/withdrawal-rules", {
        "min_fen": 2000, "fee_bp": 60, "fee_min_fen": 50, "daily_limit_fen": 30000,
        "methods": ["alipay", "bank"], "auto_approve_below_fen": 3000}).status_code == 200
    with app.app_context():
        funding_plan(api.brand_id)
        fund({"brand": db.session.get(Brand, api.brand_id), "seller": db.session.get(Promoter, api.promoter_id)},
             50000)
    path = f"/promoters/{api.promoter_code}/withdrawals"

    def post(amount, method="alipay"):
        return api.call("POST", path, {"amount_fen": amount, "method": method, "account": "a@b"})

    def code(response):
        assert response.status_code == 422
        return response.get_json()["error"]["code"]

    assert code(post(1999)) == "below_minimum"
    assert code(post(5000, "wechat")) == "invalid_method"
    small = post(2000).get_json()
    assert (small["status"], small["fee_fen"], small["net_fen"]) == ("approved", 50, 1950)  # below 3000: automatic; the minimum fee
    big = post(12345).get_json()
    assert (big["status"], big["fee_fen"], big["net_fen"]) == ("requested", 74, 12271)  # 74.07 → 74
    assert code(post(20000)) == "over_daily_limit"  # 2000 + 12345 + 20000 > 30000
    assert post(15655, "bank").status_code == 201  # exactly the day's remaining limit


# ---------------------------------------------------------------- the rules applied


@pytest.mark.parametrize(("amount", "fee_bp", "fee_min", "fee"), [
    (12345, 60, 0, 74),      # 74.07 → 74
    (12425, 60, 0, 75),      # 74.55 → 75
    (100, 50, 0, 1),         # exactly half a fen rounds up (四舍五入), not to even
    (300, 50, 0, 2),
    (10000, 60, 100, 100),   # 60 is below the minimum fee: the minimum applies
    (20000, 60, 100, 120),   # above it: the rate applies
    (50, 0, 100, 50),        # never more than the amount
    (5000, 10000, 0, 5000),  # 100 %
    (5000, 0, 0, 0),
])
def test_the_fee_formula(amount, fee_bp, fee_min, fee):
    assert withdrawals.fee_for(amount, {**RULES, "fee_bp": fee_bp, "fee_min_fen": fee_min}) == fee


def test_a_request_carries_the_fee_and_the_net_amount(world):
    set_rules(world["brand"].id, min_fen=1, fee_bp=60, fee_min_fen=50)
    fund(world, 50000)
    w = ask(world, 12345)
    assert (w.fee_fen, w.net_fen) == (74, 12271)
    small = ask(world, 5000)  # 0.6 % is 30: the minimum fee
    assert (small.fee_fen, small.net_fen) == (50, 4950)
    tiny = ask(world, 30)  # the ¥0.50 minimum fee is more than the amount: the whole amount, no more
    assert (tiny.fee_fen, tiny.net_fen) == (30, 0)
    assert wallet.balances(world["seller"].id)["pending_withdrawal_fen"] == 12345 + 5000 + 30
    for each in (w, small, tiny):
        withdrawals.approve(each.brand_id, each.id)
        withdrawals.mark_paid(each.brand_id, each.id, f"TX-{each.id}")
    assert ledger.balance(w.brand_id, AccountKind.WITHDRAWAL_FEES) == 74 + 50 + 30
    assert wallet.balances(world["seller"].id)["withdrawn_fen"] == 12271 + 4950 + 0
    assert verify().ok


def test_below_the_minimum_is_refused(world):
    set_rules(world["brand"].id, min_fen=2000)
    fund(world, 50000)
    assert refused(world, 1999) == "below_minimum"
    assert ask(world, 2000).amount_fen == 2000


def test_a_method_not_listed_is_refused(world):
    set_rules(world["brand"].id, methods=["bank"])
    fund(world, 50000)
    assert refused(world, 5000, "alipay") == "invalid_method"
    assert refused(world, 5000, "wechat") == "invalid_method"
    assert ask(world, 5000, "bank").method == "bank"
    assert db.session.query(Withdrawal).count() == 1


SHANGHAI_LATE = datetime(2026, 12, 6, 15, 30, tzinfo=UTC)            # 2026-12-06 23:30+08:00
SHANGHAI_AFTER_MIDNIGHT = datetime(2026, 12, 6, 16, 30, tzinfo=UTC)  # 2026-12-07 00:30+08:00, same UTC day


def test_the_daily_limit_is_the_brands_calendar_day(world):
    set_rules(world["brand"].id, daily_limit_fen=30000)
    fund(world, 200000)
    ask(world, 20000, now=SHANGHAI_LATE)
    assert refused(world, 15000, now=datetime(2026, 12, 6, 15, 59, tzinfo=UTC)) == "over_daily_limit"
    # Past midnight in Shanghai, though still the same UTC day: a fresh day.
    fresh = ask(world, 20000, now=SHANGHAI_AFTER_MIDNIGHT)
    assert fresh.created_at == SHANGHAI_AFTER_MIDNIGHT
    assert refused(world, 15000, now=datetime(2026, 12, 7, 9, 0, tzinfo=UTC)) == "over_daily_limit"  # 17:00+08
    assert ask(world, 10000, now=datetime(2026, 12, 7, 9, 0, tzinfo=UTC)).amount_fen == 10000  # exactly the rest
    assert refused(world, 1000, now=datetime(2026, 12, 7, 15, 59, tzinfo=UTC)) == "over_daily_limit"  # 23:59+08
    assert ask(world, 30000, now=datetime(2026, 12, 7, 16, 0, tzinfo=UTC)).amount_fen == 30000  # 12-08 00:00+08
    assert verify().ok


def test_the_day_follows_the_brands_own_time_zone(world):
    db.session.get(Brand, world["brand"].id).timezone = "UTC"
    db.session.commit()
    set_rules(world["brand"].id, daily_limit_fen=30000)
    fund(world, 200000)
    ask(world, 20000, now=SHANGHAI_LATE)
    # 16:30 UTC is the same calendar day for a brand on UTC.
    assert refused(world, 20000, now=SHANGHAI_AFTER_MIDNIGHT) == "over_daily_limit"
    assert ask(world, 20000, now=datetime(2026, 12, 7, 0, 0, tzinfo=UTC)).amount_fen == 20000


def test_a_single_request_over_the_limit_and_rejected_requests_do_not_count(world):
    set_rules(world["brand"].id, daily_limit_fen=30000)
    fund(world, 200000)
    noon = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    assert refused(world, 30001, now=noon) == "over_daily_limit"
    w = ask(world, 30000, now=noon)
    assert refused(world, 1000, now=noon) == "over_daily_limit"
    withdrawals.reject(w.brand_id, w.id, "账户名不符")
    assert ask(world, 30000, now=noon).amount_fen == 30000  # the rejected one no longer counts
    assert verify().ok


def test_a_zero_daily_limit_stops_withdrawals_and_null_is_no_limit(world):
    set_rules(world["brand"].id, daily_limit_fen=0)
    fund(world, 200000)
    assert refused(world, 1000) == "over_daily_limit"
    set_rules(world["brand"].id, daily_limit_fen=None)
    assert ask(world, 150000).amount_fen == 150000


def test_automatic_approval_only_strictly_below_the_amount(world):
    set_rules(world["brand"].id, auto_approve_below_fen=5000)
    fund(world, 50000)
    when = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    below = ask(world, 4999, now=when)
    assert below.status == WithdrawalStatus.APPROVED and below.decided_at == when and below.decided_by_id is None
    assert ask(world, 5000).status == WithdrawalStatus.REQUESTED
    assert ask(world, 5001).status == WithdrawalStatus.REQUESTED
    paid = withdrawals.mark_paid(below.brand_id, below.id, "TX-1")  # approved already: finance can pay it
    assert paid.status == WithdrawalStatus.PAID
    set_rules(world["brand"].id, auto_approve_below_fen=None)
    assert ask(world, 1000).status == WithdrawalStatus.REQUESTED  # null: never automatic
    assert verify().ok


def test_keys_missing_from_what_is_stored_read_as_their_defaults(world):
    settings = network.get_settings(world["brand"].id)
    settings.withdrawal = {"fee_bp": 60, "stray": 1}
    db.session.commit()
    assert withdrawals.rules_for(world["brand"].id) == {**DEFAULTS, "fee_bp": 60}


# ---------------------------------------------------------------- the manager's page

PAGE = "/manage/settings/withdrawals"
FORM = {"min_amount": "20.00", "fee_rate": "0.6", "fee_min": "1", "daily_limit": "5000",
        "methods": ["alipay", "bank"], "auto_approve_below": ""}


def manager(app, make):
    make.brand()
    browser = Browser(app.test_client())
    assert browser.login("boss@example.com", PASSWORD).status_code == 302
    return browser


def stored(app):
    with app.app_context():
        brand_id = db.session.query(Brand.id).scalar()
        return withdrawal_rules.get(brand_id)


def test_the_settings_page_shows_saves_and_shows_again(app, make):
    browser = manager(app, make)
    page = browser.get(PAGE).get_data(as_text=True)
    assert _value(page, "min_amount") == "10.00" and _checked(page) == {"alipay", "wechat", "bank"}  # defaults
    assert f'href="{PAGE}"' in page and 'aria-current="page"' in page  # in the settings navigation
    saved = browser.post(PAGE, FORM)
    assert saved.status_code == 302
    assert stored(app) == {"min_fen": 2000, "fee_bp": 60, "fee_min_fen": 100, "daily_limit_fen": 500000,
                           "methods": ["alipay", "bank"], "auto_approve_below_fen": None}
    page = browser.get(PAGE).get_data(as_text=True)
    assert [_value(page, n) for n in ("min_amount", "fee_rate", "fee_min", "daily_limit", "auto_approve_below")] == [
        "20.00", "0.6", "1.00", "5000.00", ""]
    assert _checked(page) == {"alipay", "bank"}
    # A zero limit is a limit (no withdrawals), not "no limit"; a threshold of ¥50.
    assert browser.post(PAGE, {**FORM, "daily_limit": "0", "auto_approve_below": "50", "fee_rate": "",
                               "fee_min": ""}).status_code == 302
    assert stored(app) == {"min_fen": 2000, "fee_bp": 0, "fee_min_fen": 0, "daily_limit_fen": 0,
                           "methods": ["alipay", "bank"], "auto_approve_below_fen": 5000}
    page = browser.get(PAGE).get_data(as_text=True)
    assert _value(page, "daily_limit") == "0.00" and _value(page, "auto_approve_below") == "50.00"
    assert _value(page, "fee_rate") == "0" and _value(page, "fee_min") == "0.00"
    with app.app_context():
        audits = db.session.query(AuditEntry).filter_by(action="settings.withdrawal").order_by(AuditEntry.id).all()
        assert len(audits) == 2 and all(a.actor_user_id is not None for a in audits)
        assert audits[1].details["before"]["fee_bp"] == 60 and audits[1].details["after"]["fee_bp"] == 0


def _inputs(page: str) -> list[str]:
    return re.findall(r"<input[^>]*>", page)


def _value(page: str, name: str) -> str:
    (tag,) = [t for t in _inputs(page) if f'name="{name}"' in t]
    return re.search(r'value="([^"]*)"', tag).group(1)


def _checked(page: str) -> set[str]:
    return {re.search(r'value="([a-z]+)"', t).group(1) for t in _inputs(page)
            if 'name="methods"' in t and "checked" in t}


@pytest.mark.parametrize(("change", "status", "text"), [
    ({"min_amount": "12.345"}, 400, "最多两位小数"),
    ({"min_amount": ""}, 400, "请输入最低提现金额"),
    ({"min_amount": "1e999999"}, 400, "最多两位小数"),
    ({"min_amount": "0"}, 422, "最低提现金额至少为 0.01 元"),
    ({"fee_rate": "abc"}, 400, "百分比"),
    ({"fee_rate": "0.125"}, 400, "百分比"),
    ({"fee_rate": "100.01"}, 400, "百分比"),
    ({"fee_rate": "-1"}, 400, "百分比"),
    ({"fee_min": "-1"}, 400, "最多两位小数"),
    ({"daily_limit": "ten"}, 400, "最多两位小数"),
    ({"auto_approve_below": "1.001"}, 400, "最多两位小数"),
    ({"methods": []}, 422, "提现方式至少选择一种"),
    ({"methods": ["paypal"]}, 400, ""),
    ({"daily_limit": "90071992547409.93"}, 422, "金额过大"),
])
def test_the_settings_page_refuses_bad_input_and_changes_nothing(app, make, change, status, text):
    browser = manager(app, make)
    assert browser.post(PAGE, FORM).status_code == 302
    before = stored(app)
    response = browser.post(PAGE, {**FORM, **change})
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert text in body and 'class="error"' in body
    assert stored(app) == before


def test_the_promoter_sees_the_rules_when_withdrawing(app, make):
    promoter = make.promoter(name="卖家", phone="13700000001")
    with app.app_context():
        set_rules(promoter.brand_id, min_fen=2000, fee_bp=60, fee_min_fen=100, daily_limit_fen=500000)
        db.session.add(PayoutAccount(promoter_id=promoter.id, method="bank", account_name="卖家", account_no="6222"))
        db.session.commit()
    browser = Browser(app.test_client())
    assert browser.login("13700000001", PASSWORD).status_code == 302
    page = browser.get("/promoter/withdraw").get_data(as_text=True)
    assert "最低 ¥20.00" in page and "0.60%，每笔最低 ¥1.00" in page and "每日限额 ¥5,000.00" in page
