"""The express carriers (快递公司) a supplier picks from when it ships, by the names buyers
know; anything else is typed in as "other"."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

# Stored on the purchase order and the buyer's order as written here (a carrier's own name).
CARRIERS: tuple[str, ...] = (
    "顺丰速运", "中通快递", "圆通速递", "韵达快递", "申通快递", "京东物流", "EMS", "中国邮政",
    "极兔速递", "德邦快递",
)
OTHER = "other"
OTHER_LABEL = _l("其他（手动填写）")


def resolve(choice: str | None, typed: str | None) -> str | None:
    """The carrier's name from the form: one of the list, or the typed name for "other";
    None when neither (the shipping service then asks for it)."""
    choice = (choice or "").strip()
    if choice == OTHER:
        return (typed or "").strip()[:40] or None
    return choice if choice in CARRIERS else None
