from __future__ import annotations

from flask import g
from flask_babel import gettext as _

from distweb.services import network
from distweb.web.api.base import ApiError, bp, field, idempotent, json_body
from distweb.web.api.orders import parse_time
from distweb.web.join.routes import invite_url


def promoter_json(promoter, balances: bool = False) -> dict:
    data = {
        "code": promoter.code,
        "name": promoter.user.name,
        "phone": promoter.user.phone,
        "upline_code": promoter.upline.code if promoter.upline else None,
        "rank": promoter.rank.value,
        "distributor": promoter.distributor,
        "status": promoter.status.value,
        "joined_at": promoter.joined_at.isoformat(),
        "invite_url": invite_url(promoter.code),
    }
    if balances:
        from distweb.services import wallet

        data["balances"] = wallet.balances(promoter.id)
    return data


@bp.post("/promoters")
@idempotent
def promoter_create():
    body = json_body()
    name = field(body, "name", str, max_length=60)
    phone = field(body, "phone", str, max_length=20)
    upline_code = field(body, "upline_code", str, required=False, nullable=True, max_length=12)
    rank = field(body, "rank", str, required=False, nullable=True, max_length=16)
    distributor = field(body, "distributor", bool, required=False, nullable=True) is True
    joined_at = parse_time(body, "joined_at")  # not in the future: the service checks
    promoter = network.import_promoter(g.brand, name, phone, upline_code, rank, distributor=distributor,
                                       joined_at=joined_at)
    return promoter_json(promoter), 201


def _promoter(code: str):
    promoter = network.by_code(code, g.brand.id)
    if promoter is None:
        raise ApiError(404, "not_found", _("推客不存在。"))
    return promoter


@bp.get("/promoters/<code>")
def promoter_show(code: str):
    return promoter_json(_promoter(code), balances=True)


# What a PATCH may change, with each value's type (null only where it means something).
PATCHABLE = {"name": (str, 60, False), "rank": (str, 16, False), "distributor": (bool, 0, False),
             "status": (str, 16, False), "upline_code": (str, 12, True), "reason": (str, 200, True)}


@bp.patch("/promoters/<code>")
def promoter_update(code: str):
    """Change any of name, rank, distributor, status (active|suspended) and upline_code (a
    move; null: the top of the tree). Every field is checked before anything is written."""
    promoter = _promoter(code)
    body = json_body()
    for key in body:
        if key not in PATCHABLE:
            raise ApiError(422, "unknown_field", _("未知字段 %(name)s。", name=str(key)[:40]), key)
    changes = {}
    for key, (kind, max_length, nullable) in PATCHABLE.items():
        if key not in body:
            continue
        if body[key] is None and not nullable:
            raise ApiError(422, "invalid_type", _("字段 %(name)s 的类型不正确。", name=key), key)
        changes[key] = field(body, key, kind, required=False, nullable=nullable, max_length=max_length)
    reason = changes.pop("reason", None)
    network.update_promoter(None, promoter, reason=reason, **changes)
    return promoter_json(promoter, balances=True)
