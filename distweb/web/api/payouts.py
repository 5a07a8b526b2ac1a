"""API v1 settlement runs, withdrawals, withdrawal rules and statements (docs/API.md)."""

from __future__ import annotations

from flask import g, request, url_for
from flask_babel import gettext as _

from distweb.services import network, settlement, statements, withdrawal_rules, withdrawals
from distweb.services.errors import NotFound
from distweb.web.api.base import ApiError, bp, field, idempotent, json_body
from distweb.web.api.orders import parse_time


def run_json(run) -> dict:
    return {"id": run.id, "status": run.status.value, "as_of": run.as_of.isoformat(),
            "settled_count": run.settled_count, "settled_fen": run.settled_fen,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None, "error": run.error}


@bp.post("/settlement-runs")
@idempotent
def settlement_run_create():
    body = json_body()
    run = settlement.start_run(g.brand.id, parse_time(body, "as_of"), trigger="api")
    return run_json(run), 202


@bp.get("/settlement-runs/<int:run_id>")
def settlement_run_get(run_id: int):
    try:
        return run_json(settlement.get_run(g.brand.id, run_id))
    except NotFound:
        raise ApiError(404, "not_found", _("结算批次不存在。")) from None


def withdrawal_json(w) -> dict:
    return {"id": w.id, "status": w.status.value, "amount_fen": w.amount_fen, "fee_fen": w.fee_fen,
            "net_fen": w.net_fen, "method": w.method, "reference": w.reference, "reason": w.reason,
            "created_at": w.created_at.isoformat()}


def _promoter(code: str):
    promoter = network.by_code(code, g.brand.id)
    if promoter is None:
        raise ApiError(404, "not_found", _("推客不存在。"))
    return promoter


@bp.post("/promoters/<code>/withdrawals")
@idempotent
def withdrawal_create(code: str):
    promoter = _promoter(code)
    body = json_body()
    amount = field(body, "amount_fen", int)
    if amount < 0:
        raise ApiError(422, "negative_amount", _("金额不能为负。"), "amount_fen")
    w = withdrawals.request(promoter.id, withdrawals.Request(
        amount, field(body, "method", str, max_length=12), field(body, "account_name", str, required=False,
                                                                  nullable=True, max_length=60) or promoter.user.name,
        field(body, "account", str, max_length=60)))
    return withdrawal_json(w), 201


def _withdrawal(withdrawal_id: int):
    try:
        return withdrawals.get(g.brand.id, withdrawal_id)
    except NotFound:
        raise ApiError(404, "not_found", _("提现申请不存在。")) from None


@bp.get("/withdrawals/<int:withdrawal_id>")
def withdrawal_get(withdrawal_id: int):
    return withdrawal_json(_withdrawal(withdrawal_id))


@bp.post("/withdrawals/<int:withdrawal_id>/<action>")
@idempotent
def withdrawal_action(withdrawal_id: int, action: str):
    _withdrawal(withdrawal_id)
    body = json_body() if request.get_data(cache=True) else {}
    if action == "approve":
        w = withdrawals.approve(g.brand.id, withdrawal_id)
    elif action == "reject":
        w = withdrawals.reject(g.brand.id, withdrawal_id, field(body, "reason", str, max_length=200))
    elif action == "paid":
        w = withdrawals.mark_paid(g.brand.id, withdrawal_id, field(body, "reference", str, max_length=80))
    else:
        raise ApiError(404, "not_found", _("页面不存在"))
    return withdrawal_json(w)


@bp.get("/withdrawal-rules")
def withdrawal_rules_get():
    return withdrawal_rules.get(g.brand.id)


@bp.put("/withdrawal-rules")
def withdrawal_rules_put():
    """The whole shape; a bad body is a 422 naming the field and saves nothing."""
    return withdrawal_rules.save(g.brand.id, json_body(), api_key_id=g.api_key.id)


@bp.get("/promoters/<code>/statements")
def statement_get(code: str):
    promoter = _promoter(code)
    period = request.args.get("period", "")
    statement = statements.request(promoter, period)
    body = {"period": statement.period, "status": statement.status.value, "closing_fen": statement.closing_fen,
            "checksum": statement.checksum, "download_url": None}
    if statement.status.value == "succeeded":
        body["download_url"] = url_for("api.statement_download", statement_id=statement.id, _external=True)
    return body, 200 if statement.status.value == "succeeded" else 202


@bp.get("/statements/<int:statement_id>.pdf")
def statement_download(statement_id: int):
    from flask import send_file

    try:
        statement = statements.get_for_brand(g.brand.id, statement_id)
    except NotFound:
        raise ApiError(404, "not_found", _("对账单不存在。")) from None
    path = statements.file_path(statement)
    if not path.exists():
        raise ApiError(404, "not_found", _("对账单不存在。"))
    return send_file(path, mimetype="application/pdf", download_name=f"statement-{statement.period}.pdf")
