"""GET / PUT /api/v1/commission-plan — the whole rule set as JSON; a PUT writes a new version."""

from __future__ import annotations

from flask import g

from distweb.services import commission
from distweb.web.api.base import MAX_BODY, bp, field, idempotent, json_body


def plan_json(brand_id: int) -> dict:
    version, plan = commission.current_plan(brand_id)
    return {"version": version, **plan.to_json()}


@bp.get("/commission-plan")
def plan_get():
    return plan_json(g.brand.id)


@bp.put("/commission-plan")
@idempotent
def plan_put():
    """The whole plan (docs/API.md's shape; any other key, or no ``rules``, is a 422 and
    saves nothing), with an optional ``note`` for the history; the ``version`` a GET
    answers may be sent back and is ignored."""
    body = json_body()
    note = field(body, "note", str, required=False, nullable=True, max_length=MAX_BODY)
    body.pop("note", None)
    body.pop("version", None)
    commission.save_plan(g.brand.id, body, note)
    return plan_json(g.brand.id)
