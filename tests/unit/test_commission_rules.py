"""The commission rules, hand-computed: every kind, base, scope precedence and rounding edge."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distweb.domain.commission import (
    Beneficiary,
    CatalogueItem,
    ItemLine,
    PlanError,
    check_against_catalogue,
    kept_after_refund,
    parse_plan,
    price_order,
)

A, B, C = Beneficiary(1, "promoter"), Beneficiary(2, "mentor"), Beneficiary(3, "partner")


def plan(*rules, **top):
    body = {"depth": 3, "rounding": "half_up", "max_total_bp": 10000, "rules": list(rules)}
    body.update(top)
    return parse_plan(body)


def pct(level, rate, **extra):
    return {"scope": extra.pop("scope", {}), "level": level, "kind": "percent", "base": extra.pop("base", "paid"),
            "rate_bp": rate, **extra}


def item(paid, qty=1, cost=0, sku="TEA-001", category="tea", index=1):
    return ItemLine(index, sku, category, qty, paid, cost)


def amounts(lines):
    return [(line.level, line.promoter_id, line.kind, line.amount_fen) for line in lines]


def test_percent_of_paid_per_level():
    lines = price_order(plan(pct(1, 1000), pct(2, 500)), "promotion", [item(11800)], [A, B, None])
    assert amounts(lines) == [(1, 1, "commission", 1180), (2, 2, "commission", 590)]


def test_percent_of_margin_is_floored_at_zero():
    p = plan(pct(1, 1000, base="margin"))
    assert amounts(price_order(p, "promotion", [item(5900, cost=3100)], [A])) == [(1, 1, "commission", 280)]
    assert price_order(p, "promotion", [item(3000, cost=3100)], [A]) == []  # margin below zero pays 0


def test_fixed_per_unit():
    p = plan({"scope": {"sku": "TEA-001"}, "level": 1, "kind": "fixed_per_unit", "amount_fen": 800})
    assert amounts(price_order(p, "promotion", [item(17700, qty=3)], [A])) == [(1, 1, "commission", 2400)]


TIERS = [{"from_fen": 0, "rate_bp": 500}, {"from_fen": 100000, "rate_bp": 800}]


def test_tiered_slab_pays_the_whole_base_at_the_reached_tier():
    p = plan({"scope": {}, "level": 1, "kind": "tiered", "tier_mode": "slab", "tiers": TIERS})
    assert amounts(price_order(p, "promotion", [item(99999)], [A]))[0][3] == 5000  # 4999.95 → 5000
    assert amounts(price_order(p, "promotion", [item(150000)], [A]))[0][3] == 12000


def test_tiered_marginal_pays_each_slice_at_its_rate():
    p = plan({"scope": {}, "level": 1, "kind": "tiered", "tier_mode": "marginal", "tiers": TIERS})
    # 100000 × 5 % + 50000 × 8 % = 5000 + 4000
    assert amounts(price_order(p, "promotion", [item(150000)], [A]))[0][3] == 9000
    assert amounts(price_order(p, "promotion", [item(100000)], [A]))[0][3] == 5000


def test_scope_precedence_sku_over_category_over_global_and_rank_within_scope():
    p = plan(
        pct(1, 100),
        pct(1, 200, scope={"category": "tea"}),
        pct(1, 300, scope={"sku": "TEA-001"}),
        pct(1, 400, scope={"sku": "TEA-001", "rank": "partner"}),
    )
    assert amounts(price_order(p, "promotion", [item(10000)], [A]))[0][3] == 300
    assert amounts(price_order(p, "promotion", [item(10000)], [C]))[0][3] == 400
    assert amounts(price_order(p, "promotion", [item(10000, sku="TEA-002")], [A]))[0][3] == 200
    assert amounts(price_order(p, "promotion", [item(10000, sku="CUP-1", category="cup")], [A]))[0][3] == 100


@pytest.mark.parametrize(("rounding", "paid", "expected"), [
    ("half_up", 5, 1), ("half_even", 5, 0), ("half_up", 15, 2), ("half_even", 15, 2), ("half_even", 25, 2),
])
def test_half_fen_ties_follow_the_named_rounding(rounding, paid, expected):
    p = plan(pct(1, 1000), rounding=rounding)
    lines = price_order(p, "promotion", [item(paid)], [A])
    assert (lines[0].amount_fen if lines else 0) == expected


def test_tiny_orders_whose_commission_rounds_to_zero_make_no_line():
    assert price_order(plan(pct(1, 1000)), "promotion", [item(4)], [A]) == []


def test_skipped_positions_pay_no_one_and_do_not_close_up():
    lines = price_order(plan(pct(1, 1000), pct(2, 500), pct(3, 200)), "promotion", [item(10000)], [A, None, C])
    assert amounts(lines) == [(1, 1, "commission", 1000), (3, 3, "commission", 200)]


def test_consignment_l1_earns_its_margin_and_uplines_earn_plan_levels():
    lines = price_order(plan(pct(1, 1000), pct(2, 500)), "consignment", [item(5900, cost=3100)], [A, B])
    assert amounts(lines) == [(1, 1, "margin", 2800), (2, 2, "commission", 295)]


def test_a_distributors_retail_sale_pays_no_commission():
    assert price_order(plan(pct(1, 1000)), "wholesale", [item(5000)], [A], stock_purchase=False) == []


def test_effective_dates():
    p = plan(pct(1, 1000, effective_from="2026-12-01T00:00:00+08:00"), pct(1, 100, scope={"category": "tea"}))
    nov = datetime(2026, 11, 28, tzinfo=UTC)
    dec = datetime(2026, 12, 2, tzinfo=UTC)
    assert amounts(price_order(p, "promotion", [item(10000)], [A], at=nov))[0][3] == 100
    # the category rule is more specific than the dated global one, and still wins in December
    assert amounts(price_order(p, "promotion", [item(10000)], [A], at=dec))[0][3] == 100


def test_caps_per_line():
    p = plan(pct(1, 1000, cap_fen=500))
    assert amounts(price_order(p, "promotion", [item(100000)], [A]))[0][3] == 500


def test_max_total_share_guard_scales_lines_down_exactly():
    p = plan({"scope": {}, "level": 1, "kind": "fixed_per_unit", "amount_fen": 900},
             {"scope": {}, "level": 2, "kind": "fixed_per_unit", "amount_fen": 900}, max_total_bp=3000)
    lines = price_order(p, "promotion", [item(3000)], [A, B])  # 1800 of 3000 would be 60 %
    assert sum(line.amount_fen for line in lines) == 900 and [line.amount_fen for line in lines] == [450, 450]


def test_a_3_unit_item_refunded_one_unit_at_a_time_keeps_exact_thirds():
    amount, paid = 1000, 17700
    kept = [kept_after_refund(amount, paid, refunded, "half_up") for refunded in (0, 5900, 11800, 17700)]
    assert kept == [1000, 667, 333, 0]


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"depth": 4, "rules": []}, "out_of_range", "depth"),
    ({"rules": [pct(1, -1)]}, "out_of_range", "rules[0].rate_bp"),
    ({"rules": [pct(1, 10001)]}, "out_of_range", "rules[0].rate_bp"),
    ({"rules": [pct(1, 10.5)]}, "invalid_type", "rules[0].rate_bp"),
    ({"depth": 2, "rules": [pct(3, 100)]}, "level_beyond_depth", "rules[0].level"),
    ({"rules": [{"level": 1, "kind": "tiered", "tier_mode": "slab",
                 "tiers": [{"from_fen": 0, "rate_bp": 1}, {"from_fen": 0, "rate_bp": 2}]}]}, "tier_overlap",
     "rules[0].tiers[1].from_fen"),
    ({"rules": [{"level": 1, "kind": "tiered", "tier_mode": "slab",
                 "tiers": [{"from_fen": 100, "rate_bp": 1}]}]}, "tier_gap", "rules[0].tiers[0].from_fen"),
    ({"rules": [{"level": 1, "kind": "fixed_per_unit", "amount_fen": 8.0}]}, "invalid_type", "rules[0].amount_fen"),
    ({"rules": [pct(1, 100), pct(1, 200)]}, "duplicate_rule", "rules[1]"),
    ({"rounding": "up", "rules": []}, "invalid_rounding", "rounding"),
])
def test_bad_plans_are_refused_with_the_field_named(body, code, field):
    with pytest.raises(PlanError) as err:
        parse_plan(body)
    assert (err.value.code, err.value.field) == (code, field)


def test_catalogue_checks_unknown_scopes_and_max_share():
    catalogue = [CatalogueItem("TEA-001", "tea", 5900), CatalogueItem("CUP-001", "cup", 2000)]
    with pytest.raises(PlanError) as err:
        check_against_catalogue(plan(pct(1, 100, scope={"sku": "NOPE"})), catalogue)
    assert err.value.code == "unknown_sku"
    with pytest.raises(PlanError) as err:
        check_against_catalogue(plan(pct(1, 100, scope={"category": "nope"})), catalogue)
    assert err.value.code == "unknown_category"
    with pytest.raises(PlanError) as err:
        check_against_catalogue(plan(pct(1, 2000), pct(2, 1500), max_total_bp=3000), catalogue)
    assert (err.value.code, err.value.field) == ("over_max_share", "rules[1]")
    fixed = plan({"scope": {"sku": "CUP-001"}, "level": 1, "kind": "fixed_per_unit", "amount_fen": 800},
                 max_total_bp=3000)
    with pytest.raises(PlanError) as err:  # ¥8 on a ¥20 cup is 40 %
        check_against_catalogue(fixed, catalogue)
    assert err.value.field == "rules[0]"


@given(
    paid=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=5),
    rates=st.lists(st.integers(min_value=0, max_value=4000), min_size=3, max_size=3),
    fixed=st.integers(min_value=0, max_value=5000),
    max_bp=st.integers(min_value=0, max_value=10000),
)
def test_no_order_ever_pays_more_than_the_max_share(paid, rates, fixed, max_bp):
    p = plan(pct(1, rates[0]), pct(2, rates[1]), {"scope": {"category": "tea"}, "level": 3,
                                                  "kind": "fixed_per_unit", "amount_fen": fixed},
             max_total_bp=max_bp)
    items = [item(amount, index=i) for i, amount in enumerate(paid)]
    lines = price_order(p, "promotion", items, [A, B, C])
    total_paid = sum(paid)
    assert sum(line.amount_fen for line in lines) * 10000 <= total_paid * max_bp + 5000
    assert all(line.amount_fen > 0 for line in lines)


@given(amount=st.integers(min_value=0, max_value=10**6), paid=st.integers(min_value=1, max_value=10**7),
       cuts=st.lists(st.integers(min_value=1, max_value=10**6), max_size=6))
def test_partial_refunds_never_keep_more_than_before_and_full_refund_keeps_nothing(amount, paid, cuts):
    refunded, kept = 0, amount
    for cut in cuts:
        refunded = min(paid, refunded + cut)
        now = kept_after_refund(amount, paid, refunded, "half_up")
        assert 0 <= now <= kept
        kept = now
    assert kept_after_refund(amount, paid, paid, "half_even") == 0
