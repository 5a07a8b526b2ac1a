"""The promoter network: sign-up by invite, binding and attribution rules, cycles,
snapshots, ranks. Each rule is checked the way a brand would notice it going wrong."""

from datetime import timedelta

import pytest

from distweb.extensions import db
from distweb.models import BuyerBinding, Click, Promoter, User
from distweb.models.base import utcnow
from distweb.models.network import BindingMode, PromoterStatus, Rank
from distweb.services import attribution, network
from distweb.services.errors import ServiceError
from tests.conftest import Browser


def settings_for(brand_id, **changes):
    settings = network.get_settings(brand_id)
    for key, value in changes.items():
        setattr(settings, key, value)
    db.session.commit()
    return settings


# ---------------------------------------------------------------- sign-up


def signup_form(**overrides):
    data = {"name": "新人小王", "phone": "13911112222", "password": "abc12345", "agree": "y"}
    data.update(overrides)
    return data


def sign_up(browser, invite_code, outbox, **overrides):
    """Sign up as a person does: 获取验证码 for the phone, then the form with the code."""
    data = signup_form(**overrides)
    sent = browser.post(f"/j/{invite_code}", {"phone": data["phone"], "send_code": "1"})
    assert sent.status_code == 200, sent.get_data(as_text=True)
    data["code"] = outbox.last_code(data["phone"])
    return browser.post(f"/j/{invite_code}", data)


def test_sign_up_from_an_invite_binds_under_the_inviter_and_signs_in(app, make, sms_outbox):
    inviter = make.promoter(name="邀请人")
    browser = Browser(app.test_client())
    page = browser.get(f"/j/{inviter.code}").get_data(as_text=True)
    assert "邀请人 邀请你加入" in page
    response = sign_up(browser, inviter.code, sms_outbox)
    assert response.status_code == 302 and "/promoter/" in response.headers["Location"]
    assert "你好，新人小王" in browser.get("/promoter/").get_data(as_text=True)
    with app.app_context():
        new = db.session.query(Promoter).join(User).filter(User.phone == "13911112222").one()
        assert new.upline_id == inviter.id and new.status == PromoterStatus.ACTIVE
        assert new.code != inviter.code and len(new.code) == 8


def test_sign_up_waits_for_approval_when_the_brand_says_so(app, make, browser, sms_outbox):
    inviter = make.promoter()
    with app.app_context():
        settings_for(inviter.brand_id, signup_requires_approval=True)
    response = sign_up(browser, inviter.code, sms_outbox, phone="13911112223")
    assert response.status_code == 200 and "等待审核" in response.get_data(as_text=True)
    assert browser.login("13911112223", "abc12345").status_code == 302  # can sign in...
    with app.app_context():
        new = db.session.query(Promoter).join(User).filter(User.phone == "13911112223").one()
        assert new.status == PromoterStatus.PENDING


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"phone": "12345"}, "请输入 11 位手机号码"),
        ({"password": "12345678"}, "字母和数字"),
        ({"password": "ab1"}, "至少需要"),
        ({"agree": ""}, "请阅读并同意"),
        ({"name": ""}, "请输入姓名"),
    ],
)
def test_bad_sign_up_input_is_a_form_message_and_writes_nothing(app, make, browser, overrides, message):
    inviter = make.promoter()
    response = browser.post(f"/j/{inviter.code}", signup_form(**overrides))
    assert response.status_code in (400, 422)
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Promoter).count() == 1


def test_duplicate_phone_is_refused(app, make, browser, sms_outbox):
    inviter = make.promoter(phone="13911112224")
    response = browser.post(f"/j/{inviter.code}", signup_form(phone="13911112224", code="123456"))
    assert response.status_code == 422 and "该手机号已被注册" in response.get_data(as_text=True)
    # and no code is sent to a registered phone for a sign-up
    asked = browser.post(f"/j/{inviter.code}", {"phone": "13911112224", "send_code": "1"})
    assert asked.status_code == 422 and "该手机号已被注册" in asked.get_data(as_text=True)
    assert sms_outbox.sent == []


@pytest.mark.parametrize("status", [PromoterStatus.SUSPENDED, PromoterStatus.PENDING, PromoterStatus.REJECTED])
def test_invites_of_inactive_promoters_are_dead(make, browser, status):
    inviter = make.promoter(status=status)
    page = browser.get(f"/j/{inviter.code}")
    assert page.status_code == 404 and "邀请链接已失效" in page.get_data(as_text=True)
    assert browser.post(f"/j/{inviter.code}", signup_form(phone="13911112225")).status_code == 404


def test_unknown_invite_code_is_a_friendly_404(make, browser):
    make.brand()
    response = browser.get("/j/ZZZZZZZZ")
    assert response.status_code == 404 and "邀请链接已失效" in response.get_data(as_text=True)


def test_sign_up_is_rate_limited(make, browser):
    inviter = make.promoter()
    statuses = [browser.post(f"/j/{inviter.code}", signup_form(phone=f"1391111{i:04d}", name="")).status_code
                for i in range(6)]
    assert statuses[-1] == 429


def test_invite_qr_codes_encode_the_invite_url(make, client):
    inviter = make.promoter()
    svg = client.get(f"/j/{inviter.code}/qr.svg")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    with client.get(f"/j/{inviter.code}/qr.png?download=1") as png:
        assert png.mimetype == "image/png" and png.data[:8] == b"\x89PNG\r\n\x1a\n"
        assert "attachment" in png.headers["Content-Disposition"]


# ---------------------------------------------------------------- tracked links


def test_tracked_link_logs_the_click_sets_a_signed_cookie_and_redirects(app, make, client):
    promoter = make.promoter()
    response = client.get(f"/r/{promoter.code}/TEA-001", headers={"User-Agent": "MicroMessenger"},
                          environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert response.status_code == 302
    cookie = client.get_cookie(attribution.COOKIE_NAME, domain="distweb.test")
    assert cookie is not None and cookie.http_only
    with app.app_context():
        click = db.session.query(Click).one()
        assert click.promoter_id == promoter.id and click.target == "TEA-001"
        assert click.user_agent == "MicroMessenger" and "10.0.0.7" not in click.ip_hash
        assert attribution.read_touches(cookie.value)[0][0] == promoter.id


def test_a_flood_of_clicks_from_one_address_counts_once(app, make, client):
    promoter = make.promoter()
    for _ in range(50):
        assert client.get(f"/r/{promoter.code}", environ_base={"REMOTE_ADDR": "10.0.0.8"}).status_code == 302
    client.get(f"/r/{promoter.code}", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    with app.app_context():
        assert db.session.query(Click).count() == 2


def test_links_of_unknown_or_suspended_promoters_set_nothing(app, make, client):
    suspended = make.promoter(status=PromoterStatus.SUSPENDED)
    for code in (suspended.code, "NOSUCH99"):
        assert client.get(f"/r/{code}").status_code == 302
    assert client.get_cookie(attribution.COOKIE_NAME, domain="distweb.test") is None
    with app.app_context():
        assert db.session.query(Click).count() == 0


def test_a_tampered_attribution_cookie_reads_as_no_touch(app_ctx):
    good = attribution.add_touch(None, 7)
    assert attribution.read_touches(good)[0][0] == 7
    payload, _, signature = good.rpartition(".")
    assert attribution.read_touches(payload + "." + signature[::-1]) == []
    assert attribution.read_touches("garbage") == []
    assert attribution.read_touches(None) == []


# ---------------------------------------------------------------- binding and attribution rules


def touch(promoter, days_ago=0):
    return (promoter.id, int((utcnow() - timedelta(days=days_ago)).timestamp()))


@pytest.fixture
def three(make):
    return make.promoter(name="甲"), make.promoter(name="乙"), make.promoter(name="丙")


def resolve(brand_id, buyer, touches, explicit=None, now=None):
    """Resolve a buyer's order and, as its payment does, bind the buyer to a promoter a
    share chose."""
    settings = network.get_settings(brand_id)
    chosen, source = attribution.resolve_promoter(settings, buyer, touches, explicit, now=now)
    if buyer and chosen and source != "binding":
        attribution.bind_buyer(settings, buyer, chosen, now)
    db.session.commit()
    return chosen, source


def test_last_touch_picks_the_latest_share_and_first_touch_the_earliest(app_ctx, three):
    a, b, _c = three
    settings_for(a.brand_id, binding_mode=BindingMode.OVERWRITE)
    touches = [touch(a, 3), touch(b, 1)]
    assert resolve(a.brand_id, None, touches) == (b.id, "link")
    settings_for(a.brand_id, attribution="first_touch")
    assert resolve(a.brand_id, None, touches) == (a.id, "link")


def test_touches_outside_the_attribution_window_do_not_count(app_ctx, three):
    a, _b, _c = three
    settings_for(a.brand_id, attribution_window_days=7)
    assert resolve(a.brand_id, None, [touch(a, 8)]) == (None, None)
    assert resolve(a.brand_id, None, [touch(a, 6)]) == (a.id, "link")


def test_permanent_binding_keeps_the_first_promoter_for_good(app_ctx, three):
    a, b, _c = three
    settings_for(a.brand_id, binding_mode=BindingMode.PERMANENT)
    buyer = attribution.buyer_key_for_phone("13700001111")
    assert resolve(a.brand_id, buyer, [touch(a)]) == (a.id, "link")
    assert resolve(a.brand_id, buyer, [touch(b)]) == (a.id, "binding")
    assert resolve(a.brand_id, buyer, [], explicit=b.id) == (a.id, "binding")
    far_future = utcnow() + timedelta(days=3000)
    assert resolve(a.brand_id, buyer, [], now=far_future) == (a.id, "binding")


def test_binding_for_n_days_expires_and_then_a_new_share_takes_over(app_ctx, three):
    a, b, _c = three
    settings_for(a.brand_id, binding_mode=BindingMode.DAYS, binding_days=10)
    buyer = attribution.buyer_key_for_phone("13700002222")
    assert resolve(a.brand_id, buyer, [touch(a)]) == (a.id, "link")
    assert resolve(a.brand_id, buyer, [touch(b)]) == (a.id, "binding")  # still bound
    later = utcnow() + timedelta(days=11)
    late_touch = [(b.id, int(later.timestamp()))]
    assert resolve(a.brand_id, buyer, late_touch, now=later) == (b.id, "link")
    binding = db.session.query(BuyerBinding).one()
    assert binding.promoter_id == b.id and binding.expires_at > later


def test_overwrite_binding_follows_each_new_share(app_ctx, three):
    a, b, c = three
    settings_for(a.brand_id, binding_mode=BindingMode.OVERWRITE)
    buyer = attribution.buyer_key_for_phone("13700003333")
    assert resolve(a.brand_id, buyer, [touch(a)]) == (a.id, "link")
    assert resolve(a.brand_id, buyer, [touch(b)]) == (b.id, "link")
    assert resolve(a.brand_id, buyer, [], explicit=c.id) == (c.id, "shop")
    assert resolve(a.brand_id, buyer, []) == (c.id, "binding")  # no new share: the last one holds


def test_a_touch_of_another_brands_promoter_is_ignored(app_ctx, three, make):
    a, _b, _c = three
    from distweb.models import Brand

    other_brand = Brand(name="别家", short_name="别家")
    db.session.add(other_brand)
    db.session.commit()
    stranger = make.promoter(name="外人")
    db.session.get(Promoter, stranger.id).brand_id = other_brand.id
    db.session.commit()
    assert resolve(a.brand_id, None, [touch(stranger)]) == (None, None)
    assert resolve(a.brand_id, None, [(999999, int(utcnow().timestamp()))]) == (None, None)


# ---------------------------------------------------------------- the chain snapshot


def test_chain_snapshot_keeps_three_positions_and_skips_suspended(app_ctx, make):
    """The snapshot keeps all three positions; the plan version pricing the order decides how
    deep it pays (one depth setting: the plan's)."""
    top = make.promoter(name="顶")
    mid = make.promoter(name="中", upline=top)
    low = make.promoter(name="下", upline=mid)
    settings = settings_for(top.brand_id)
    chain = attribution.snapshot_chain(settings, low.id)
    assert chain.positions == [low.id, mid.id, top.id]
    db.session.get(Promoter, mid.id).status = PromoterStatus.SUSPENDED
    db.session.commit()
    # the suspended upline's share is paid to no one; the chain does not close up
    assert attribution.snapshot_chain(settings, low.id).positions == [low.id, None, top.id]


def test_self_purchase_off_starts_the_chain_at_the_upline(app_ctx, make):
    top = make.promoter(name="顶")
    me = make.promoter(name="我", upline=top)
    settings = settings_for(top.brand_id)
    buyer = db.session.get(User, me.user_id)
    chain = attribution.snapshot_chain(settings, me.id, buyer_user=buyer, self_purchase=False)
    assert chain.promoter_id == top.id and chain.source == "self"
    assert chain.positions == [top.id, None, None]
    allowed = attribution.snapshot_chain(settings, me.id, buyer_user=buyer, self_purchase=True)
    assert allowed.positions == [me.id, top.id, None]


def test_moving_a_promoter_never_changes_a_chain_already_taken(app_ctx, make):
    a = make.promoter(name="A")
    b = make.promoter(name="B")
    low = make.promoter(name="下", upline=a)
    settings = settings_for(a.brand_id)
    before = attribution.snapshot_chain(settings, low.id)  # what an order stores when placed
    manager = db.session.query(User).filter(User.email == "boss@example.com").one()
    network.move(manager, db.session.get(Promoter, low.id), b.code)
    assert before.positions == [low.id, a.id, None]
    assert attribution.snapshot_chain(settings, low.id).positions == [low.id, b.id, None]


# ---------------------------------------------------------------- moves and cycles


def test_move_carries_the_whole_downline_and_keeps_levels_right(app_ctx, make):
    root1, root2 = make.promoter(name="根1"), make.promoter(name="根2")
    mid = make.promoter(name="中", upline=root1)
    child = make.promoter(name="子", upline=mid)
    grandchild = make.promoter(name="孙", upline=child)
    manager = db.session.query(User).filter(User.email == "boss@example.com").one()
    network.move(manager, db.session.get(Promoter, mid.id), root2.code)
    db.session.expire_all()
    rows = {p.id: (p.upline_id, p.upline2_id, p.upline3_id) for p in db.session.query(Promoter)}
    assert rows[mid.id] == (root2.id, None, None)
    assert rows[child.id] == (mid.id, root2.id, None)
    assert rows[grandchild.id] == (child.id, mid.id, root2.id)


def test_cycles_and_self_upline_are_refused(app_ctx, make):
    top = make.promoter(name="顶")
    mid = make.promoter(name="中", upline=top)
    deep = [mid]
    for i in range(5):  # deeper than the commission levels: cycles are refused at any depth
        deep.append(make.promoter(name=f"深{i}", upline=deep[-1]))
    manager = db.session.query(User).filter(User.email == "boss@example.com").one()
    top_row = db.session.get(Promoter, top.id)
    with pytest.raises(ServiceError) as err:
        network.move(manager, top_row, deep[-1].code)
    assert err.value.code == "cycle"
    with pytest.raises(ServiceError) as err:
        network.move(manager, top_row, top.code)
    assert err.value.code == "self_upline"
    db.session.expire_all()
    assert db.session.get(Promoter, top.id).upline_id is None  # nothing changed


# ---------------------------------------------------------------- ranks


def test_rank_promotion_follows_sales_rules_never_headcount(app_ctx, make):
    from distweb.services.network import SettingsInput

    leader = make.promoter(name="团长")
    members = [make.promoter(name=f"成员{i}", upline=leader) for i in range(3)]
    product = make.product(price_fen=100000)
    manager = db.session.query(User).filter(User.email == "boss@example.com").one()
    rules = {"mentor": {"days": 30, "own_sales_fen": 0, "team_sales_fen": 250000}}
    network.update_settings(manager, SettingsInput(2, False, "permanent", 30, "last_touch", 30, "推客", "导师", "合伙人", rules))
    assert network.evaluate_ranks(leader.brand_id) == []  # three members, no sales: no promotion
    for m in members:
        make.order(m, product)
    promoted = network.evaluate_ranks(leader.brand_id)
    assert promoted == [(leader.id, "promoter", "mentor")]
    assert db.session.get(Promoter, leader.id).rank == Rank.MENTOR


def test_a_rule_without_a_sales_threshold_is_refused(app_ctx, make):
    from distweb.services.network import SettingsInput

    make.brand()
    manager = db.session.query(User).filter(User.email == "boss@example.com").one()
    rules = {"mentor": {"days": 30, "own_sales_fen": 0, "team_sales_fen": 0}}
    with pytest.raises(ServiceError) as err:
        network.update_settings(manager, SettingsInput(2, False, "permanent", 30, "last_touch", 30, "推客", "导师", "合伙人", rules))
    assert err.value.code == "rank_rule_needs_sales"


def test_a_promoter_sharing_to_itself_is_never_bound_to_itself(app_ctx, three, make):
    from distweb.models import Brand
    from distweb.services import orders

    a, b, _c = three
    settings_for(a.brand_id, binding_mode=BindingMode.PERMANENT)
    me = db.session.get(Promoter, a.id)
    own_phone = db.session.get(User, me.user_id).phone
    own_phone_key = attribution.buyer_key_for_phone(own_phone)
    product = make.product()
    order = orders.place_order(db.session.get(Brand, a.brand_id), orders.OrderInput(
        external_id="SELF-1", mode="promotion", promoter_code=me.code, items=[orders.ItemInput(product.sku, 1)],
        buyer=orders.BuyerInput("我", own_phone), paid_at=utcnow()))
    assert order.attribution_source == "self"  # a self-purchase: the chain starts at the upline
    assert db.session.query(BuyerBinding).count() == 0  # no self-binding
    # a later share by someone else can still bind this buyer
    assert resolve(a.brand_id, own_phone_key, [touch(b)]) == (b.id, "link")
