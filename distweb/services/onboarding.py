"""What a new promoter is told after signing up: how it earns, from the brand's real plan
and withdrawal rules (never a made-up example), and the first material worth sharing."""

from __future__ import annotations

from dataclasses import dataclass

from distweb.domain import commission as rules
from distweb.services import commission, withdrawals


@dataclass(frozen=True)
class LevelRate:
    level: int
    kind: str  # percent | fixed | tiered
    base: str  # paid | margin
    rate_bp: int = 0
    amount_fen: int = 0
    low_bp: int = 0  # tiered: the lowest and highest tier rates
    high_bp: int = 0


@dataclass(frozen=True)
class Earning:
    levels: list[LevelRate]
    freeze_days: int
    varies_by_product: bool  # some products or categories pay differently
    min_withdrawal_fen: int
    fee_bp: int
    methods: list[str]


def _general_rule(plan: rules.Plan, level: int, rank: str) -> rules.Rule | None:
    """The rule for every product at this level: the promoter's rank's own, else everyone's."""
    general = [r for r in plan.rules if r.level == level and not r.sku and not r.category
               and r.effective_to is None and r.rank in (None, rank)]
    general.sort(key=lambda r: (r.rank is None, r.index))
    return general[0] if general else None


def earning(brand_id: int, rank: str) -> Earning:
    _, plan = commission.current_plan(brand_id)
    levels = []
    for level in range(1, plan.depth + 1):
        rule = _general_rule(plan, level, rank)
        if rule is None:
            continue
        tiers = [t.rate_bp for t in rule.tiers]
        levels.append(LevelRate(level, rule.kind, rule.base, rule.rate_bp, rule.amount_fen,
                                min(tiers, default=0), max(tiers, default=0)))
    specific = any(r.sku or r.category for r in plan.rules if r.level <= plan.depth)
    withdrawal = withdrawals.rules_for(brand_id)
    return Earning(levels, plan.freeze_days, specific, int(withdrawal["min_fen"] or 0), int(withdrawal["fee_bp"] or 0),
                   list(withdrawal["methods"]))
