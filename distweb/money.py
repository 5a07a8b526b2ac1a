"""Money is integer fen. This module is the one place that turns fen into text.

Rates are integer basis points (1 bp = 0.01 %). Nothing here ever uses float.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_decimal


class MoneyTypeError(TypeError):
    """A non-integer (float, str, Decimal, bool) was offered as an amount of fen."""


def require_fen(value: object, field: str = "amount") -> int:
    """Accept only a real int; floats are refused rather than rounded."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MoneyTypeError(f"{field} must be an integer number of fen, got {type(value).__name__}")
    return value


def fen_to_decimal(fen: int) -> Decimal:
    return Decimal(require_fen(fen)).scaleb(-2)


@lru_cache(maxsize=32)
def _separators(locale: str) -> tuple[str, str]:
    """The locale's grouping and decimal symbols (Babel's CLDR data), looked up once."""
    sample = format_decimal(Decimal("1234.5"), format="#,##0.00", locale=locale)
    return sample[1], sample[-3]


def format_fen(fen: int, locale: str = "zh_Hans_CN", symbol: str = "¥") -> str:
    """¥1,234.56 from 123456 — in every locale, since the amounts are yuan, not local money.

    Integer arithmetic with the locale's symbols: exact, and cheap enough for long tables."""
    fen = require_fen(fen)
    group, decimal = _separators(locale)
    yuan, cents = divmod(abs(fen), 100)
    sign = "-" if fen < 0 else ""
    return f"{sign}{symbol}{yuan:,}".replace(",", group) + f"{decimal}{cents:02d}"


MAX_YUAN_DIGITS = 16  # parse_yuan refuses 10^16 yuan and more (every real amount is far below)
CENT = Decimal("0.01")


def parse_yuan(text: str) -> int:
    """'1,234.5' → 123450 fen, exactly (Decimal, never float). At most two decimals;
    negative amounts and non-numbers are refused with ValueError."""
    from decimal import InvalidOperation

    cleaned = (text or "").strip().replace(",", "").replace("¥", "").replace("￥", "")
    if not cleaned:
        raise ValueError("empty amount")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"not a non-negative amount: {text!r}")
    if value.adjusted() >= MAX_YUAN_DIGITS:
        # "1e999999" would overflow below, "1e99999" take seconds to turn into an int.
        raise ValueError(f"too large an amount: {text!r}")
    if value != value.quantize(CENT):  # also "1e-999999999", which scaleb would round to 0 silently
        raise ValueError(f"more than two decimals: {text!r}")
    return int(value.scaleb(2))


def fen_to_yuan_text(fen: int) -> str:
    """123450 → '1234.50' (for form fields)."""
    return f"{fen_to_decimal(fen):.2f}"


# ---------------------------------------------------------------- exact arithmetic

ROUNDING_MODES = ("half_up", "half_even")
BP = 10_000  # basis points in a whole


def round_div(numerator: int, denominator: int, mode: str = "half_up") -> int:
    """numerator / denominator rounded once, exactly, to an integer (for non-negative and
    negative numerators alike). ``half_up`` rounds halves away from zero (四舍五入);
    ``half_even`` rounds them to the even neighbour (banker's rounding)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    if mode not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode {mode!r}")
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    twice = remainder * 2
    if twice > denominator or (twice == denominator and (mode == "half_up" or quotient % 2 == 1)):
        quotient += 1
    return sign * quotient


def apply_bp(base_fen: int, rate_bp: int, mode: str = "half_up") -> int:
    """base × rate, with the rate in basis points, rounded once."""
    return round_div(require_fen(base_fen) * rate_bp, BP, mode)


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` with the largest-remainder method: the
    parts are integers and always add up to ``total``. Ties in the remainders go to the
    earliest part (a fixed, documented tie-break)."""
    require_fen(total)
    if any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative")
    weight_sum = sum(weights)
    if not weights:
        if total:
            raise ValueError("nothing to allocate to")
        return []
    if weight_sum == 0:
        raise ValueError("weights sum to zero")
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    floors, remainders = [], []
    for index, weight in enumerate(weights):
        share, remainder = divmod(magnitude * weight, weight_sum)
        floors.append(share)
        remainders.append((-remainder, index))
    for _, index in sorted(remainders)[: magnitude - sum(floors)]:
        floors[index] += 1
    return [sign * part for part in floors]


def bp_text(rate_bp: int) -> str:
    """A rate in basis points as a percentage number without trailing zeros: 1250 → "12.5"."""
    return format((Decimal(rate_bp) / 100).normalize(), "f") if rate_bp else "0"
