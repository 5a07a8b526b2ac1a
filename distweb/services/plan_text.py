"""A commission plan in words, in the reader's language: what a rule pays ("实付金额的 6%"),
whom it covers ("二级佣金 · 导师 · 类目「茶叶」"), and what changed between two plan bodies
("二级佣金 5% → 6%"), for the version history and the launch-template preview."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from distweb.labels import LEVEL_LABEL, rank_name
from distweb.money import bp_text

NONE = "—"


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str


def _money(fen) -> str:
    from distweb.i18n import money

    return money(int(fen))


def _percent(bp) -> str:
    return bp_text(int(bp)) + "%"


def rule_scope(rule: dict) -> str:
    """二级佣金 · 导师 · 类目「茶叶」 (only the parts that narrow it)."""
    scope = rule.get("scope") or {}
    parts = [str(LEVEL_LABEL.get(rule.get("level"), rule.get("level")))]
    if scope.get("rank"):
        parts.append(rank_name(scope["rank"]))
    if scope.get("sku"):
        parts.append(_("单品「%(sku)s」", sku=scope["sku"]))
    elif scope.get("category"):
        parts.append(_("类目「%(name)s」", name=scope["category"]))
    if rule.get("effective_from") or rule.get("effective_to"):
        parts.append(_("%(start)s 至 %(end)s", start=(rule.get("effective_from") or "…")[:10],
                       end=(rule.get("effective_to") or "…")[:10]))
    return " · ".join(parts)


def rule_value(rule: dict) -> str:
    """实付金额的 6% / 每件 ¥2.00 / 按毛利阶梯 5%–8%, with its cap."""
    kind = rule.get("kind")
    margin = rule.get("base") == "margin"
    if kind == "percent":
        rate = _percent(rule.get("rate_bp", 0))
        text = _("毛利的 %(rate)s", rate=rate) if margin else rate
    elif kind == "fixed_per_unit":
        text = _("每件 %(amount)s", amount=_money(rule.get("amount_fen", 0)))
    else:
        tiers = ", ".join(_("满 %(from)s 起 %(rate)s", **{"from": _money(t["from_fen"]), "rate": _percent(t["rate_bp"])})
                          for t in rule.get("tiers") or [])
        mode = _("全额累进") if rule.get("tier_mode") == "slab" else _("超额累进")
        text = _("阶梯（%(mode)s）：%(tiers)s", mode=mode, tiers=tiers)
        if margin:
            text = _("按毛利") + " " + text
    if rule.get("cap_fen") is not None:
        text += _("，每件封顶 %(amount)s", amount=_money(rule["cap_fen"]))
    return text


def _setting_text(key: str, value) -> str:
    if value is None:
        return NONE
    if key == "depth":
        return _("%(n)s 级", n=value)
    if key == "freeze_days":
        return _("%(n)s 天", n=value)
    if key == "max_total_bp":
        return _percent(value)
    if key == "rounding":
        return _("四舍五入") if value == "half_up" else _("银行家舍入（四舍六入五成双）")
    if key == "self_purchase":
        return _("计佣") if value else _("不计佣")
    if key == "consignment_funding":
        return _("供货商") if value == "supplier" else _("分销商利润")
    return str(value)


def _setting_label(key: str) -> str:
    return {
        "depth": _("分佣层级"),
        "freeze_days": _("冻结天数（确认收货后）"),
        "max_total_bp": _("单笔佣金上限"),
        "rounding": _("舍入方式"),
        "self_purchase": _("推客自购"),
        "consignment_funding": _("代销上级佣金由谁承担"),
    }.get(key, key)


SETTINGS = ("depth", "freeze_days", "max_total_bp", "rounding", "self_purchase", "consignment_funding")


def _rule_key(rule: dict) -> tuple:
    scope = rule.get("scope") or {}
    return (rule.get("level"), scope.get("sku"), scope.get("category"), scope.get("rank"),
            rule.get("effective_from"), rule.get("effective_to"))


def plan_changes(old: dict, new: dict) -> list[Change]:
    """Every difference a manager would name: settings first, then each rule (matched by
    whom it covers) with its old and new value; a rule only in one version shows "—" on
    the other side."""
    changes = [Change(_setting_label(k), _setting_text(k, old.get(k)), _setting_text(k, new.get(k)))
               for k in SETTINGS if k in new and old.get(k) != new.get(k)]
    old_rules = {_rule_key(r): r for r in old.get("rules") or []}
    new_rules = {_rule_key(r): r for r in new.get("rules") or []}
    ordered = sorted(set(old_rules) | set(new_rules), key=lambda k: tuple("" if v is None else str(v) for v in k))
    for key in ordered:
        before, after = old_rules.get(key), new_rules.get(key)
        before_text = rule_value(before) if before else NONE
        after_text = rule_value(after) if after else NONE
        if before_text != after_text:
            changes.append(Change(rule_scope(after or before), before_text, after_text))
    return changes


__all__ = ["Change", "plan_changes", "rule_scope", "rule_value"]
