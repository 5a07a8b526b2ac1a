"""GET / PUT /api/v1/commission-plan — the whole rule set as JSON; a PUT writes a new version."""

from __future__ import annotations

from flask import g

from distweb.services import commission
from distweb.web.api.base import bp, idempotent, json_body


def plan_json(brand_id: int) -> dict:
    version, plan = commission.current_plan(brand_id)
    return {"version": version, **plan.to_json()}


@bp.get("/commission-plan")
def plan_get():
    return plan_json(g.brand.id)


@bp.put("/commission-plan")
@idempotent
def plan_put():
    body = json_body()
    note = body.pop("note", None) if isinstance(body.get("note"), str) else None
    body.pop("version", None)
    commission.save_plan(g.brand.id, body, note)
    return plan_json(g.brand.id)
