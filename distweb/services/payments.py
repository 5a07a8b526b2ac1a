"""The pluggable payment step. No gateway is reachable, so payment is recorded either by a
manager ("mark paid") or by a signed notification from whatever collects the money."""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l

from distweb.models import Brand
from distweb.services import orders
from distweb.services.errors import ServiceError
from distweb.services.tx import transaction


def payment_secret(brand: Brand) -> str:
    """The brand's notification signing secret (made on first use)."""
    if not brand.payment_secret:
        with transaction():
            brand.payment_secret = "paysec_" + secrets.token_urlsafe(32)
    return brand.payment_secret


def notify_paid(brand: Brand, external_id: str, paid_fen: int, paid_at=None, transaction_id: str | None = None,
                before_commit=None):
    """A payment notification: the amount must be exactly what the order asks. The one
    order-paid path of every notification (this signed one, WeChat Pay's and Alipay's through
    ``services.online_pay``); ``before_commit`` as ``orders.mark_paid``'s."""
    order = orders.get_order(brand.id, external_id)
    if isinstance(paid_fen, bool) or not isinstance(paid_fen, int) or paid_fen != order.total_paid_fen:
        raise ServiceError("amount_mismatch", _l("付款金额与订单金额不一致。"), "paid_fen")
    return orders.mark_paid(brand.id, order.id, paid_at, actor=f"payment:{(transaction_id or '-')[:40]}",
                            before_commit=before_commit)
