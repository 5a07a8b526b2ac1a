"""After sign-up a promoter lands on a short onboarding: install the app, share a first
material, and how it earns — with the brand's real rates, freeze window and withdrawal rules."""

from __future__ import annotations

from distweb.services import commission, materials, withdrawal_rules
from tests.conftest import Browser
from tests.support.factories import PASSWORD


def signed_in(app, phone):
    browser = Browser(app.test_client())
    assert browser.login(phone, PASSWORD).status_code == 302
    return browser


def test_sign_up_lands_on_the_onboarding_not_an_ignored_query(app, make, sms_outbox):
    inviter = make.promoter(name="邀请人", phone="13800000001")
    browser = Browser(app.test_client())
    url = f"/j/{inviter.code}"
    browser.post(url, {"phone": "13911112222", "send_code": "1"})
    done = browser.post(url, {"name": "新人", "phone": "13911112222", "password": "abc12345", "agree": "y",
                              "code": sms_outbox.last_code("13911112222")})
    assert done.status_code == 302 and done.headers["Location"].endswith("/promoter/welcome")
    page = browser.get("/promoter/welcome").get_data(as_text=True)
    assert "把推广中心添加到桌面" in page and "分享你的第一条素材" in page and "你怎么赚钱" in page


def test_the_onboarding_shows_the_brands_real_rates_and_rules(app, make):
    brand = make.brand()
    make.promoter(name="我", phone="13600000001")
    with app.app_context():
        commission.save_plan(brand.id, {
            "depth": 2, "freeze_days": 10, "rounding": "half_up", "max_total_bp": 3000, "self_purchase": False,
            "consignment_funding": "supplier",
            "rules": [
                {"scope": {"sku": None, "category": None, "rank": None}, "level": 1, "kind": "percent",
                 "base": "paid", "rate_bp": 1250},
                {"scope": {"sku": None, "category": None, "rank": None}, "level": 2, "kind": "percent",
                 "base": "paid", "rate_bp": 300},
            ]})
        withdrawal_rules.save(brand.id, {"min_fen": 5000, "fee_bp": 60, "fee_min_fen": 0, "daily_limit_fen": None,
                                         "methods": ["alipay", "bank"], "auto_approve_below_fen": None})
    page = signed_in(app, "13600000001").get("/promoter/welcome").get_data(as_text=True)
    assert "实付金额的 12.5%" in page and "实付金额的 3%" in page
    assert "冻结 10 天" in page
    assert "满 ¥50.00 即可提现" in page and "手续费 0.6%" in page
    assert "支付宝" in page and "银行卡" in page and "微信" not in page
    assert "邀请别人加入本身没有奖励" in page  # pay on sales, never on sign-ups


def test_the_onboarding_offers_the_top_material_to_share(app, make):
    brand = make.brand()
    make.promoter(name="我", phone="13600000001")
    browser = signed_in(app, "13600000001")
    assert "品牌还没有上传素材" in browser.get("/promoter/welcome").get_data(as_text=True)
    with app.app_context():
        material = materials.save_material(brand.id, materials.MaterialInput(title="秋茶上新", pinned=True))
        material_id = material.id
    page = browser.get("/promoter/welcome").get_data(as_text=True)
    assert "秋茶上新" in page and f"/promoter/materials/{material_id}" in page
