import pytest
from hypothesis import given
from hypothesis import strategies as st

from distweb.money import MoneyTypeError, format_fen, parse_yuan, require_fen


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "¥0.00"), (1, "¥0.01"), (99, "¥0.99"), (100, "¥1.00"), (123456, "¥1,234.56"),
     (100000000, "¥1,000,000.00"), (-5, "-¥0.05"), (-123456, "-¥1,234.56")],
)
def test_format_fen_shows_yuan_with_two_decimals(fen, text):
    assert format_fen(fen) == text
    assert format_fen(fen, locale="en") == text


@pytest.mark.parametrize("bad", [1.0, "100", True, None, 1.5])
def test_amounts_must_be_integer_fen(bad):
    with pytest.raises(MoneyTypeError):
        format_fen(bad)
    with pytest.raises(MoneyTypeError):
        require_fen(bad)


@pytest.mark.parametrize(("text", "fen"), [("10", 1000), ("10.00", 1000), ("1,234.5", 123450), ("¥0.01", 1),
                                          ("1.000", 100), ("1e3", 100000), ("0", 0)])
def test_parse_yuan_is_exact(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("bad", ["", "abc", "-1", "12.345", "NaN", "Infinity", "1e-999999999",
                                 "1e999999", "1e99999", "10000000000000000"])
def test_parse_yuan_refuses_what_is_not_an_amount_quickly(bad):
    """A ValueError (a form error), never an overflow or seconds spent building a huge int."""
    with pytest.raises(ValueError):
        parse_yuan(bad)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_formatting_round_trips_exactly(fen):
    text = format_fen(fen).replace("¥", "").replace(",", "")
    sign = -1 if text.startswith("-") else 1
    yuan, cents = text.lstrip("-").split(".")
    assert sign * (int(yuan) * 100 + int(cents)) == fen


from distweb.money import allocate, apply_bp, round_div  # noqa: E402


@pytest.mark.parametrize(("base", "rate", "half_up", "half_even"), [
    (5, 1000, 1, 0),          # 0.5 fen: half-up rounds up, half-even to 0
    (15, 1000, 2, 2),         # 1.5 → 2 both
    (25, 1000, 3, 2),         # 2.5 → 3 / 2
    (11800, 1000, 1180, 1180),
    (1, 1, 0, 0),             # tiny orders round to nothing
    (3333, 3333, 1111, 1111),
    (0, 5000, 0, 0),
])
def test_apply_bp_rounds_once_with_the_named_mode(base, rate, half_up, half_even):
    assert apply_bp(base, rate, "half_up") == half_up
    assert apply_bp(base, rate, "half_even") == half_even


def test_round_div_is_symmetric_for_negative_amounts():
    assert round_div(-5, 10) == -1 and round_div(5, 10) == 1
    assert round_div(-25, 10, "half_even") == -2


def test_allocate_known_splits_and_tie_break():
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]  # the tie goes to the earliest part
    assert allocate(10, [3, 3, 4]) == [3, 3, 4]
    assert allocate(-100, [1, 1, 1]) == [-34, -33, -33]
    assert allocate(0, [5, 0]) == [0, 0]
    assert allocate(7, [0, 1]) == [0, 7]


@given(st.integers(min_value=-(10**10), max_value=10**10),
       st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12).filter(lambda w: sum(w) > 0))
def test_allocations_always_sum_to_the_whole_and_stay_within_one_fen(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part * weight_sum - total * weight) < weight_sum  # each part within 1 fen of exact


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10_000))
def test_apply_bp_is_within_half_a_fen_of_the_exact_value(base, rate):
    exact_twice = base * rate * 2
    for mode in ("half_up", "half_even"):
        assert abs(apply_bp(base, rate, mode) * 20_000 - exact_twice) <= 10_000
