"""Launch templates (行业模板): an industry preset fills the commission plan, the rank rules,
the withdrawal rules and a starter set of tagged materials, so a brand launches without code
(the brief's "模板化 … 2 周内上线"). Everything it writes goes through the services that own
it — ``commission.save_plan``, ``network.update_settings``, ``withdrawal_rules.save``,
``materials.save_material`` — and stays editable afterwards. ``preview`` says what applying
would change before anything is written.

The rates are starting points within the compliance rules (docs/PRODUCT.md): two levels, pay
only on sales, rank promotion on sales thresholds, the total under the plan's 30 % cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from distweb.extensions import db
from distweb.labels import WITHDRAW_METHOD, rank_name
from distweb.models import Material, User
from distweb.services import commission, materials, network, plan_text, withdrawal_rules
from distweb.services.errors import NotFound
from distweb.services.plan_text import Change

YUAN = 100


def _rule(level: int, rate_bp: int, rank: str | None = None) -> dict:
    return {"scope": {"sku": None, "category": None, "rank": rank}, "level": level, "kind": "percent",
            "base": "paid", "rate_bp": rate_bp}


def _plan(freeze_days: int, l1: int, l2: int, mentor_l1: int, partner_l1: int) -> dict:
    return {"depth": 2, "freeze_days": freeze_days, "rounding": "half_up", "max_total_bp": 3000,
            "self_purchase": False, "consignment_funding": "supplier",
            "rules": [_rule(1, l1), _rule(2, l2), _rule(1, mentor_l1, "mentor"), _rule(1, partner_l1, "partner")]}


def _ranks(mentor_own: int, partner_own: int, partner_team: int, days: int = 30) -> dict:
    return {"mentor": {"days": days, "own_sales_fen": mentor_own * YUAN, "team_sales_fen": 0},
            "partner": {"days": days, "own_sales_fen": partner_own * YUAN, "team_sales_fen": partner_team * YUAN}}


def _withdrawal(min_yuan: int, daily_yuan: int, auto_below_yuan: int) -> dict:
    return {"min_fen": min_yuan * YUAN, "fee_bp": 0, "fee_min_fen": 0, "daily_limit_fen": daily_yuan * YUAN,
            "methods": ["alipay", "wechat", "bank"], "auto_approve_below_fen": auto_below_yuan * YUAN}


@dataclass(frozen=True)
class StarterMaterial:
    title: object  # lazy strings: written in the manager's language when applied
    body: object
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Preset:
    key: str
    name: object
    summary: object
    plan: dict
    rank_rules: dict
    withdrawal: dict
    tags: tuple[object, ...]
    starters: tuple[StarterMaterial, ...] = field(default=())

    def starter_materials(self) -> list[materials.MaterialInput]:
        return [materials.MaterialInput(title=str(s.title), body=str(s.body), tags=[str(t) for t in s.tags])
                for s in self.starters]


def _starters(tags: tuple, intro_title, intro_body, offer_title, offer_body) -> tuple[StarterMaterial, ...]:
    return (StarterMaterial(intro_title, intro_body, (tags[0], tags[1])),
            StarterMaterial(offer_title, offer_body, (tags[2], tags[3])))


def _presets() -> dict[str, Preset]:
    fmcg_tags = (_l("新品"), _l("爆款"), _l("囤货"), _l("限时"))
    tea_tags = (_l("新茶"), _l("名酒"), _l("送礼"), _l("品鉴"))
    jewelry_tags = (_l("新款"), _l("穿搭"), _l("礼物"), _l("直播"))
    health_tags = (_l("养生"), _l("营养"), _l("复购"), _l("科普"))
    apparel_tags = (_l("上新"), _l("换季"), _l("搭配"), _l("清仓"))
    presets = [
        Preset("fmcg", _l("快消"), _l("客单价低、复购高：佣金比例适中，冻结期短，提现门槛低、小额自动审核。"),
               _plan(7, 800, 300, 1000, 1200), _ranks(3000, 10000, 30000), _withdrawal(10, 5000, 100), fmcg_tags,
               _starters(fmcg_tags, _l("本周新品上架"), _l("新品到货，尝鲜价限时供应。用我的链接下单：{链接}"),
                         _l("囤货季：爆款限时优惠"), _l("家里常用的都在这里，囤一次省一季。{链接}"))),
        Preset("tea_wine", _l("茶酒"), _l("客单价高、送礼多：佣金比例高，冻结期长覆盖退货，提现门槛与日限额更高。"),
               _plan(15, 1500, 500, 1800, 2000), _ranks(10000, 30000, 100000), _withdrawal(50, 20000, 500),
               tea_tags,
               _starters(tea_tags, _l("今年的新茶到了"), _l("头采新茶，产地直发。想尝尝的朋友点这里：{链接}"),
                         _l("送礼不知道选什么？"), _l("节日送长辈、送客户，礼盒装体面又实在。{链接}"))),
        Preset("jewelry", _l("饰品"), _l("毛利高、靠内容带货：一级佣金高，导师、合伙人逐级提高，鼓励直播和穿搭分享。"),
               _plan(7, 2000, 500, 2200, 2500), _ranks(5000, 20000, 60000), _withdrawal(20, 10000, 200),
               jewelry_tags,
               _starters(jewelry_tags, _l("本周新款"), _l("新款小众设计，日常通勤都能戴。看看：{链接}"),
                         _l("送她的礼物清单"), _l("生日、纪念日不踩雷，附礼盒和贺卡。{链接}"))),
        Preset("health", _l("大健康"), _l("重复购、重信任：佣金比例稳健，冻结期较长；素材以科普为主，不做功效承诺。"),
               _plan(15, 1200, 400, 1400, 1600), _ranks(5000, 20000, 80000), _withdrawal(50, 10000, 200),
               health_tags,
               _starters(health_tags, _l("每天的营养小知识"), _l("吃得对比吃得多更重要。我在用的这款：{链接}"),
                         _l("老客复购专享"), _l("吃完一盒记得续上，复购更划算。{链接}"))),
        Preset("apparel", _l("服饰"), _l("退换多、季节性强：冻结期覆盖退换货，佣金比例适中，换季和清仓素材先备好。"),
               _plan(10, 1000, 300, 1200, 1500), _ranks(5000, 20000, 60000), _withdrawal(20, 10000, 200),
               apparel_tags,
               _starters(apparel_tags, _l("换季上新"), _l("新一季的款式到了，尺码齐全。挑一件：{链接}"),
                         _l("一周穿搭不重样"), _l("基础款怎么搭都好看，照着买就行。{链接}"))),
    ]
    return {p.key: p for p in presets}


PRESETS = _presets()


def get(key: str) -> Preset:
    preset = PRESETS.get(key)
    if preset is None:
        raise NotFound("unknown_template", _l("没有这个行业模板。"))
    return preset


def is_first_run(brand_id: int) -> bool:
    """A brand that has never saved a commission plan (it runs on the built-in default)."""
    return commission.current_plan_row(brand_id) is None


# ---------------------------------------------------------------- preview


@dataclass
class Preview:
    preset: Preset
    plan: list[Change]
    ranks: list[Change]
    withdrawal: list[Change]
    new_materials: list[materials.MaterialInput]
    kept_materials: list[str]  # starters already in the library (by title): not added twice
    tags: list[str]


def _rank_rule_text(rule: dict | None) -> str:
    if not rule:
        return plan_text.NONE
    parts = []
    if rule.get("own_sales_fen"):
        parts.append(_("本人 %(days)s 天销售额满 %(amount)s", days=rule["days"],
                       amount=plan_text._money(rule["own_sales_fen"])))
    if rule.get("team_sales_fen"):
        parts.append(_("团队 %(days)s 天销售额满 %(amount)s", days=rule["days"],
                       amount=plan_text._money(rule["team_sales_fen"])))
    return _("，且").join(parts)


def _withdrawal_changes(before: dict, after: dict) -> list[Change]:
    def amount(value):
        return plan_text.NONE if value is None else plan_text._money(value)

    def methods(value):
        return "、".join(str(WITHDRAW_METHOD.get(m, m)) for m in value or [])

    rows = [
        (_("最低提现金额"), amount(before["min_fen"]), amount(after["min_fen"])),
        (_("手续费率"), plan_text._percent(before["fee_bp"]), plan_text._percent(after["fee_bp"])),
        (_("最低手续费"), amount(before["fee_min_fen"]), amount(after["fee_min_fen"])),
        (_("每日提现上限"), amount(before["daily_limit_fen"]) if before["daily_limit_fen"] is not None else _("不限"),
         amount(after["daily_limit_fen"]) if after["daily_limit_fen"] is not None else _("不限")),
        (_("提现方式"), methods(before["methods"]), methods(after["methods"])),
        (_("自动审核金额"),
         _("低于 %(amount)s", amount=amount(before["auto_approve_below_fen"]))
         if before["auto_approve_below_fen"] is not None else _("全部人工审核"),
         _("低于 %(amount)s", amount=amount(after["auto_approve_below_fen"]))
         if after["auto_approve_below_fen"] is not None else _("全部人工审核")),
    ]
    return [Change(label, old, new) for label, old, new in rows if old != new]


def _existing_titles(brand_id: int) -> set[str]:
    return set(db.session.scalars(select(Material.title).where(Material.brand_id == brand_id,
                                                               Material.deleted_at.is_(None))))


def preview(brand_id: int, key: str) -> Preview:
    preset = get(key)
    _version, plan = commission.current_plan(brand_id)
    settings = network.get_settings(brand_id)
    ranks = [Change(_("晋升为%(rank)s", rank=rank_name(rank)), _rank_rule_text((settings.rank_rules or {}).get(rank)),
                    _rank_rule_text(preset.rank_rules.get(rank)))
             for rank in ("mentor", "partner")]
    existing = _existing_titles(brand_id)
    starters = preset.starter_materials()
    return Preview(
        preset=preset,
        plan=plan_text.plan_changes(plan.to_json(), preset.plan),
        ranks=[c for c in ranks if c.before != c.after],
        withdrawal=_withdrawal_changes(withdrawal_rules.get(brand_id), preset.withdrawal),
        new_materials=[m for m in starters if m.title not in existing],
        kept_materials=[m.title for m in starters if m.title in existing],
        tags=[str(t) for t in preset.tags],
    )


# ---------------------------------------------------------------- applying


def apply(actor: User, key: str) -> Preview:
    """Write the preset through the owning services. Each part is checked before anything is
    written (a preset is fixed data, but the catalogue it is checked against is not), and the
    starter materials already in the library (same title) are not added again, so applying
    twice changes nothing the second time. Returns what was (to be) changed."""
    brand_id = actor.brand_id
    preset = get(key)
    plan_preview = preview(brand_id, key)
    commission.check_plan(brand_id, preset.plan)
    network.validate_rank_rules(preset.rank_rules)
    withdrawal_rules.validate(preset.withdrawal)
    name = str(preset.name)
    if plan_preview.plan:
        commission.save_plan(brand_id, preset.plan, note=_("行业模板：%(name)s", name=name), actor=actor)
    settings = network.get_settings(brand_id)
    if plan_preview.ranks:
        network.update_settings(actor, network.SettingsInput(
            commission_depth=preset.plan["depth"], signup_requires_approval=settings.signup_requires_approval,
            binding_mode=settings.binding_mode.value, binding_days=settings.binding_days,
            attribution=settings.attribution.value, attribution_window_days=settings.attribution_window_days,
            rank_name_promoter=settings.rank_name_promoter, rank_name_mentor=settings.rank_name_mentor,
            rank_name_partner=settings.rank_name_partner, rank_rules=preset.rank_rules,
            terms_text=settings.terms_text))
    if plan_preview.withdrawal:
        withdrawal_rules.save(brand_id, preset.withdrawal, actor=actor)
    for starter in plan_preview.new_materials:
        materials.save_material(brand_id, starter, actor_id=actor.id)
    return plan_preview
