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
    fen = value.scaleb(2)
    if fen != fen.to_integral_value():
        raise ValueError(f"more than two decimals: {text!r}")
    return int(fen)


def fen_to_yuan_text(fen: int) -> str:
    """123450 → '1234.50' (for form fields)."""
    return f"{fen_to_decimal(fen):.2f}"
