from __future__ import annotations

from flask import g
from flask_babel import gettext as _

from distweb.services import network
from distweb.web.api.base import ApiError, bp, field, idempotent, json_body
from distweb.web.join.routes import invite_url


def promoter_json(promoter, balances: bool = False) -> dict:
    data = {
        "code": promoter.code,
        "name": promoter.user.name,
        "phone": promoter.user.phone,
        "upline_code": promoter.upline.code if promoter.upline else None,
        "rank": promoter.rank.value,
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
    promoter = network.import_promoter(g.brand, name, phone, upline_code, rank)
    return promoter_json(promoter), 201


@bp.get("/promoters/<code>")
def promoter_show(code: str):
    promoter = network.by_code(code, g.brand.id)
    if promoter is None:
        raise ApiError(404, "not_found", _("推客不存在。"))
    return promoter_json(promoter, balances=True)
