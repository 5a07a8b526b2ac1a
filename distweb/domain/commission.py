"""The commission engine's rules: parsing and checking a plan, and pricing an order.

A plan is data (the JSON shape of docs/API.md). Rules have a scope (SKU > category > global,
optionally narrowed to a beneficiary rank), a level (1–3), a kind (percent of the paid
amount or of the margin, a fixed amount per unit, or volume tiers, slab or marginal), an
optional cap and effective dates. For each item and level the most specific rule wins.
Every amount is integer fen, rounded once per line with the plan's rounding mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from distweb.money import BP, ROUNDING_MODES, allocate, apply_bp, round_div

KINDS = ("percent", "fixed_per_unit", "tiered")
BASES = ("paid", "margin")
RANKS = ("promoter", "mentor", "partner")
MAX_DEPTH = 3


class PlanError(ValueError):
    def __init__(self, code: str, message: str, field_path: str | None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field_path


@dataclass(frozen=True)
class Tier:
    from_fen: int
    rate_bp: int


@dataclass(frozen=True)
class Rule:
    index: int
    level: int
    kind: str
    sku: str | None = None
    category: str | None = None
    rank: str | None = None
    base: str = "paid"
    rate_bp: int = 0
    amount_fen: int = 0
    tiers: tuple[Tier, ...] = ()
    tier_mode: str = "slab"
    cap_fen: int | None = None
    effective_from: datetime | None = None
    effective_to: datetime | None = None

    @property
    def specificity(self) -> tuple[int, int]:
        scope = 2 if self.sku else 1 if self.category else 0
        return scope, 1 if self.rank else 0

    def applies(self, sku: str, category: str | None, rank: str | None, at: datetime | None) -> bool:
        if self.sku and self.sku != sku:
            return False
        if self.category and self.category != category:
            return False
        if self.rank and self.rank != rank:
            return False
        if at is not None:
            if self.effective_from and at < self.effective_from:
                return False
            if self.effective_to and at >= self.effective_to:
                return False
        return True

    def max_share_bp(self, price_fen: int | None) -> int:
        """The most this rule can pay as a share of the paid amount (for the plan check)."""
        if self.kind == "percent":
            return self.rate_bp
        if self.kind == "tiered":
            return max(t.rate_bp for t in self.tiers)
        if not price_fen:
            return 0 if self.amount_fen == 0 else BP * 100  # a fixed amount on a free item: unbounded
        return -(-self.amount_fen * BP // price_fen)  # rounded up: never understate


@dataclass(frozen=True)
class Plan:
    depth: int = 2
    freeze_days: int = 7
    rounding: str = "half_up"
    max_total_bp: int = 3000
    self_purchase: bool = False
    consignment_funding: str = "supplier"
    rules: tuple[Rule, ...] = ()

    def to_json(self) -> dict:
        return plan_to_json(self)


# ---------------------------------------------------------------- parsing


def _int(value, path: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError("invalid_type", "must be an integer", path)
    if low is not None and value < low:
        raise PlanError("out_of_range", f"must be at least {low}", path)
    if high is not None and value > high:
        raise PlanError("out_of_range", f"must be at most {high}", path)
    return value


def _opt_str(value, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise PlanError("invalid_type", "must be a non-empty string", path)
    return value.strip()


def _time(value, path: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PlanError("invalid_type", "must be an ISO 8601 time", path)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PlanError("invalid_time", "must be an ISO 8601 time", path) from None
    if moment.tzinfo is None:
        raise PlanError("invalid_time", "needs a time zone offset", path)
    return moment


# Every key the plan's JSON shape has (docs/API.md), at each level.
PLAN_KEYS = ("depth", "freeze_days", "rounding", "max_total_bp", "self_purchase", "consignment_funding", "rules")
RULE_KEYS = ("scope", "level", "kind", "base", "rate_bp", "amount_fen", "tiers", "tier_mode", "cap_fen",
             "effective_from", "effective_to")
SCOPE_KEYS = ("sku", "category", "rank")
TIER_KEYS = ("from_fen", "rate_bp")


def check_shape(data) -> None:
    """A plan body as a client writes it: an object with ``rules`` (an empty list pays
    nothing, on purpose; a missing one is a mistake) and no key the shape does not have, at
    any level, so that a misspelt key is refused rather than silently read as its default.
    The values are ``parse_plan``'s to check."""
    if not isinstance(data, dict):
        raise PlanError("invalid_type", "the plan must be an object", None)
    _known_keys(data, PLAN_KEYS, "")
    if "rules" not in data:
        raise PlanError("missing_field", "a plan needs its rules", "rules")
    raw_rules = data["rules"]
    for i, rule in enumerate(raw_rules if isinstance(raw_rules, list) else []):
        if not isinstance(rule, dict):
            continue
        _known_keys(rule, RULE_KEYS, f"rules[{i}].")
        if isinstance(rule.get("scope"), dict):
            _known_keys(rule["scope"], SCOPE_KEYS, f"rules[{i}].scope.")
        tiers = rule.get("tiers")
        for t, tier in enumerate(tiers if isinstance(tiers, list) else []):
            if isinstance(tier, dict):
                _known_keys(tier, TIER_KEYS, f"rules[{i}].tiers[{t}].")


def _known_keys(data: dict, known: tuple[str, ...], prefix: str) -> None:
    for key in data:
        if key not in known:
            raise PlanError("unknown_field", "not a field of the plan", f"{prefix}{str(key)[:40]}")


def parse_plan(data: dict) -> Plan:
    """A checked Plan from its JSON form; any fault names the field."""
    if not isinstance(data, dict):
        raise PlanError("invalid_type", "the plan must be an object", None)
    depth = _int(data.get("depth", 2), "depth", 1, MAX_DEPTH)
    freeze_days = _int(data.get("freeze_days", 7), "freeze_days", 0, 365)
    rounding = data.get("rounding", "half_up")
    if rounding not in ROUNDING_MODES:
        raise PlanError("invalid_rounding", "rounding must be half_up or half_even", "rounding")
    max_total_bp = _int(data.get("max_total_bp", 3000), "max_total_bp", 0, BP)
    self_purchase = data.get("self_purchase", False)
    if not isinstance(self_purchase, bool):
        raise PlanError("invalid_type", "must be true or false", "self_purchase")
    funding = data.get("consignment_funding", "supplier")
    if funding not in ("supplier", "distributor"):
        raise PlanError("invalid_funding", "must be supplier or distributor", "consignment_funding")
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise PlanError("invalid_type", "rules must be a list", "rules")
    rules = tuple(_parse_rule(i, raw, depth) for i, raw in enumerate(raw_rules))
    seen = {}
    for rule in rules:
        key = (rule.level, rule.sku, rule.category, rule.rank, rule.effective_from, rule.effective_to)
        if key in seen:
            raise PlanError("duplicate_rule", f"same scope and level as rules[{seen[key]}]", f"rules[{rule.index}]")
        seen[key] = rule.index
    return Plan(depth, freeze_days, rounding, max_total_bp, self_purchase, funding, rules)


def _parse_rule(index: int, raw, depth: int) -> Rule:
    path = f"rules[{index}]"
    if not isinstance(raw, dict):
        raise PlanError("invalid_type", "each rule must be an object", path)
    scope = raw.get("scope") or {}
    if not isinstance(scope, dict):
        raise PlanError("invalid_type", "scope must be an object", f"{path}.scope")
    sku = _opt_str(scope.get("sku"), f"{path}.scope.sku")
    category = _opt_str(scope.get("category"), f"{path}.scope.category")
    if sku and category:
        raise PlanError("scope_conflict", "a rule scopes a SKU or a category, not both", f"{path}.scope")
    rank = scope.get("rank")
    if rank is not None and rank not in RANKS:
        raise PlanError("invalid_rank", "rank must be promoter, mentor or partner", f"{path}.scope.rank")
    level = _int(raw.get("level"), f"{path}.level", 1, MAX_DEPTH)
    if level > depth:
        raise PlanError("level_beyond_depth", f"level {level} is deeper than the plan's depth {depth}", f"{path}.level")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise PlanError("invalid_kind", "kind must be percent, fixed_per_unit or tiered", f"{path}.kind")
    base = raw.get("base", "paid")
    if base not in BASES:
        raise PlanError("invalid_base", "base must be paid or margin", f"{path}.base")
    rate_bp = amount_fen = 0
    tiers: tuple[Tier, ...] = ()
    tier_mode = "slab"
    if kind == "percent":
        rate_bp = _int(raw.get("rate_bp"), f"{path}.rate_bp", 0, BP)
    elif kind == "fixed_per_unit":
        amount_fen = _int(raw.get("amount_fen"), f"{path}.amount_fen", 0)
    else:
        tier_mode = raw.get("tier_mode")
        if tier_mode not in ("slab", "marginal"):
            raise PlanError("invalid_tier_mode", "tier_mode must be slab or marginal", f"{path}.tier_mode")
        raw_tiers = raw.get("tiers")
        if not isinstance(raw_tiers, list) or not raw_tiers:
            raise PlanError("missing_tiers", "tiered rules need tiers", f"{path}.tiers")
        parsed = []
        for t, tier in enumerate(raw_tiers):
            if not isinstance(tier, dict):
                raise PlanError("invalid_type", "each tier must be an object", f"{path}.tiers[{t}]")
            parsed.append(Tier(_int(tier.get("from_fen"), f"{path}.tiers[{t}].from_fen", 0),
                               _int(tier.get("rate_bp"), f"{path}.tiers[{t}].rate_bp", 0, BP)))
        if parsed[0].from_fen != 0:
            raise PlanError("tier_gap", "the first tier must start at 0", f"{path}.tiers[0].from_fen")
        for t in range(1, len(parsed)):
            if parsed[t].from_fen == parsed[t - 1].from_fen:
                raise PlanError("tier_overlap", "two tiers start at the same amount", f"{path}.tiers[{t}].from_fen")
            if parsed[t].from_fen < parsed[t - 1].from_fen:
                raise PlanError("tier_order", "tiers must be in increasing order", f"{path}.tiers[{t}].from_fen")
        tiers = tuple(parsed)
    cap = raw.get("cap_fen")
    cap_fen = None if cap is None else _int(cap, f"{path}.cap_fen", 0)
    start = _time(raw.get("effective_from"), f"{path}.effective_from")
    end = _time(raw.get("effective_to"), f"{path}.effective_to")
    if start and end and end <= start:
        raise PlanError("invalid_dates", "effective_to must be after effective_from", f"{path}.effective_to")
    return Rule(index, level, kind, sku, category, rank, base, rate_bp, amount_fen, tiers, tier_mode, cap_fen,
                start, end)


def plan_to_json(plan: Plan) -> dict:
    def rule_json(r: Rule) -> dict:
        out = {"scope": {"sku": r.sku, "category": r.category, "rank": r.rank}, "level": r.level, "kind": r.kind}
        if r.kind == "percent":
            out.update(base=r.base, rate_bp=r.rate_bp)
        elif r.kind == "fixed_per_unit":
            out.update(amount_fen=r.amount_fen)
        else:
            out.update(base=r.base, tier_mode=r.tier_mode,
                       tiers=[{"from_fen": t.from_fen, "rate_bp": t.rate_bp} for t in r.tiers])
        if r.cap_fen is not None:
            out["cap_fen"] = r.cap_fen
        if r.effective_from:
            out["effective_from"] = r.effective_from.isoformat()
        if r.effective_to:
            out["effective_to"] = r.effective_to.isoformat()
        return out

    return {"depth": plan.depth, "freeze_days": plan.freeze_days, "rounding": plan.rounding,
            "max_total_bp": plan.max_total_bp, "self_purchase": plan.self_purchase,
            "consignment_funding": plan.consignment_funding, "rules": [rule_json(r) for r in plan.rules]}


# ---------------------------------------------------------------- checking against the catalogue


@dataclass(frozen=True)
class CatalogueItem:
    sku: str
    category: str | None
    price_fen: int


def check_against_catalogue(plan: Plan, catalogue: list[CatalogueItem]) -> None:
    """Refuse rules for unknown SKUs or categories, and any plan that could pay more than
    ``max_total_bp`` of an item, naming the rule that takes it over."""
    skus = {item.sku for item in catalogue}
    categories = {item.category for item in catalogue if item.category}
    for rule in plan.rules:
        if rule.sku and rule.sku not in skus:
            raise PlanError("unknown_sku", f"no product has SKU {rule.sku}", f"rules[{rule.index}].scope.sku")
        if rule.category and rule.category not in categories:
            raise PlanError("unknown_category", f"no product is in category {rule.category}",
                            f"rules[{rule.index}].scope.category")
    probes = list(catalogue) or [CatalogueItem("*", None, 0)]
    for item in probes:
        for rank in (None, *RANKS):
            total, worst = 0, None
            for level in range(1, plan.depth + 1):
                rule = select_rule(plan, level, item.sku, item.category, rank, None)
                if rule is None:
                    continue
                total += rule.max_share_bp(item.price_fen or None)
                if total > plan.max_total_bp:
                    worst = rule
                    break
            if worst is not None:
                raise PlanError(
                    "over_max_share",
                    f"rules[{worst.index}] could make {item.sku} pay {total / 100:.2f}% "
                    f"(more than max_total_bp {plan.max_total_bp / 100:.2f}%)",
                    f"rules[{worst.index}]",
                )


# ---------------------------------------------------------------- pricing


def select_rule(plan: Plan, level: int, sku: str, category: str | None, rank: str | None,
                at: datetime | None) -> Rule | None:
    best = None
    for rule in plan.rules:
        if rule.level != level or not rule.applies(sku, category, rank, at):
            continue
        if best is None or rule.specificity > best.specificity:
            best = rule
    return best


@dataclass(frozen=True)
class ItemLine:
    index: int
    sku: str
    category: str | None
    quantity: int
    paid_fen: int
    supply_cost_fen: int


@dataclass(frozen=True)
class Beneficiary:
    promoter_id: int
    rank: str


@dataclass
class PricedLine:
    item_index: int
    level: int
    promoter_id: int
    kind: str  # commission | margin
    amount_fen: int
    rule_index: int | None = None


def rule_amount(rule: Rule, item: ItemLine, rounding: str) -> int:
    """What one rule pays on one item line, rounded once."""
    base = item.paid_fen if rule.base == "paid" else max(0, item.paid_fen - item.supply_cost_fen)
    if rule.kind == "percent":
        amount = apply_bp(base, rule.rate_bp, rounding)
    elif rule.kind == "fixed_per_unit":
        amount = rule.amount_fen * item.quantity
    elif rule.tier_mode == "slab":
        rate = next(t.rate_bp for t in reversed(rule.tiers) if base >= t.from_fen)
        amount = apply_bp(base, rate, rounding)
    else:
        # Marginal: each slice of the base at its own tier's rate; one rounding at the end.
        numerator = 0
        for i, tier in enumerate(rule.tiers):
            upper = rule.tiers[i + 1].from_fen if i + 1 < len(rule.tiers) else None
            if base <= tier.from_fen:
                break
            slice_fen = (min(base, upper) if upper is not None else base) - tier.from_fen
            numerator += slice_fen * tier.rate_bp
        amount = round_div(numerator, BP, rounding)
    if rule.cap_fen is not None:
        amount = min(amount, rule.cap_fen)
    return amount


def price_order(plan: Plan, mode: str, items: list[ItemLine], chain: list[Beneficiary | None],
                at: datetime | None = None, stock_purchase: bool = True) -> list[PricedLine]:
    """Every commission line of an order: one per item × beneficiary × level. ``chain`` is
    the snapshotted L1..L3 (None where a position pays no one). Consignment gives L1 its
    margin instead of plan commission; a distributor's own retail sale pays nothing."""
    if mode == "wholesale" and not stock_purchase:
        return []
    lines: list[PricedLine] = []
    for item in items:
        for level in range(1, plan.depth + 1):
            who = chain[level - 1] if level - 1 < len(chain) else None
            if who is None:
                continue
            if mode == "consignment" and level == 1:
                margin = max(0, item.paid_fen - item.supply_cost_fen)
                lines.append(PricedLine(item.index, 1, who.promoter_id, "margin", margin, None))
                continue
            rule = select_rule(plan, level, item.sku, item.category, who.rank, at)
            if rule is None:
                continue
            lines.append(PricedLine(item.index, level, who.promoter_id, "commission",
                                    rule_amount(rule, item, plan.rounding), rule.index))
    # Guard rail: plan commission on the order never exceeds max_total_bp of what was paid.
    commission = [line for line in lines if line.kind == "commission"]
    cap = apply_bp(sum(i.paid_fen for i in items), plan.max_total_bp, "half_even") if items else 0
    total = sum(line.amount_fen for line in commission)
    if total > cap:
        for line, amount in zip(commission, allocate(cap, [line.amount_fen for line in commission]), strict=True):
            line.amount_fen = amount
    funding = set()
    if mode == "consignment" and plan.consignment_funding == "distributor":
        funding = _fund_from_margins(lines)
    return [line for line in lines if line.amount_fen > 0 or id(line) in funding]


def _fund_from_margins(lines: list[PricedLine]) -> set[int]:
    """Consignment funded by the distributor: each item's upline commission comes out of the
    distributor's margin on that item, so the margin line is reduced by exactly what its
    uplines earn. The uplines can never be paid more than the margin there is: above it they
    share the margin in proportion (largest remainder). Returns the margin lines (by id())
    that fund something, kept even when nothing is left on them, since the ledger shows each
    upline's money leaving the distributor's line."""
    funding = set()
    margins = {line.item_index: line for line in lines if line.kind == "margin"}
    for item_index, margin in margins.items():
        uplines = [line for line in lines if line.kind == "commission" and line.item_index == item_index]
        owed = sum(line.amount_fen for line in uplines)
        if owed > margin.amount_fen:
            for line, amount in zip(uplines, allocate(margin.amount_fen, [line.amount_fen for line in uplines]),
                                    strict=True):
                line.amount_fen = amount
            owed = margin.amount_fen
        if owed:
            margin.amount_fen -= owed
            funding.add(id(margin))
    return funding


def kept_after_refund(amount_fen: int, paid_fen: int, refunded_fen: int, rounding: str) -> int:
    """What an amount tied to an item keeps once ``refunded_fen`` of the item's ``paid_fen``
    is refunded: in proportion, rounded once; a full refund keeps nothing."""
    if paid_fen <= 0 or refunded_fen >= paid_fen:
        return 0
    return round_div(amount_fen * (paid_fen - refunded_fen), paid_fen, rounding)


def reversal_parts(amounts: list[int], kept: list[int], paid_fen: int, refunded_after: int,
                   rounding: str) -> list[int]:
    """How much each of an item's lines gives back when the item's refunds reach
    ``refunded_after``: the lines together keep their original total (``amounts``) in
    proportion to what is still paid, rounded once, and what they give back now is split
    over what each still keeps (``kept``) by largest remainder, so the parts always add up
    to the whole and no line ever gives back more than it keeps."""
    target = kept_after_refund(sum(amounts), paid_fen, refunded_after, rounding)
    to_reverse = sum(kept) - target
    if to_reverse <= 0:
        return [0] * len(kept)
    return allocate(to_reverse, kept)


@dataclass
class PlanSummary:
    rules_by_level: dict[int, int] = field(default_factory=dict)
