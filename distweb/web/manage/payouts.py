"""Settlement runs and withdrawals in the manager console; payout files for finance."""

from __future__ import annotations

from flask import Response, abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from distweb import exports
from distweb.labels import WITHDRAW_METHOD, WITHDRAWAL_STATUS
from distweb.models.payouts import RunStatus
from distweb.money import fen_to_decimal
from distweb.services import jobs, network, settlement, withdrawals
from distweb.services.errors import NotFound, ServiceError
from distweb.services.tx import transaction
from distweb.web.downloads import attachment_headers
from distweb.web.htmx import redirect_to, render
from distweb.web.manage.routes import bp


@bp.route("/settlements", methods=["GET", "POST"])
def settlements():
    settings = network.get_settings(current_user.brand_id)
    if request.method == "POST":
        if request.form.get("action") == "cycle":
            cycle = request.form.get("cycle", "manual")
            if cycle not in ("manual", "daily", "weekly", "monthly"):
                abort(400)
            weekday = request.form.get("weekday", "0")
            day = request.form.get("day", "1")
            with transaction():
                settings.settlement = {"cycle": cycle, "weekday": int(weekday) if weekday.isdigit() else 0,
                                       "day": max(1, min(28, int(day) if day.isdigit() else 1))}
            flash(_("结算周期已保存。"), "success")
            return redirect_to(url_for("manage.settlements"))
        run = settlement.start_run(current_user.brand_id, created_by_id=current_user.id)
        flash(_("结算已开始。"), "success")
        return redirect_to(url_for("manage.settlement_show", run_id=run.id))
    return render("manage/settlements.html", runs=settlement.recent_runs(current_user.brand_id),
                  cycle=settings.settlement or {"cycle": "manual"}, nav="settlements")


@bp.get("/settlements/<int:run_id>")
def settlement_show(run_id: int):
    try:
        run = settlement.get_run(current_user.brand_id, run_id)
    except NotFound:
        abort(404)
    job = jobs.get_job(run.job_id, current_user.brand_id) if run.job_id else None
    return render("manage/settlement.html", "manage/_settlement_status.html", run=run, job=job,
                  rows=settlement.per_promoter(run.id) if run.status.value == "succeeded" else [],
                  nav="settlements", **_run_payouts(run))


def _run_payouts(run) -> dict:
    from distweb.services import provider_payouts

    batch = provider_payouts.latest_batch(current_user.brand_id, run.id)
    return {"payout_rows": provider_payouts.run_rows(current_user.brand_id, run.id), "batch": batch,
            "batch_job": jobs.get_job(batch.job_id, current_user.brand_id) if batch and batch.job_id else None}


@bp.get("/settlements/<int:run_id>/payouts")
def settlement_payout_rows(run_id: int):
    """The run's payouts section alone: the page polls it while its batch job runs."""
    from flask import render_template

    try:
        run = settlement.get_run(current_user.brand_id, run_id)
    except NotFound:
        abort(404)
    if run.status.value != "succeeded":
        abort(404)
    return render_template("manage/_run_payouts.html", run=run, **_run_payouts(run))


@bp.post("/settlements/<int:run_id>/payouts")
def settlement_payouts(run_id: int):
    """批量打款 of the run: one background job pays every approved withdrawal of the run
    that WeChat Pay or Alipay can pay; the page follows its progress."""
    from distweb.services import provider_payouts

    try:
        provider_payouts.start_batch(current_user.brand_id, run_id, request.url_root, current_user.id)
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(str(err.message), "error")
    else:
        flash(_("批量打款已开始。"), "success")
    return redirect_to(url_for("manage.settlement_show", run_id=run_id))


@bp.get("/withdrawals")
def withdrawal_list():
    from distweb.services import online_pay, provider_payouts

    status = request.args.get("status") or "requested"
    rows = withdrawals.for_brand(current_user.brand_id, status or None)
    enabled = online_pay.enabled(current_user.brand_id)
    return render("manage/withdrawals.html", rows=rows, status=status, nav="withdrawals",
                  payouts=provider_payouts.for_withdrawals([w.id for w in rows]), online_methods=set(enabled),
                  cancellable=provider_payouts.cancellable, cancelling=provider_payouts.cancelling,
                  payable={w.id for w in rows if provider_payouts.payable(current_user.brand_id, w, enabled)})


@bp.post("/withdrawals/<int:withdrawal_id>/payout")
def withdrawal_payout(withdrawal_id: int):
    """在线打款: WeChat Pay 商家转账 or Alipay 单笔转账; paid on the provider's confirmation."""
    from distweb.services import provider_payouts

    try:
        payout = provider_payouts.start(current_user.brand_id, withdrawal_id, request.url_root, current_user.id)
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(str(err.message), "error")
    else:
        if payout.status == "succeeded":
            flash(_("打款成功。"), "success")
        elif payout.status == "failed":
            flash(_("打款失败：%(reason)s", reason=payout.failure or ""), "error")
        else:
            flash(_("已提交打款，等待支付平台确认。"), "info")
    return redirect_to(url_for("manage.withdrawal_list", status=request.args.get("status", "approved")))


@bp.post("/withdrawals/<int:withdrawal_id>/cancel-payout")
def withdrawal_cancel_payout(withdrawal_id: int):
    """撤销转账 of a WeChat payout the payee has not confirmed: approved again on WeChat's
    CANCELLED; paid if the payee confirmed first."""
    from distweb.services import provider_payouts

    try:
        payout = provider_payouts.cancel(current_user.brand_id, withdrawal_id, current_user.id)
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(str(err.message), "error")
    else:
        if payout.status == "succeeded":
            flash(_("收款人已确认收款，转账无法撤销，提现已打款。"), "error")
        elif payout.status == "failed":
            flash(_("转账已撤销，提现退回已通过。"), "success")
        else:
            flash(_("已申请撤销转账，等待微信支付确认。"), "info")
    return redirect_to(url_for("manage.withdrawal_list", status=request.args.get("status", "approved")))


@bp.post("/withdrawals/payout-all")
def withdrawal_payout_all():
    """批量打款: every approved withdrawal an enabled provider can pay."""
    from distweb.services import provider_payouts

    counts = provider_payouts.start_all(current_user.brand_id, request.url_root, current_user.id)
    flash(_("批量打款：成功 %(ok)s 笔，处理中 %(pending)s 笔，失败 %(failed)s 笔。", ok=counts["succeeded"],
            pending=counts["pending"], failed=counts["failed"]), "success" if not counts["failed"] else "error")
    return redirect_to(url_for("manage.withdrawal_list", status="approved"))


@bp.post("/withdrawals/<int:withdrawal_id>/<action>")
def withdrawal_act(withdrawal_id: int, action: str):
    brand_id = current_user.brand_id
    try:
        if action == "approve":
            withdrawals.approve(brand_id, withdrawal_id, current_user.id)
        elif action == "reject":
            withdrawals.reject(brand_id, withdrawal_id, request.form.get("reason"), current_user.id)
        elif action == "paid":
            withdrawals.mark_paid(brand_id, withdrawal_id, request.form.get("reference"), current_user.id)
        else:
            abort(404)
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(str(err.message), "error")
    else:
        flash(_("已保存。"), "success")
    return redirect_to(url_for("manage.withdrawal_list", status=request.args.get("status", "requested")))


PAYOUT_COLUMNS = ("id", "name", "method", "account_name", "account_no", "amount", "fee", "net", "status", "reference")
# Per column: names are typed by promoters (quoted if they start like a formula), account
# numbers and transfer references stay text digit for digit, ids and yuan amounts are numbers.
PAYOUT_KINDS = (exports.NUMBER, exports.TEXT, exports.TEXT, exports.TEXT, exports.IDENTIFIER,
                exports.NUMBER, exports.NUMBER, exports.NUMBER, exports.TEXT, exports.IDENTIFIER)


def _payout_rows(status: str | None):
    for w in withdrawals.for_brand(current_user.brand_id, status, limit=10000):
        yield [w.id, w.promoter.user.name, str(WITHDRAW_METHOD.get(w.method, w.method)), w.account_name, w.account_no,
               fen_to_decimal(w.amount_fen), fen_to_decimal(w.fee_fen), fen_to_decimal(w.net_fen),
               str(WITHDRAWAL_STATUS[w.status.value]), w.reference]


def _headers():
    return [_("编号"), _("姓名"), _("方式"), _("户名"), _("账号"), _("金额（元）"), _("手续费（元）"), _("实付（元）"),
            _("状态"), _("流水号")]


@bp.get("/withdrawals/payout.csv")
def payout_csv():
    body = exports.csv_text(_headers(), _payout_rows(request.args.get("status") or "approved"), PAYOUT_KINDS)
    return Response(body, mimetype="text/csv", headers=attachment_headers("payout.csv"))


@bp.get("/withdrawals/payout.xlsx")
def payout_xlsx():
    body = exports.xlsx_bytes("payout", _headers(), _payout_rows(request.args.get("status") or "approved"),
                              PAYOUT_KINDS)
    return Response(body, mimetype=exports.XLSX_MIMETYPE, headers=attachment_headers("payout.xlsx"))


# Batch-payment templates, one row per approved withdrawal of that method, the amount being
# what the promoter receives (net of the fee):
#   alipay — 支付宝「批量转账到支付宝账户」: 序号, 收款方支付宝账号, 收款方姓名, 金额（元）, 备注;
#   bank   — 银行「批量代发」: 序号, 收款账号, 收款户名, 金额（元）, 用途, 客户流水号 (W<withdrawal id>,
#            for matching the bank's result file back to the withdrawal).
# Account numbers and references are text cells (XLSX: formatted as Text) or quoted (CSV), so no
# digit of a card number is lost; names go through exports.py's formula neutralising.
BATCH_TEMPLATES = {
    "alipay": {
        "method": "alipay",
        "kinds": (exports.NUMBER, exports.IDENTIFIER, exports.TEXT, exports.NUMBER, exports.TEXT),
    },
    "bank": {
        "method": "bank",
        "kinds": (exports.NUMBER, exports.IDENTIFIER, exports.TEXT, exports.NUMBER, exports.TEXT, exports.IDENTIFIER),
    },
}


def _batch_headers(template: str) -> list[str]:
    if template == "alipay":
        return [_("序号"), _("收款方支付宝账号"), _("收款方姓名"), _("金额（元）"), _("备注")]
    return [_("序号"), _("收款账号"), _("收款户名"), _("金额（元）"), _("用途"), _("客户流水号")]


def _batch_rows(template: str, status: str | None):
    method = BATCH_TEMPLATES[template]["method"]
    n = 0
    for w in withdrawals.for_brand(current_user.brand_id, status, limit=10000):
        if w.method != method:
            continue
        n += 1
        note = _("佣金提现 #%(id)s", id=w.id)
        if template == "alipay":
            yield [n, w.account_no, w.account_name, fen_to_decimal(w.net_fen), note]
        else:
            yield [n, w.account_no, w.account_name, fen_to_decimal(w.net_fen), note, f"W{w.id}"]


@bp.get("/withdrawals/payout-<template>.<fmt>")
def payout_batch(template: str, fmt: str):
    """A batch-payment file in the Alipay or bank template, for the withdrawals approved (by
    default) and paid that way."""
    if template not in BATCH_TEMPLATES or fmt not in ("csv", "xlsx"):
        abort(404)
    status = request.args.get("status") or "approved"
    rows = _batch_rows(template, status)
    kinds = BATCH_TEMPLATES[template]["kinds"]
    name = f"payout-{template}.{fmt}"
    if fmt == "csv":
        return Response(exports.csv_text(_batch_headers(template), rows, kinds), mimetype="text/csv",
                        headers=attachment_headers(name))
    body = exports.xlsx_bytes(template, _batch_headers(template), rows, kinds)
    return Response(body, mimetype=exports.XLSX_MIMETYPE, headers=attachment_headers(name))


__all__ = ["BATCH_TEMPLATES", "PAYOUT_COLUMNS", "PAYOUT_KINDS"]


@bp.get("/settlements/<int:run_id>/report.pdf")
def settlement_report(run_id: int):
    from flask import send_file

    try:
        run = settlement.get_run(current_user.brand_id, run_id)
    except NotFound:
        abort(404)
    path = settlement.report_path(run)
    if not path.exists():
        if run.status != RunStatus.SUCCEEDED:
            abort(404)
        settlement.request_report(run)
        flash(_("结算报告正在生成，请稍后再下载。"), "info")
        return redirect_to(url_for("manage.settlement_show", run_id=run.id))
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=f"settlement-{run.id}.pdf")
