"""The brand manager's desktop console."""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from distweb.models.user import Role
from distweb.queues import REDIS_FAILURES
from distweb.services import jobs, webhooks
from distweb.services.errors import NotFound
from distweb.web.access import require_role
from distweb.web.htmx import redirect_to, render

bp = Blueprint("manage", __name__, url_prefix="/manage")
require_role(bp, Role.MANAGER)


@bp.get("/jobs")
def job_list():
    return render("manage/jobs.html", jobs=jobs.recent_jobs(current_user.brand_id), nav="jobs",
                  queue=webhooks.figures(current_user.brand_id), worker=_worker_heartbeat())


def _worker_heartbeat() -> dict | None:
    """The workers' heartbeat, or None when Redis does not answer."""
    try:
        return webhooks.worker_heartbeat()
    except REDIS_FAILURES:
        return None


@bp.post("/jobs")
def job_create():
    kind = request.form.get("kind", "diagnostics")
    if kind not in jobs.JOB_KINDS:
        abort(400)
    job = jobs.create_job(kind, brand_id=current_user.brand_id, created_by_id=current_user.id)
    flash(_("任务已加入队列。"), "success")
    return redirect_to(url_for("manage.job_show", job_id=job.id))


@bp.get("/jobs/<int:job_id>")
def job_show(job_id: int):
    try:
        job = jobs.get_job(job_id, current_user.brand_id)
    except NotFound:
        abort(404)
    return render("manage/job.html", "manage/_job_status.html", job=job, nav="jobs")


@bp.get("/webhooks")
def webhook_list():
    """Webhook events not applied: held (waiting for their order), failed (to be tried
    again), and the dead letters (failed on every try, or refused)."""
    return render("manage/webhooks.html", events=webhooks.open_events(current_user.brand_id),
                  queue=webhooks.figures(current_user.brand_id), max_attempts=webhooks.MAX_ATTEMPTS,
                  nav="webhooks")


@bp.post("/webhooks/<int:event_id>/drop")
def webhook_drop(event_id: int):
    try:
        dropped = webhooks.drop(current_user.brand_id, event_id)
    except NotFound:
        abort(404)
    if dropped:
        flash(_("事件已丢弃，不会再应用。"), "success")
    else:
        flash(_("该事件已由其他进程处理。"), "info")
    return redirect_to(url_for("manage.webhook_list"))


@bp.post("/webhooks/<int:event_id>/retry")
def webhook_retry(event_id: int):
    try:
        outcome = webhooks.retry(current_user.brand_id, event_id)
    except NotFound:
        abort(404)
    status = outcome.value if outcome is not None else None
    if status == "applied":
        flash(_("事件已应用。"), "success")
    elif status == "duplicate":
        flash(_("该变更之前已经生效，事件记为重复，未再应用。"), "info")
    elif status == "held":
        flash(_("订单还没有到达，事件继续等待。"), "info")
    elif status == "rejected":
        flash(_("事件被拒绝，原因见列表。"), "error")
    elif status == "failed":
        flash(_("应用失败，原因见列表。"), "error")
    elif status == "dead":
        flash(_("应用仍然失败，事件留在死信中，原因见列表。"), "error")
    else:
        flash(_("该事件已由其他进程处理。"), "info")
    return redirect_to(url_for("manage.webhook_list"))
