import pytest
from hypothesis import given
from hypothesis import strategies as st

from distweb.money import MoneyTypeError, format_fen, require_fen


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


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_formatting_round_trips_exactly(fen):
    text = format_fen(fen).replace("¥", "").replace(",", "")
    sign = -1 if text.startswith("-") else 1
    yuan, cents = text.lstrip("-").split(".")
    assert sign * (int(yuan) * 100 + int(cents)) == fen
