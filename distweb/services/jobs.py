"""Background jobs as users see them: a row per job, carried out by RQ.

Jobs take ids and are safe to run twice: a job whose row already says succeeded does
nothing. The row is committed before anything is pushed to Redis, so if Redis is down the
job waits as ``queued`` and the worker's sweep pushes it again later — nothing is lost.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from redis.exceptions import LockError, RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus as RQStatus
from sqlalchemy import and_, or_, select

from distweb.extensions import db
from distweb.models import Job
from distweb.models.base import utcnow
from distweb.models.job import JobStatus
from distweb.queues import REDIS_FAILURES, get_queue, redis_connection
from distweb.services.errors import NotFound
from distweb.services.tx import transaction

log = logging.getLogger(__name__)

# kind -> (queue, dotted path of the job function in the worker package)
JOB_KINDS: dict[str, tuple[str, str]] = {
    "diagnostics": ("default", "worker.jobs.run_diagnostics"),
    "evaluate_ranks": ("default", "worker.jobs.evaluate_ranks"),
    "settlement": ("settlement", "worker.jobs.settle_run"),
    "statement": ("pdf", "worker.jobs.render_statement"),
    "daily_report": ("pdf", "worker.reports.render_daily_report"),
    "import": ("default", "worker.jobs.run_import"),
    "payout_batch": ("default", "worker.jobs.pay_payout_batch"),
}

JOB_TIMEOUT = 60 * 60
SWEEP_LOCK = "distweb:sweep-lost-jobs"
# A job that failed for a transient reason is tried again, up to this many attempts in all.
MAX_ATTEMPTS = 5


def rq_job_id(job_id: int) -> str:
    return f"distweb-job-{job_id}"


def create_job(kind: str, brand_id: int | None = None, created_by_id: int | None = None,
               before_commit: Callable[[Job], None] | None = None) -> Job:
    """Record a job and push it to its queue. Returns the row even if Redis is unreachable.
    ``before_commit(job)`` runs inside the job's transaction, with its id (the row that tells
    the job what to do is linked to it there, before any worker can take it)."""
    queue, _ = JOB_KINDS[kind]
    with transaction():
        job = Job(kind=kind, queue=queue, brand_id=brand_id, created_by_id=created_by_id)
        db.session.add(job)
        if before_commit is not None:
            db.session.flush()
            before_commit(job)
    push_job(job)
    return job


def push_job(job: Job) -> bool:
    queue, func = JOB_KINDS[job.kind]
    try:
        get_queue(queue).enqueue(
            func, job.id, job_id=rq_job_id(job.id), job_timeout=JOB_TIMEOUT, result_ttl=3600, failure_ttl=86400
        )
        return True
    except REDIS_FAILURES:
        log.warning("Redis unavailable; job %s stays queued for the sweep", job.id)
        return False


def get_job(job_id: int, brand_id: int | None) -> Job:
    job = db.session.get(Job, job_id)
    if job is None or job.brand_id != brand_id:
        raise NotFound("job_not_found", _l("任务不存在。"))
    return job


def recent_jobs(brand_id: int, limit: int = 20) -> list[Job]:
    return list(
        db.session.scalars(select(Job).where(Job.brand_id == brand_id).order_by(Job.id.desc()).limit(limit))
    )


def run_job(job_id: int, work: Callable[[Job, Callable[[int, str], None]], dict | None]) -> None:
    """Carry out a job by id: mark it running, do the work, record the outcome.

    ``work(job, progress)`` gets a callback ``progress(percent, message)`` that commits at once
    so the self-polling widget sees it.
    """
    job = db.session.get(Job, job_id)
    if job is None:
        log.warning("job %s vanished; nothing to do", job_id)
        return
    if job.status == JobStatus.SUCCEEDED:
        log.info("job %s already succeeded; running it again does nothing", job_id)
        return
    with transaction():
        job.status = JobStatus.RUNNING
        job.started_at = utcnow()
        job.finished_at = None
        job.error = None
        job.attempts += 1

    def progress(percent: int, message: str) -> None:
        with transaction():
            job.progress = max(0, min(100, percent))
            job.message = message[:200]

    try:
        result = work(job, progress)
    except Exception as exc:
        db.session.rollback()
        again = transient(exc) and job.attempts < MAX_ATTEMPTS
        with transaction():
            # A transient failure (the database or Redis went away for a moment) leaves the job
            # queued: RQ records it failed, and the sweep pushes it again within seconds.
            job.status = JobStatus.QUEUED if again else JobStatus.FAILED
            job.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"[:4000]
            job.finished_at = None if again else utcnow()
        raise
    with transaction():
        job.status = JobStatus.SUCCEEDED
        job.progress = 100
        job.result = result
        job.finished_at = utcnow()


def transient(exc: BaseException) -> bool:
    """A failure that says nothing about the job: its database connection was cut
    (pg_terminate_backend, a restart), the database was locked or busy, Redis was away."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, RedisError)


def sweep_lost_jobs(min_age: timedelta = timedelta(seconds=30), quick: bool = False) -> int:
    """Push again every job whose row is unfinished but which Redis no longer carries
    (Redis restarted, a worker was killed). Returns how many were pushed.

    A job Redis does not carry at all is left alone while its row is younger than
    ``min_age``: its first push may still be under way. One that Redis says ended (failed,
    stopped: RQ fails the job of a worker that stopped sending heartbeats) while its row does
    not is pushed at once, so a killed worker's job resumes within seconds.

    ``quick`` (the worker's every-few-seconds round) looks only at the rows that can have
    been abandoned or failed for a passing reason: running, or queued again after an
    attempt. Never-started queued rows (a monthly batch can queue one statement per
    promoter) are looked at by the full sweep only.
    """
    conn = redis_connection()
    # One sweep at a time across the workers: two that both saw a job ended would both push
    # it, and two workers would then run it side by side.
    lock = conn.lock(current_app.config.get("RQ_QUEUE_PREFIX", "") + SWEEP_LOCK, timeout=60)
    if not lock.acquire(blocking=False):
        return 0
    try:
        return _sweep(conn, min_age, quick)
    finally:
        try:
            lock.release()
        except LockError:  # held past its timeout; another sweep may have taken it since
            pass


def _sweep(conn, min_age: timedelta, quick: bool) -> int:
    pushed = 0
    which = Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
    if quick:
        which = or_(Job.status == JobStatus.RUNNING, and_(Job.status == JobStatus.QUEUED, Job.attempts > 0))
    unfinished = db.session.scalars(select(Job).where(which).order_by(Job.id)).all()
    settled_before = utcnow() - min_age
    waiting = _waiting_ids(conn, {job.queue for job in unfinished})
    for job in unfinished:
        try:
            state = RQJob.fetch(rq_job_id(job.id), connection=conn).get_status()
        except NoSuchJobError:
            state = None
        if state is None and job.created_at > settled_before:
            continue
        if (state == RQStatus.QUEUED and rq_job_id(job.id) not in waiting and job.created_at <= settled_before
                and _vanished(conn, job)):
            state = None
        if state in (None, RQStatus.FAILED, RQStatus.STOPPED, RQStatus.CANCELED, RQStatus.FINISHED):
            with transaction():
                job.status = JobStatus.QUEUED
            if push_job(job):
                pushed += 1
    return pushed


def _waiting_ids(conn, queues: set[str]) -> set[str]:
    """Job ids in these queues' lists and their intermediate lists (where a worker moves a
    job as it takes it), read once per sweep."""
    ids: set[str] = set()
    for name in queues:
        queue = get_queue(name)
        for key in (queue.key, queue.intermediate_queue_key):
            ids.update(i.decode() if isinstance(i, bytes) else i for i in conn.lrange(key, 0, -1))
    return ids


def _vanished(conn, job: Job) -> bool:
    """Redis says the job is queued but no list holds it: a worker took it and was killed
    before its work horse marked it started, and RQ's clean-up then dropped the registry
    entry of a job that had not started (it only fails started ones), so nothing would ever
    run it. Looked at again, in this order, so that a job that just started (it leaves the
    intermediate list as it becomes started, in one step) is not taken for lost; a job
    pushed meanwhile is not a suspect either (rows younger than the sweep's min_age are
    left alone, and the sweep is the only other pusher, one at a time)."""
    queue = get_queue(job.queue)
    rid = rq_job_id(job.id)
    if any(conn.lpos(key, rid) is not None for key in (queue.key, queue.intermediate_queue_key)):
        return False
    try:
        return RQJob.fetch(rid, connection=conn).get_status() == RQStatus.QUEUED
    except NoSuchJobError:
        return True
