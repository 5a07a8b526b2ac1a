"""Settlement runs and withdrawals in the manager console; payout files for finance."""

from __future__ import annotations

import csv
import io

from flask import Response, abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from distweb.labels import WITHDRAW_METHOD, WITHDRAWAL_STATUS
from distweb.models.payouts import RunStatus
from distweb.services import jobs, network, settlement, withdrawals
from distweb.services.errors import NotFound, ServiceError
from distweb.services.tx import transaction
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
                  nav="settlements")


@bp.get("/withdrawals")
def withdrawal_list():
    status = request.args.get("status") or "requested"
    return render("manage/withdrawals.html", rows=withdrawals.for_brand(current_user.brand_id, status or None),
                  status=status, nav="withdrawals")


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


def _payout_rows(status: str | None):
    for w in withdrawals.for_brand(current_user.brand_id, status, limit=10000):
        yield [w.id, w.promoter.user.name, str(WITHDRAW_METHOD.get(w.method, w.method)), w.account_name, w.account_no,
               _yuan(w.amount_fen), _yuan(w.fee_fen), _yuan(w.net_fen),
               str(WITHDRAWAL_STATUS[w.status.value]), w.reference or ""]


def _yuan(fen: int) -> str:
    from distweb.money import fen_to_yuan_text

    return fen_to_yuan_text(fen)


def _headers():
    return [_("编号"), _("姓名"), _("方式"), _("户名"), _("账号"), _("金额（元）"), _("手续费（元）"), _("实付（元）"),
            _("状态"), _("流水号")]


@bp.get("/withdrawals/payout.csv")
def payout_csv():
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_headers())
    writer.writerows(_payout_rows(request.args.get("status") or "approved"))
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=payout.csv", "Cache-Control": "no-store"})


@bp.get("/withdrawals/payout.xlsx")
def payout_xlsx():
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("payout")
    sheet.append(_headers())
    for row in _payout_rows(request.args.get("status") or "approved"):
        # Amounts go in as exact decimal text converted by Excel-friendly numbers of yuan.
        from decimal import Decimal

        sheet.append(row[:5] + [Decimal(row[5]), Decimal(row[6]), Decimal(row[7])] + row[8:])
    buffer = io.BytesIO()
    book.save(buffer)
    return Response(buffer.getvalue(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": "attachment; filename=payout.xlsx", "Cache-Control": "no-store"})


__all__ = ["PAYOUT_COLUMNS"]


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
