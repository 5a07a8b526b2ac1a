"""Platform imports in the manager console: upload an export, map its columns (saved for the
next file of the same kind and source), preview the first rows with their errors, import as
a background job with a progress bar, download the summary."""

from __future__ import annotations

from flask import Response, abort, flash, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user

from distweb import exports
from distweb.models import ImportBatch
from distweb.services import import_files, import_presets, imports
from distweb.services.errors import NotFound, ServiceError
from distweb.web.downloads import attachment_headers
from distweb.web.htmx import redirect_to, render
from distweb.web.manage.routes import bp


def kind_labels() -> dict[str, str]:
    return {"orders": _("订单"), "promoters": _("推客（含上级关系）"), "products": _("商品")}


def outcome_labels() -> dict[str, str]:
    return {"created": _("新建"), "updated": _("更新"), "refunded": _("退款"), "unchanged": _("无变化"),
            "skipped": _("跳过")}


def _batch(batch_id: int) -> ImportBatch:
    try:
        return imports.get_batch(current_user.brand_id, batch_id)
    except NotFound:
        abort(404)


@bp.get("/imports")
def import_list():
    return render("manage/imports.html", batches=imports.recent_batches(current_user.brand_id),
                  presets=import_presets.PRESETS, kinds=kind_labels(), nav="imports")


@bp.post("/imports")
def import_upload():
    upload = request.files.get("file")
    kind, source = request.form.get("kind", "orders"), request.form.get("source", "generic")
    if upload is None or not upload.filename:
        flash(_("请选择要上传的文件。"), "error")
        return redirect_to(url_for("manage.import_list"))
    try:
        batch = imports.upload(current_user.brand_id, current_user.id, kind, source, upload.filename, upload.stream)
    except ServiceError as err:
        flash(str(err.message), "error")
        return redirect_to(url_for("manage.import_list"))
    return redirect_to(url_for("manage.import_show", batch_id=batch.id))


def _context(batch: ImportBatch) -> dict:
    job = imports.job_of(batch)
    context = {"batch": batch, "job": job, "fields": import_presets.FIELDS[batch.kind],
               "preset": import_presets.preset(batch.kind, batch.source), "kinds": kind_labels(),
               "outcomes": outcome_labels(), "encoding": import_files.encoding_label(batch.encoding), "nav": "imports"}
    if job is None:
        try:
            context["preview"] = imports.preview(batch)
        except ServiceError as err:
            context["preview"], context["preview_error"] = [], str(err.message)
    else:
        context["counts"] = imports.counts(batch)
        context["skipped"] = imports.skipped_rows(batch) if job.done else []
    return context


@bp.get("/imports/<int:batch_id>")
def import_show(batch_id: int):
    batch = _batch(batch_id)
    return render("manage/import.html", "manage/_import_status.html", **_context(batch))


@bp.post("/imports/<int:batch_id>/mapping")
def import_mapping(batch_id: int):
    batch = _batch(batch_id)
    columns = {f.key: request.form.get(f"col_{f.key}", "") for f in import_presets.FIELDS[batch.kind]}
    options = {"mode": request.form.get("mode", "promotion"), "prefix": request.form.get("prefix", "")}
    try:
        imports.save_mapping(batch, columns, options)
        flash(_("列对应已保存；下次上传同一来源的文件会直接使用。"), "success")
    except ServiceError as err:
        flash(str(err.message), "error")
    return redirect_to(url_for("manage.import_show", batch_id=batch.id))


@bp.post("/imports/<int:batch_id>/start")
def import_start(batch_id: int):
    batch = _batch(batch_id)
    try:
        imports.start(batch, current_user.id)
        flash(_("导入已加入后台任务队列。"), "success")
    except ServiceError as err:
        flash(str(err.message), "error")
    return redirect_to(url_for("manage.import_show", batch_id=batch.id))


@bp.post("/imports/<int:batch_id>/discard")
def import_discard(batch_id: int):
    batch = _batch(batch_id)
    try:
        imports.discard(batch)
        flash(_("已删除未导入的文件。"), "success")
    except ServiceError as err:
        flash(str(err.message), "error")
        return redirect_to(url_for("manage.import_show", batch_id=batch_id))
    return redirect_to(url_for("manage.import_list"))


SUMMARY_KINDS = (exports.NUMBER, exports.IDENTIFIER, exports.TEXT, exports.TEXT)


@bp.get("/imports/<int:batch_id>/summary.csv")
def import_summary(batch_id: int):
    """Every row's outcome: row number, external id, outcome, reason (streamed)."""
    batch = _batch(batch_id)
    labels = outcome_labels()
    batch_id = batch.id

    def rows():  # read in chunks as the response streams
        for row_no, external_id, outcome, reason in imports.summary_rows(imports.get_batch(current_user.brand_id,
                                                                                            batch_id)):
            yield [row_no, external_id, f"{labels.get(outcome, outcome)} ({outcome})", reason]

    header = [_("行号"), _("外部编号"), _("结果"), _("原因")]
    body = stream_with_context(exports.CsvSheet(SUMMARY_KINDS).lines(header, rows()))
    return Response(body, mimetype="text/csv", headers=attachment_headers(f"import-{batch_id}-summary.csv"))
