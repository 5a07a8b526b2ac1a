"""Signing in and out as a browser does: CSRF, rate limits, server-side session ends."""

from tests.conftest import Browser
from tests.support.factories import PASSWORD


def test_promoter_signs_in_with_phone_and_lands_on_the_promoter_home(browser, make):
    promoter = make.promoter(name="李小红", phone="13900000001")
    response = browser.login("13900000001", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/promoter/")
    home = browser.get("/promoter/").get_data(as_text=True)
    assert "你好，李小红" in home
    assert promoter.code in home


def test_manager_signs_in_with_email_case_insensitively(browser, make):
    make.brand()
    response = browser.login("  BOSS@Example.com ", PASSWORD)
    assert response.headers["Location"].endswith("/manage/")


def test_wrong_password_and_unknown_user_get_the_same_clear_message(browser, make):
    make.promoter(phone="13900000002")
    for login in ("13900000002", "13999999999"):
        response = browser.login(login, "wrong-password1")
        assert response.status_code == 401
        assert "手机号/邮箱或密码不正确" in response.get_data(as_text=True)


def test_empty_login_form_is_a_form_error_not_a_crash(browser, make):
    make.brand()
    response = browser.post("/auth/login", {"login": "", "password": ""})
    assert response.status_code == 400
    assert "请输入手机号或邮箱" in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, make):
    make.promoter(phone="13900000003")
    response = client.post("/auth/login", data={"login": "13900000003", "password": PASSWORD})
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)
    assert client.get("/promoter/").status_code == 302  # still signed out


def test_disabled_account_cannot_sign_in(browser, make, app):
    from distweb.extensions import db
    from distweb.models import User

    promoter = make.promoter(phone="13900000004")
    with app.app_context():
        db.session.get(User, promoter.user_id).is_enabled = False
        db.session.commit()
    assert browser.login("13900000004", PASSWORD).status_code == 401


def test_login_is_rate_limited_per_address(browser, make, app):
    make.brand()
    # A different account each time: the per-address limit, not the per-account one.
    statuses = [browser.login(f"139000001{i:02d}", "nope-nope1").status_code for i in range(11)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    assert "操作太频繁" in browser.login("13900000199", "nope-nope1").get_data(as_text=True)


def test_logout_ends_the_session_on_the_server(app, make):
    make.promoter(phone="13900000005")
    browser = Browser(app.test_client())
    browser.login("13900000005", PASSWORD)
    stolen_cookie = browser.client.get_cookie("session", domain="distweb.test").value
    assert browser.post("/auth/logout", token_from="/promoter/").status_code == 302

    thief = app.test_client()
    thief.set_cookie("session", stolen_cookie, domain="distweb.test")
    response = thief.get("/promoter/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_password_change_signs_out_other_devices_but_not_this_one(app, make):
    make.promoter(phone="13900000006")
    phone_a, phone_b = Browser(app.test_client()), Browser(app.test_client())
    phone_a.login("13900000006", PASSWORD)
    phone_b.login("13900000006", PASSWORD)
    response = phone_a.post(
        "/auth/password",
        {"current_password": PASSWORD, "new_password": "newpass123", "confirm": "newpass123"},
    )
    assert response.status_code == 302
    assert phone_a.get("/promoter/").status_code == 200
    assert phone_b.get("/promoter/").status_code == 302
    fresh = Browser(app.test_client())
    assert fresh.login("13900000006", PASSWORD).status_code == 401
    assert fresh.login("13900000006", "newpass123").status_code == 302


def test_password_change_rejects_wrong_current_and_weak_new(browser, make):
    make.promoter(phone="13900000007")
    browser.login("13900000007", PASSWORD)
    wrong = browser.post("/auth/password", {"current_password": "x1234567", "new_password": "newpass123", "confirm": "newpass123"})
    assert wrong.status_code == 400 and "当前密码不正确" in wrong.get_data(as_text=True)
    weak = browser.post("/auth/password", {"current_password": PASSWORD, "new_password": "12345678", "confirm": "12345678"})
    assert weak.status_code == 400 and "字母和数字" in weak.get_data(as_text=True)
    mismatch = browser.post("/auth/password", {"current_password": PASSWORD, "new_password": "newpass123", "confirm": "other123"})
    assert mismatch.status_code == 400 and "两次输入的密码不一致" in mismatch.get_data(as_text=True)


def test_expired_session_on_an_htmx_request_answers_hx_redirect(client, make):
    make.brand()
    response = client.get("/promoter/orders", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "/auth/login" in response.headers["HX-Redirect"]


def test_next_parameter_never_redirects_off_site(browser, make):
    make.promoter(phone="13900000008")
    response = browser.post("/auth/login?next=//evil.example/x", {"login": "13900000008", "password": PASSWORD},
                            token_from="/auth/login")
    assert response.headers["Location"].endswith("/promoter/")


def test_passwords_are_stored_as_argon2_hashes(make):
    promoter = make.promoter()
    assert promoter.user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in promoter.user.password_hash


def test_disabling_an_account_ends_its_open_sessions_at_the_next_request(app, make):
    from distweb.extensions import db
    from distweb.models import User

    promoter = make.promoter(phone="13900000010")
    browser = Browser(app.test_client())
    browser.login("13900000010", PASSWORD)
    assert browser.get("/promoter/").status_code == 200
    with app.app_context():
        db.session.get(User, promoter.user_id).is_enabled = False
        db.session.commit()
    response = browser.get("/promoter/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_the_signed_in_user_is_read_with_its_session_and_is_read_only(app, make):
    import pytest

    from distweb.models import Brand, Promoter, User
    from distweb.services import accounts

    promoter = make.promoter(name="王五", phone="13900000011")
    with app.test_request_context():
        from distweb.extensions import db

        user = db.session.get(User, promoter.user_id)
        token = accounts.start_session(user, "test")
        signed_in = accounts.user_for_session(token)
        assert (signed_in.id, signed_in.name, signed_in.promoter_id, signed_in.promoter_code) == (
            user.id, "王五", promoter.id, promoter.code)
        assert signed_in.get_id() == token and signed_in.is_authenticated and signed_in.is_promoter
        assert signed_in.timezone == user.brand.timezone and signed_in.brand_look.name == user.brand.name
        # The ORM objects, on demand, for code that needs them (and for what is not copied).
        assert isinstance(signed_in.brand, Brand) and isinstance(signed_in.promoter, Promoter)
        assert signed_in.record is user and signed_in.password_hash == user.password_hash
        # A change made here could never be saved, so it is refused.
        with pytest.raises(AttributeError):
            signed_in.name = "someone else"
        with pytest.raises(AttributeError):
            signed_in.brand_look.name = "another brand"
        accounts.end_session(token)
        assert accounts.user_for_session(token) is None


def _session_cookie_set(response) -> bool:
    return any(h.startswith("session=") for h in response.headers.getlist("Set-Cookie"))


def test_an_unchanged_session_cookie_is_signed_again_only_once_an_hour(app, make, monkeypatch):
    from datetime import timedelta

    from distweb.web import sessions

    make.promoter(phone="13900000012")
    browser = Browser(app.test_client())
    before = browser.token("/auth/login")
    assert _session_cookie_set(browser.login("13900000012", PASSWORD))
    # The sign-in's cookie already holds the session's new CSRF token: the pages after it
    # change nothing, so they send no cookie.
    assert not _session_cookie_set(browser.get("/promoter/"))
    assert not _session_cookie_set(browser.get("/promoter/"))
    assert browser.token("/promoter/") != before
    later = sessions._now() + timedelta(minutes=61)
    monkeypatch.setattr(sessions, "_now", lambda: later)
    refreshed = browser.get("/promoter/")
    assert refreshed.status_code == 200 and _session_cookie_set(refreshed)
    # A changed session is saved at once, however young its cookie.
    monkeypatch.undo()
    assert _session_cookie_set(browser.post("/auth/logout", token_from="/promoter/"))


def test_a_session_cookie_older_than_its_lifetime_is_signed_out(app, make, monkeypatch):
    import time

    make.promoter(phone="13900000013")
    browser = Browser(app.test_client())
    browser.login("13900000013", PASSWORD)
    assert browser.get("/promoter/").status_code == 200
    now = time.time()
    lifetime = app.permanent_session_lifetime.total_seconds()
    monkeypatch.setattr(time, "time", lambda: now + lifetime + 60)
    response = browser.get("/promoter/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_any_page_of_a_session_gives_a_csrf_token_that_validates_and_no_other_sessions_does(app, make):
    make.promoter(phone="13900000014")
    phone_a, phone_b = Browser(app.test_client()), Browser(app.test_client())
    phone_a.login("13900000014", PASSWORD)
    phone_b.login("13900000014", PASSWORD)
    home_token, orders_token = phone_a.token("/promoter/"), phone_a.token("/promoter/orders")
    # Another session's signed token is refused; this one's own, from any page, is accepted.
    assert phone_a.post("/auth/logout", {"csrf_token": phone_b.token("/promoter/")}).status_code == 400
    assert phone_a.post("/promoter/notifications", {"csrf_token": home_token}).status_code != 400
    assert phone_a.post("/auth/logout", {"csrf_token": orders_token}).status_code == 302


def test_a_verified_session_cookie_is_read_again_without_letting_changes_or_forgeries_through(app, make):
    from flask import request, session

    make.promoter(phone="13900000015")
    browser = Browser(app.test_client())
    browser.login("13900000015", PASSWORD)
    cookie = browser.client.get_cookie("session", domain="distweb.test").value
    interface = app.session_interface
    headers = {"Cookie": f"session={cookie}"}
    with app.test_request_context("/", headers=headers):
        first = interface.open_session(app, request)
        first["_flashes"] = [("info", "only in this request")]
        first["_user_id"] = "someone else"
    with app.test_request_context("/", headers=headers):
        again = interface.open_session(app, request)
        assert "_flashes" not in again and again["_user_id"] != "someone else"
        assert again.issued_at == first.issued_at
    forged = cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]
    thief = app.test_client()
    thief.set_cookie("session", forged, domain="distweb.test")
    response = thief.get("/promoter/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    with app.test_request_context("/"):
        assert "_user_id" not in session


def test_failed_sign_ins_are_limited_per_account_from_any_address(app, make):
    """Guessing one account's password from many addresses is stopped after five failures in
    15 minutes, with a message saying so; other accounts and right passwords before that are
    unaffected."""
    make.promoter(phone="13900000011")
    make.promoter(phone="13900000012")

    def attempt(login, password, ip):
        browser = Browser(app.test_client())
        page = browser.client.get("/auth/login", environ_base={"REMOTE_ADDR": ip}).get_data(as_text=True)
        from tests.conftest import csrf_token_from

        return browser.client.post("/auth/login", environ_base={"REMOTE_ADDR": ip}, data={
            "login": login, "password": password, "csrf_token": csrf_token_from(page)})

    assert attempt("13900000011", PASSWORD, "198.51.100.1").status_code == 302  # success: not counted
    statuses = [attempt("13900000011", "wrong-pass1", f"198.51.100.{10 + i}").status_code for i in range(5)]
    assert statuses == [401] * 5
    locked = attempt(" 13900000011 ", PASSWORD, "198.51.100.99")  # even the right password, written loosely
    assert locked.status_code == 429
    assert "密码错误次数过多" in locked.get_data(as_text=True) and "15 分钟" in locked.get_data(as_text=True)
    assert attempt("13900000012", PASSWORD, "198.51.100.98").status_code == 302  # another account signs in


def test_a_suspended_promoter_signs_in_read_only_with_a_banner_saying_why(app, make):
    from distweb.extensions import db
    from distweb.models import Promoter, User
    from distweb.services import network

    promoter = make.promoter(name="暂停者", phone="13900000021")
    with app.app_context():
        manager = db.session.query(User).filter(User.email == "boss@example.com").one()
        network.change_status(manager, db.session.get(Promoter, promoter.id), "suspend", "违规宣传")
    browser = Browser(app.test_client())
    assert browser.login("13900000021", PASSWORD).status_code == 302
    for page in ("/promoter/", "/promoter/wallet", "/promoter/orders", "/promoter/statements"):
        response = browser.get(page)
        text = response.get_data(as_text=True)
        assert response.status_code == 200, page
        assert "推客账号已停用" in text and "违规宣传" in text, page
    for url, data in (("/promoter/withdraw", {"amount": "1.00", "method": "alipay"}),
                      ("/promoter/payout-account", {"method": "alipay", "account_name": "甲", "account_no": "a@b.c",
                                                    "password": PASSWORD}),
                      ("/promoter/me/avatar", {})):
        refused = browser.post(url, data, token_from="/promoter/wallet")
        assert refused.status_code == 403, url
        assert "账号已停用" in refused.get_data(as_text=True)
    with app.app_context():
        from distweb.models import PayoutAccount

        assert db.session.query(PayoutAccount).count() == 0
    # An active promoter sees no banner.
    make.promoter(name="正常", phone="13900000022")
    other = Browser(app.test_client())
    other.login("13900000022", PASSWORD)
    assert "推客账号已停用" not in other.get("/promoter/").get_data(as_text=True)
