"""Editing the withdrawal rules (提现规则) a brand sets without code: one validation for the
API's ``PUT /api/v1/withdrawal-rules`` and the manager's settings page, one audited write.

The shape is docs/API.md's, stored as is in ``ProgrammeSettings.withdrawal``::

    {"min_fen": 1000, "fee_bp": 60, "fee_min_fen": 100, "daily_limit_fen": 500000,
     "methods": ["alipay", "wechat", "bank"], "auto_approve_below_fen": null}

Reading them, and applying them to a request, is ``withdrawals.rules_for`` / ``request``.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from distweb.models import User
from distweb.services import network, withdrawals
from distweb.services.errors import ServiceError
from distweb.services.tx import transaction

KEYS = tuple(withdrawals.DEFAULTS)  # min_fen, fee_bp, fee_min_fen, daily_limit_fen, methods, auto_approve_below_fen
NULLABLE = ("daily_limit_fen", "auto_approve_below_fen")
# The largest amount a rule may name: every integer up to it survives a JSON client that reads
# numbers as doubles. "Approve everything" rules migrated from the old shape are exactly this.
MAX_FEN = 2**53
MAX_BP = 10_000


def get(brand_id: int) -> dict:
    return withdrawals.rules_for(brand_id)


def validate(body: object) -> dict:
    """The whole shape, or a ServiceError (422) naming the first bad field. Amounts must be
    real integers: a float, string, bool or negative number is refused, never rounded."""
    if not isinstance(body, dict):
        raise ServiceError("invalid_body", _l("提现规则必须是 JSON 对象。"), None)
    for key in body:
        if key not in KEYS:
            raise ServiceError("unknown_field", _l("未知字段 %(name)s。", name=str(key)[:40]), str(key)[:40])
    for key in KEYS:
        if key not in body:
            raise ServiceError("missing_field", _l("缺少字段 %(name)s。", name=key), key)
    clean = {}
    for key in ("min_fen", "fee_bp", "fee_min_fen", "daily_limit_fen", "auto_approve_below_fen"):
        value = body[key]
        if value is None and key in NULLABLE:
            clean[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ServiceError("invalid_type", _l("字段 %(name)s 的类型不正确。", name=key), key)
        if value < 0:
            raise ServiceError("negative_amount", _l("字段 %(name)s 不能为负数。", name=key), key)
        if key == "fee_bp":
            if value > MAX_BP:
                raise ServiceError("out_of_range", _l("手续费率需在 0 到 %(most)s 之间。", most="100%"), key)
        elif value > MAX_FEN:
            raise ServiceError("out_of_range", _l("字段 %(name)s 的金额过大。", name=key), key)
        if key == "min_fen" and value < 1:
            raise ServiceError("out_of_range", _l("最低提现金额至少为 0.01 元。"), key)
        clean[key] = value
    methods = body["methods"]
    if (not isinstance(methods, list) or not methods
            or any(not isinstance(m, str) or m not in withdrawals.METHODS for m in methods)
            or len(set(methods)) != len(methods)):
        raise ServiceError("invalid_methods", _l("提现方式至少选择一种，只能是银行卡、支付宝、微信，且不能重复。"),
                           "methods")
    clean["methods"] = list(methods)
    return {key: clean[key] for key in KEYS}


def save(brand_id: int, body: object, actor: User | None = None, api_key_id: int | None = None) -> dict:
    """Validate and store the whole shape, with an audit entry (before and after); returns
    the rules as now in force. A refused body changes nothing."""
    clean = validate(body)
    before = withdrawals.rules_for(brand_id)
    with transaction():
        network.get_settings(brand_id).withdrawal = clean
        details = {"before": before, "after": clean}
        if api_key_id is not None:
            details["api_key"] = api_key_id
        network._audit(actor, "settings.withdrawal", "brand", brand_id, details, brand_id=brand_id)
    return withdrawals.rules_for(brand_id)
