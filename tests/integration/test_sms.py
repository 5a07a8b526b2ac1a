"""Phone verification by SMS code: sign-up, 忘记密码 (password reset), the console sender of
the demo, and what keeps the codes safe (expiry, single use, attempts, hashing, limits).
A stand-in provider (``sms_outbox``) records every code the app asks it to send."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from distweb.extensions import db
from distweb.models import LoginSession, Promoter, SmsCode, User
from distweb.models.base import utcnow
from distweb.models.sms import SmsCodeStatus
from distweb.services import sms
from distweb.services.errors import ServiceError
from tests.conftest import Browser
from tests.support.factories import PASSWORD

PHONE = "13911112222"


def signup_form(**overrides):
    data = {"name": "新人小王", "phone": PHONE, "password": "abc12345", "agree": "y"}
    data.update(overrides)
    return data


def ask_code(browser, url, phone=PHONE, remote_addr="203.0.113.5", **fields):
    return browser.post(url, {"phone": phone, "send_code": "1", **fields}, environ_base={"REMOTE_ADDR": remote_addr})


def text(response) -> str:
    return response.get_data(as_text=True)


def promoters(app) -> int:
    with app.app_context():
        return db.session.query(Promoter).count()


@pytest.fixture
def inviter(make):
    return make.promoter(name="邀请人", phone="13800000001")


# ---------------------------------------------------------------- sign-up


def test_sign_up_needs_the_code_sent_to_the_phone(app, inviter, browser, sms_outbox):
    url = f"/j/{inviter.code}"
    sent = ask_code(browser, url)
    assert sent.status_code == 200
    assert "验证码已发送至 139****2222" in text(sent)
    assert [m.phone for m in sms_outbox.sent] == [PHONE] and sms_outbox.sent[0].minutes == 5
    code = sms_outbox.last_code(PHONE)
    assert code not in text(sent)  # a real provider's code is never on the page

    without = browser.post(url, signup_form())
    assert without.status_code == 400 and "请输入短信验证码" in text(without)
    wrong = browser.post(url, signup_form(code="000000" if code != "000000" else "111111"))
    assert wrong.status_code == 422 and "验证码不正确，还可以再试 4 次" in text(wrong)
    assert promoters(app) == 1

    done = browser.post(url, signup_form(code=code))
    assert done.status_code == 302 and "/promoter/" in done.headers["Location"]
    with app.app_context():
        assert db.session.scalars(select(User).where(User.phone == PHONE)).one().promoter.upline_id == inviter.id
        row = db.session.scalars(select(SmsCode)).one()
        assert row.consumed_at is not None and row.status == SmsCodeStatus.SENT and row.provider_ref == "test-1"


def test_a_phone_never_sent_a_code_cannot_sign_up(app, inviter, browser, sms_outbox):
    """Today's hole: any 11-digit number registered. A guessed code with no code sent is refused."""
    response = browser.post(f"/j/{inviter.code}", signup_form(code="123456"))
    assert response.status_code == 422 and "请先获取短信验证码" in text(response)
    assert promoters(app) == 1


def test_a_code_for_another_phone_or_purpose_does_not_count(app, inviter, browser, sms_outbox, make):
    url = f"/j/{inviter.code}"
    ask_code(browser, url, phone="13911113333")
    response = browser.post(url, signup_form(code=sms_outbox.last_code("13911113333")))  # typed PHONE
    assert response.status_code == 422 and "请先获取短信验证码" in text(response)
    make.promoter(phone="13922224444")
    ask_code(browser, "/auth/reset", phone="13922224444")  # a reset code is no sign-up code
    with app.app_context():
        with pytest.raises(ServiceError) as refused:
            sms.check_code("signup", "13922224444", sms_outbox.last_code("13922224444"))
        assert refused.value.code == "no_code"


def test_the_form_flags_every_invalid_field_at_once(app, inviter, browser, sms_outbox):
    response = browser.post(f"/j/{inviter.code}", {"name": "", "phone": "12345", "password": "ab1", "code": "12"})
    page = text(response)
    assert response.status_code == 400
    for message in ("请输入姓名", "请输入 11 位手机号码", "验证码是 6 位数字", "密码至少需要 8 个字符",
                    "请阅读并同意推广计划条款"):
        assert message in page, message
    # the terms box is flagged like the other fields, for eyes and for screen readers
    assert 'class="field checkbox has-error"' in page
    assert 'id="agree-error"' in page and 'aria-describedby="agree-error"' in page
    assert page.count('aria-invalid="true"') == 5
    assert sms_outbox.sent == [] and promoters(app) == 1


def test_a_password_of_letters_only_is_flagged_beside_a_bad_phone(inviter, browser, sms_outbox):
    page = text(browser.post(f"/j/{inviter.code}", signup_form(phone="1391111", password="abcdefgh", code="123456")))
    assert "请输入 11 位手机号码" in page and "密码需同时包含字母和数字" in page


def test_sending_checks_only_the_phone_and_keeps_what_was_typed(inviter, browser, sms_outbox):
    response = ask_code(browser, f"/j/{inviter.code}", name="新人小王")
    page = text(response)
    assert response.status_code == 200
    assert "请输入姓名" not in page and "请设置密码" not in page and 'value="新人小王"' in page
    bad = ask_code(browser, f"/j/{inviter.code}", phone="1234")
    assert bad.status_code == 422 and "请输入 11 位手机号码" in text(bad)
    assert len(sms_outbox.sent) == 1


def test_a_code_is_used_once(app, inviter, browser, sms_outbox, make):
    make.promoter(phone="13977778888")
    ask_code(browser, "/auth/reset", phone="13977778888")
    code = sms_outbox.last_code()
    with app.app_context():
        code_id = sms.check_code("reset", "13977778888", code)
        sms.consume(code_id)
        db.session.commit()
        with pytest.raises(ServiceError) as again:
            sms.check_code("reset", "13977778888", code)
        assert again.value.code == "code_expired"
        with pytest.raises(ServiceError):
            sms.consume(code_id)


def test_a_code_expires(app, inviter, browser, sms_outbox):
    ask_code(browser, f"/j/{inviter.code}")
    with app.app_context():
        db.session.execute(update(SmsCode).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = browser.post(f"/j/{inviter.code}", signup_form(code=sms_outbox.last_code()))
    assert response.status_code == 422 and "验证码已失效，请重新获取" in text(response)
    assert promoters(app) == 1


def test_five_wrong_attempts_kill_the_code(app, inviter, browser, sms_outbox):
    url = f"/j/{inviter.code}"
    ask_code(browser, url)
    code = sms_outbox.last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    app.config["SIGNUP_RATE_LIMIT"] = "100 per minute"
    try:
        answers = [text(browser.post(url, signup_form(code=wrong))) for _ in range(5)]
        assert "还可以再试 1 次" in answers[3] and "验证码错误次数过多" in answers[4]
        right = browser.post(url, signup_form(code=code))  # even the right code, now
    finally:
        del app.config["SIGNUP_RATE_LIMIT"]
    assert right.status_code == 422 and "验证码错误次数过多，请重新获取" in text(right)
    with app.app_context():
        assert db.session.scalar(select(SmsCode.attempts)) == 5
    assert promoters(app) == 1


def test_only_the_newest_code_counts(app, inviter, browser, sms_outbox):
    url = f"/j/{inviter.code}"
    ask_code(browser, url)
    first = sms_outbox.last_code()
    with app.app_context():  # a minute later
        db.session.execute(update(SmsCode).values(created_at=utcnow() - timedelta(seconds=61)))
        db.session.commit()
    assert ask_code(browser, url).status_code == 200
    second = sms_outbox.last_code()
    if first != second:
        assert browser.post(url, signup_form(code=first)).status_code == 422
    assert browser.post(url, signup_form(code=second)).status_code == 302


def test_codes_are_hashed_at_rest(app, inviter, browser, sms_outbox):
    ask_code(browser, f"/j/{inviter.code}")
    code = sms_outbox.last_code()
    with app.app_context():
        row = db.session.execute(select(SmsCode.__table__)).one()
        stored = " ".join(str(value) for value in row)
    assert code not in stored and PHONE not in stored and "2222" not in stored


def test_one_code_a_minute_per_phone_with_a_clear_message(inviter, browser, sms_outbox):
    url = f"/j/{inviter.code}"
    assert ask_code(browser, url).status_code == 200
    again = ask_code(browser, url)
    assert again.status_code == 422 and "秒后再重新获取" in text(again)
    assert len(sms_outbox.sent) == 1


def test_codes_are_limited_per_phone_from_any_address(app, inviter, sms_outbox):
    app.config["SMS_RESEND_SECONDS"] = 0
    try:
        statuses = [ask_code(Browser(app.test_client()), f"/j/{inviter.code}", remote_addr=f"198.51.100.{i}").status_code
                    for i in range(6)]
        other = ask_code(Browser(app.test_client()), f"/j/{inviter.code}", phone="13911113333",
                         remote_addr="198.51.100.99")
    finally:
        app.config["SMS_RESEND_SECONDS"] = 60
    assert statuses == [200] * 5 + [429]
    assert other.status_code == 200
    assert len(sms_outbox.sent) == 6


def test_codes_are_limited_per_address_across_phones_and_pages(app, inviter, sms_outbox, make):
    app.config["SMS_IP_RATE_LIMIT"] = "3 per hour"
    try:
        browser = Browser(app.test_client())
        statuses = [ask_code(browser, f"/j/{inviter.code}", phone=f"1391111000{i}").status_code for i in range(3)]
        make.promoter(phone="13922224444")
        refused = ask_code(browser, "/auth/reset", phone="13922224444")  # another page, the same address
        elsewhere = ask_code(Browser(app.test_client()), "/auth/reset", phone="13922224444", remote_addr="192.0.2.1")
    finally:
        app.config["SMS_IP_RATE_LIMIT"] = "10 per hour;30 per day"
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429 and "这个网络获取验证码太频繁" in text(refused)
    assert elsewhere.status_code == 200


def test_a_provider_failure_is_a_form_message_and_the_code_is_never_valid(app, inviter, browser, sms_outbox):
    sms_outbox.fail_with = "isv.BUSINESS_LIMIT_CONTROL"
    response = ask_code(browser, f"/j/{inviter.code}")
    assert response.status_code == 422 and "验证码发送失败，请稍后再试" in text(response)
    with app.app_context():
        assert db.session.scalar(select(SmsCode.status)) == SmsCodeStatus.FAILED
        with pytest.raises(ServiceError) as refused:
            sms.check_code("signup", PHONE, "123456")
        assert refused.value.code == "no_code"
    sms_outbox.fail_with = None
    assert ask_code(browser, f"/j/{inviter.code}").status_code == 200  # a failed send does not hold the phone


def test_the_console_sender_shows_the_code_on_the_page_and_logs_it(app, inviter, browser, caplog):
    assert app.config.get("SMS_SENDER") is None and app.config["SMS_PROVIDER"] == "console"
    with caplog.at_level(logging.WARNING, logger="distweb.sms"):
        response = ask_code(browser, f"/j/{inviter.code}")
    page = text(response)
    assert response.status_code == 200 and "演示模式" in page
    code = page.split("<strong>", 1)[1][:6]
    assert code.isdigit()
    assert any(code in r.getMessage() and "139****2222" in r.getMessage() for r in caplog.records)
    assert browser.post(f"/j/{inviter.code}", signup_form(code=code)).status_code == 302


# ---------------------------------------------------------------- 忘记密码


def test_password_reset_by_sms_code_ends_every_session(app, make, sms_outbox):
    make.promoter(phone="13900000006")
    phone_a, phone_b = Browser(app.test_client()), Browser(app.test_client())
    phone_a.login("13900000006", PASSWORD)
    phone_b.login("13900000006", PASSWORD)
    assert phone_a.get("/promoter/").status_code == 200

    login_page = text(Browser(app.test_client()).get("/auth/login"))
    assert 'href="/auth/reset"' in login_page and "忘记密码" in login_page
    forgot = Browser(app.test_client())
    assert ask_code(forgot, "/auth/reset", phone="13900000006").status_code == 200
    code = sms_outbox.last_code("13900000006")
    response = forgot.post("/auth/reset", {"phone": "13900000006", "code": code, "new_password": "newpass123",
                                           "confirm": "newpass123"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/auth/login")
    assert "密码已重置" in text(forgot.get("/auth/login"))

    assert phone_a.get("/promoter/").status_code == 302  # both old sessions ended
    assert phone_b.get("/promoter/").status_code == 302
    with app.app_context():
        assert db.session.query(LoginSession).filter(LoginSession.revoked_at.is_(None)).count() == 0
    fresh = Browser(app.test_client())
    assert fresh.login("13900000006", PASSWORD).status_code == 401
    assert fresh.login("13900000006", "newpass123").status_code == 302

    reused = forgot.post("/auth/reset", {"phone": "13900000006", "code": code, "new_password": "other1234",
                                         "confirm": "other1234"})
    assert reused.status_code == 422 and "验证码已失效" in text(reused)


def test_password_reset_refuses_unknown_phones_wrong_codes_and_flags_every_field(app, make, browser, sms_outbox):
    unknown = ask_code(browser, "/auth/reset", phone="13900000099")
    assert unknown.status_code == 422 and "该手机号未注册" in text(unknown) and sms_outbox.sent == []

    page = text(browser.post("/auth/reset", {"phone": "139", "code": "", "new_password": "short",
                                             "confirm": "other"}))
    for message in ("请输入 11 位手机号码", "请输入短信验证码", "密码至少需要 8 个字符", "两次输入的密码不一致"):
        assert message in page, message

    make.promoter(phone="13900000007")
    ask_code(browser, "/auth/reset", phone="13900000007")
    code = sms_outbox.last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = browser.post("/auth/reset", {"phone": "13900000007", "code": wrong, "new_password": "newpass123",
                                            "confirm": "newpass123"})
    assert response.status_code == 422 and "验证码不正确" in text(response)
    assert Browser(app.test_client()).login("13900000007", PASSWORD).status_code == 302  # unchanged


def test_an_imported_promoter_without_a_password_sets_one_by_reset(app, make, sms_outbox):
    from distweb.models import Brand
    from distweb.services import network

    make.brand()
    with app.app_context():
        network.import_promoter(db.session.get(Brand, make.brand().id), "导入的", "13900000008", None, None)
    browser = Browser(app.test_client())
    ask_code(browser, "/auth/reset", phone="13900000008")
    response = browser.post("/auth/reset", {"phone": "13900000008", "code": sms_outbox.last_code(),
                                            "new_password": "first1234", "confirm": "first1234"})
    assert response.status_code == 302
    assert Browser(app.test_client()).login("13900000008", "first1234").status_code == 302


def test_the_workers_upkeep_deletes_codes_older_than_a_day(app, inviter, browser, sms_outbox):
    ask_code(browser, f"/j/{inviter.code}")
    ask_code(browser, f"/j/{inviter.code}", phone="13911113333")
    with app.app_context():
        db.session.execute(update(SmsCode).where(SmsCode.id == db.session.scalar(select(SmsCode.id).limit(1)))
                           .values(created_at=utcnow() - timedelta(days=1, seconds=1)))
        db.session.commit()
        assert sms.purge_old() == 1
        assert sms.purge_old() == 0
        assert db.session.query(SmsCode).count() == 1
