"""What promoters and managers see of the network, and what they may not."""

import csv
import io

from distweb.extensions import db
from distweb.models import AuditEntry, Promoter, User
from distweb.models.network import PromoterStatus, Rank
from tests.conftest import Browser
from tests.support.factories import PASSWORD


def signed_in(app, phone):
    browser = Browser(app.test_client())
    assert browser.login(phone, PASSWORD).status_code == 302
    return browser


def test_team_page_shows_levels_with_month_sales_and_masks_phones(app, make):
    me = make.promoter(name="我", phone="13300000001")
    direct = make.promoter(name="直属甲", upline=me, phone="13300000002")
    make.promoter(name="二级乙", upline=direct, phone="13300000003")
    make.order(direct, make.product(price_fen=12345), quantity=2)
    browser = signed_in(app, "13300000001")
    level1 = browser.get("/promoter/team").get_data(as_text=True)
    assert "直属甲" in level1 and "二级乙" not in level1
    assert "133****0002" in level1 and "13300000002" not in level1
    assert "¥246.90" in level1
    level2 = browser.get("/promoter/team?level=2").get_data(as_text=True)
    assert "二级乙" in level2 and "直属甲" not in level2


def test_team_level_three_only_when_the_brand_pays_three_levels(app, make):
    me = make.promoter(name="我", phone="13300000011")
    browser = signed_in(app, "13300000011")
    assert "三级" not in browser.get("/promoter/team").get_data(as_text=True)
    page = browser.get("/promoter/team?level=3").get_data(as_text=True)
    assert 'aria-current="page">\n      直属' in page  # an unpaid level falls back to level 1
    del me


def test_team_search_is_a_fragment_for_htmx_and_finds_by_name(app, make):
    me = make.promoter(name="我", phone="13300000021")
    make.promoter(name="张三丰", upline=me)
    make.promoter(name="李寻欢", upline=me)
    browser = signed_in(app, "13300000021")
    fragment = browser.get("/promoter/team?level=1&q=张三", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "张三丰" in fragment and "李寻欢" not in fragment


def test_a_promoter_never_sees_another_promoters_team(app, make):
    me = make.promoter(name="我", phone="13300000031")
    stranger = make.promoter(name="路人")
    make.promoter(name="路人的下级", upline=stranger)
    browser = signed_in(app, "13300000031")
    for url in ("/promoter/team", "/promoter/team?level=2", "/promoter/team?q=路人"):
        assert "路人的下级" not in browser.get(url).get_data(as_text=True)
    assert browser.get(f"/manage/promoters/{stranger.id}").status_code == 403
    del me


def test_invite_page_counts_clicks_signups_and_buyers_today(app, make, client):
    me = make.promoter(name="我", phone="13300000041")
    client.get(f"/r/{me.code}", environ_base={"REMOTE_ADDR": "10.1.1.1"})
    client.get(f"/r/{me.code}", environ_base={"REMOTE_ADDR": "10.1.1.2"})
    make.promoter(name="新人", upline=me)
    browser = signed_in(app, "13300000041")
    page = browser.get("/promoter/invite").get_data(as_text=True)
    first_row = page.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    cells = [c.split("</td>")[0] for c in first_row.split('<td class="num">')[1:]]
    assert cells == ["2", "1", "0"]
    assert f"/j/{me.code}/qr.svg" in page


def manager(app):
    return signed_in(app, "boss@example.com")


def test_manager_filters_and_exports_promoters(app, make):
    top = make.promoter(name="顶级甲", rank=Rank.PARTNER)
    make.promoter(name="下级乙", upline=top)
    make.promoter(name="待审丙", status=PromoterStatus.PENDING)
    browser = manager(app)
    pending = browser.get("/manage/promoters?status=pending").get_data(as_text=True)
    assert "待审丙" in pending and "顶级甲" not in pending
    under = browser.get(f"/manage/promoters?upline={top.code}").get_data(as_text=True)
    assert "下级乙" in under and "待审丙" not in under
    assert "顶级甲" in browser.get("/manage/promoters?rank=partner").get_data(as_text=True)
    exported = browser.get(f"/manage/promoters.csv?upline={top.code}")
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "邀请码" and len(rows) == 2 and rows[1][1] == "下级乙"
    # (a code of digits and E, such as 2345E234, is exported with a text mark: see test_exports)
    assert rows[1][5] in (top.code, "'" + top.code)


def test_manager_approves_from_the_queue_with_htmx(app, make):
    waiting = make.promoter(name="待审", status=PromoterStatus.PENDING)
    browser = manager(app)
    assert "待审" in browser.get("/manage/approvals").get_data(as_text=True)
    row = browser.post(f"/manage/approvals/{waiting.id}", {"action": "approve"}, token_from="/manage/approvals",
                       headers={"HX-Request": "true"})
    assert row.status_code == 200 and "<html" not in row.get_data(as_text=True)
    assert "正常" in row.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Promoter, waiting.id).status == PromoterStatus.ACTIVE
        entry = db.session.query(AuditEntry).filter_by(action="promoter.approve").one()
        assert entry.subject_id == waiting.id


def test_rejecting_needs_a_reason(app, make):
    waiting = make.promoter(name="待审", status=PromoterStatus.PENDING)
    browser = manager(app)
    response = browser.post(f"/manage/approvals/{waiting.id}", {"action": "reject"}, token_from="/manage/approvals",
                            headers={"HX-Request": "true"})
    assert response.status_code == 422 and "请填写原因" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Promoter, waiting.id).status == PromoterStatus.PENDING


def test_manager_moves_a_promoter_and_a_cycle_is_a_clear_message(app, make):
    a, b = make.promoter(name="甲"), make.promoter(name="乙")
    child = make.promoter(name="子", upline=a)
    browser = manager(app)
    page = f"/manage/promoters/{child.id}"
    assert browser.post(f"{page}/move", {"upline_code": b.code}, token_from=page).status_code == 302
    shown = browser.get(page).get_data(as_text=True)
    assert "已保存" in shown and "乙" in shown.split("上级链", 1)[1]
    cycle = browser.post(f"/manage/promoters/{b.id}/move", {"upline_code": child.code}, token_from=page)
    assert cycle.status_code == 302
    assert "形成循环" in browser.get(f"/manage/promoters/{b.id}").get_data(as_text=True)


def test_manager_sets_a_rank_by_hand_with_an_audit_entry(app, make):
    p = make.promoter(name="甲")
    browser = manager(app)
    page = f"/manage/promoters/{p.id}"
    browser.post(f"{page}/rank", {"rank": "mentor", "note": "线下活动表现突出"}, token_from=page)
    shown = browser.get(page).get_data(as_text=True)
    assert "等级变更" in shown and "线下活动表现突出" in shown
    with app.app_context():
        assert db.session.get(Promoter, p.id).rank == Rank.MENTOR


def test_manager_makes_a_promoter_a_distributor_and_back_with_audit_entries(app, make):
    p = make.promoter(name="甲")
    browser = manager(app)
    page = f"/manage/promoters/{p.id}"
    shown = browser.get(page).get_data(as_text=True)
    assert "否，仅推广" in shown and "设为分销商" in shown
    response = browser.post(f"{page}/distributor", {"distributor": "1"}, token_from=page)
    assert response.status_code == 302
    shown = browser.get(page).get_data(as_text=True)
    assert "已保存" in shown and "是，可代销和经销" in shown
    assert 'name="distributor" value="0"' in shown and 'name="distributor" value="1"' not in shown
    assert "设为分销商" in shown.split("操作记录", 1)[1]  # the audit entry's label
    with app.app_context():
        assert db.session.get(Promoter, p.id).distributor is True
    browser.post(f"{page}/distributor", {"distributor": "0"}, token_from=page)
    shown = browser.get(page).get_data(as_text=True)
    assert "否，仅推广" in shown and "取消分销商" in shown.split("操作记录", 1)[1]
    with app.app_context():
        assert db.session.get(Promoter, p.id).distributor is False
        entries = db.session.query(AuditEntry).filter_by(subject_id=p.id).order_by(AuditEntry.id).all()
        boss = db.session.query(User).filter_by(email="boss@example.com").one()
        assert [(e.action, e.actor_user_id) for e in entries] == [
            ("promoter.distributor.set", boss.id), ("promoter.distributor.unset", boss.id)]


def test_setting_a_distributor_needs_the_csrf_token_and_a_value(app, make):
    p = make.promoter(name="甲")
    browser = manager(app)
    page = f"/manage/promoters/{p.id}"
    assert browser.client.post(f"{page}/distributor", data={"distributor": "1"}).status_code == 400
    assert browser.post(f"{page}/distributor", {"distributor": "yes"}, token_from=page).status_code == 400
    assert browser.post(f"{page}/distributor", {}, token_from=page).status_code == 400
    with app.app_context():
        assert db.session.get(Promoter, p.id).distributor is False
        assert db.session.query(AuditEntry).filter_by(subject_id=p.id).count() == 0


def test_a_promoter_cannot_make_itself_a_distributor(app, make):
    me = make.promoter(name="我", phone="13300000051")
    browser = signed_in(app, "13300000051")
    response = browser.post(f"/manage/promoters/{me.id}/distributor", {"distributor": "1"}, token_from="/promoter/")
    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(Promoter, me.id).distributor is False


def test_manager_list_shows_filters_and_exports_distributors(app, make):
    make.promoter(name="分销甲", distributor=True)
    make.promoter(name="推客乙")
    browser = manager(app)
    listing = browser.get("/manage/promoters").get_data(as_text=True)
    row = listing.split("分销甲", 1)[1].split("</tr>", 1)[0]
    assert '<span class="badge">分销商</span>' in row
    assert '<span class="badge">分销商</span>' not in listing.split("推客乙", 1)[1].split("</tr>", 1)[0]
    only = browser.get("/manage/promoters?distributor=1").get_data(as_text=True)
    assert "分销甲" in only and "推客乙" not in only
    others = browser.get("/manage/promoters?distributor=0").get_data(as_text=True)
    assert "推客乙" in others and "分销甲" not in others
    assert '<option value="0" selected>' in others
    rows = list(csv.reader(io.StringIO(browser.get("/manage/promoters.csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][-1] == "分销商"
    assert {r[1]: r[-1] for r in rows[1:]} == {"分销甲": "是", "推客乙": "否"}


def test_downline_tree_loads_children_lazily(app, make):
    top = make.promoter(name="顶")
    mid = make.promoter(name="中", upline=top)
    make.promoter(name="下", upline=mid)
    browser = manager(app)
    page = browser.get(f"/manage/promoters/{top.id}").get_data(as_text=True)
    assert "中" in page and f"/manage/promoters/{mid.id}/children" in page
    children = browser.get(f"/manage/promoters/{mid.id}/children", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "下" in children and "<html" not in children


def test_programme_settings_warn_at_depth_three_and_refuse_bad_values(app, make):
    make.brand()
    browser = manager(app)
    form = {"commission_depth": "3", "binding_mode": "days", "binding_days": "15", "attribution": "first_touch",
            "attribution_window_days": "7", "rank_name_promoter": "推客", "rank_name_mentor": "导师",
            "rank_name_partner": "合伙人", "mentor_days": "30", "mentor_own_sales": "", "mentor_team_sales": "5000.50"}
    saved = browser.post("/manage/settings/programme", form)
    assert saved.status_code == 302
    page = browser.get("/manage/settings/programme").get_data(as_text=True)
    assert "禁止传销条例" in page and 'value="5000.50"' in page
    with app.app_context():
        from distweb.models import Brand
        from distweb.services import commission
        from distweb.services.network import get_settings

        brand_id = db.session.query(Brand.id).scalar()
        settings = get_settings(brand_id)
        # the one depth setting is the plan's: saving here wrote a new plan version
        assert commission.plan_depth(brand_id) == 3 and settings.binding_days == 15
        assert commission.current_plan(brand_id)[0] == 1
        assert settings.rank_rules == {"mentor": {"days": 30, "own_sales_fen": 0, "team_sales_fen": 500050}}
    bad = browser.post("/manage/settings/programme", {**form, "mentor_team_sales": "12.345"})
    assert bad.status_code == 400 and "最多两位小数" in bad.get_data(as_text=True)
    headcount_only = browser.post("/manage/settings/programme", {**form, "mentor_team_sales": ""})
    assert headcount_only.status_code == 422 and "不能只看人数" in headcount_only.get_data(as_text=True)


def test_api_key_is_shown_once_and_can_be_revoked(app, make):
    make.brand()
    browser = manager(app)
    created = browser.post("/manage/settings/api-keys", {"name": "有赞"}).get_data(as_text=True)
    assert "只显示这一次" in created and "dw_live_" in created
    listing = browser.get("/manage/settings/api-keys").get_data(as_text=True)
    assert "有赞" in listing and "只显示这一次" not in listing
    with app.app_context():
        from distweb.models import ApiKey

        key_id = db.session.query(ApiKey.id).scalar()
    browser.post(f"/manage/settings/api-keys/{key_id}/revoke", token_from="/manage/settings/api-keys")
    assert "已吊销" in browser.get("/manage/settings/api-keys").get_data(as_text=True)
