"""Run RQ workers inside the app context, on queues webhooks, default, settlement and pdf."""

from __future__ import annotations

import importlib
import logging
import os
import time

from flask import Flask
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from rq import Queue, Worker, worker_registration
from rq.registry import clean_registries
from rq.utils import now as rq_now
from rq.worker import WorkerStatus

from distweb.extensions import db
from distweb.queues import all_queues
from distweb.services import jobs
from worker.jobs import warm_pdf_renderer

log = logging.getLogger("distweb.worker")

# How often each worker runs its full upkeep: scheduled settlement runs, unsent pushes (seconds).
SWEEP_INTERVAL = 60
# How often an idle worker looks for abandoned and lost jobs: RQ's registry clean-up (which
# fails a job whose worker stopped sending heartbeats) and the database rows' sweep, which
# pushes such a job again (seconds).
RESUME_INTERVAL = 3
# While a job runs, its worker sends a heartbeat every HEARTBEAT_INTERVAL seconds; a job
# whose worker has been silent for HEARTBEAT_INTERVAL + HEARTBEAT_GRACE seconds was
# abandoned (the worker was killed). RQ's own grace is 60 s, which with its 30 s interval
# and the once-a-minute clean-up left a killed worker's job waiting about two minutes.
HEARTBEAT_INTERVAL = 3
HEARTBEAT_GRACE = 7
# How long one worker's claim to clean a queue's registries lasts if it dies cleaning.
MAINTENANCE_LOCK = 30
# The job run in the worker's own process (DistwebWorker.execute_job).
WEBHOOK_DRAIN = "worker.jobs.drain_webhooks"
# Tries of a Redis command that found no server before the worker gives up (worker_redis).
WORKER_REDIS_RETRIES = 10


def _dispose_pool_after_fork() -> None:
    # A forked work horse must not share the parent's database sockets.
    from flask import has_app_context

    if has_app_context():
        db.engine.dispose(close=False)


def sweep_jobs(quick: bool = False) -> None:
    """Push again the jobs Redis lost or a killed worker abandoned; fold the dashboard's
    waiting deltas into its sums (services/rollups.py: every RESUME_INTERVAL seconds while
    idle; the dashboard reads unfolded deltas too, so this keeps it fast, not fresh)."""
    try:
        pushed = jobs.sweep_lost_jobs(quick=quick)
        if pushed:
            log.warning("re-queued %d lost job(s)", pushed)
    except Exception:  # noqa: BLE001 — a failed sweep must never stop the worker
        log.exception("worker upkeep failed")
    finally:
        db.session.remove()
    try:
        from distweb.services import rollups

        rollups.fold()
    except Exception:  # noqa: BLE001 — a failed fold leaves the deltas for the next one
        log.exception("folding the dashboard's deltas failed")
    finally:
        db.session.remove()


def kick_webhooks() -> None:
    """Enqueue the drains of the webhook lanes whose events wait longer than they should (a
    drain lost with a killed worker or a Redis restart, a failed event due again)."""
    try:
        from distweb.services import webhooks

        kicked = webhooks.kick_due()
        if kicked:
            log.info("asked again for %d webhook lane drain(s)", kicked)
    except Exception:  # noqa: BLE001 — a failed sweep must never stop the worker
        log.exception("worker upkeep failed")
    finally:
        db.session.remove()


# The regular upkeep, step by step: (module in distweb.services, its function, what to log of
# a non-zero count). Each step runs on its own, so one that fails never keeps the others from
# running; whatever it left is found again by the next sweep.
UPKEEP = (
    ("settlement", "schedule_due_runs", "started %d scheduled settlement run(s)"),
    ("push", "deliver_all", "pushed %d notification(s) the push job had not sent"),
    ("webhooks", "sweep", "applied %d webhook event(s) that were waiting"),
    ("sms", "purge_old", "deleted %d SMS code(s) older than a day"),
    ("online_pay", "close_expired", "closed %d unpaid online order(s) past their time"),
    ("online_pay", "retry_refunds", "settled %d refund(s) the providers had not confirmed"),
    ("provider_payouts", "retry_pending", "settled %d payout(s) the providers had not confirmed"),
    ("profit_sharing", "run_due", "sent %d profit-sharing split(s)"),
    ("reconciliation", "schedule_due", "reconciled %d provider bill(s)"),
    ("daily_report", "schedule_due", "started %d daily brand report(s)"),
)


def sweep() -> None:
    """Regular upkeep: push jobs Redis lost, then each step of UPKEEP (scheduled settlement
    runs, unsent pushes, waiting webhook events, old SMS codes, unpaid online orders past
    their time, unconfirmed refunds and payouts, due splits, reconciliations and daily
    reports)."""
    sweep_jobs()
    for module, function, done in UPKEEP:
        run_step(module, function, done)


def run_step(module: str, function: str, done: str) -> int:
    """Run one upkeep step; returns its count (0 when it failed: the failure is logged)."""
    try:
        count = getattr(importlib.import_module(f"distweb.services.{module}"), function)()
        # push.deliver_all reports a dict of counts; the others a number.
        count = count.get("sent", 0) if isinstance(count, dict) else count
        if count:
            log.info(done, count)
        return count or 0
    except Exception:  # noqa: BLE001 — a failed step must never stop the worker, nor the other steps
        log.exception("worker upkeep step %s.%s failed", module, function)
        return 0
    finally:
        db.session.remove()


# The worker's exception handlers (none besides RQ's default), also given to the registry
# clean-up below, as RQ's own clean-up gives them.
EXCEPTION_HANDLERS: list = []


class DistwebWorker(Worker):
    """RQ's worker, plus a sweep of lost jobs with its regular maintenance: if Redis
    restarts and forgets queued jobs, the database rows bring them back.

    Maintenance (RQ's registry clean-up and the job sweep) runs every RESUME_INTERVAL
    seconds while the worker is idle, the rest of the upkeep every SWEEP_INTERVAL; a running
    job's heartbeat lapses HEARTBEAT_GRACE seconds after its worker stops sending them. So a
    job whose worker was killed (parent and work horse) is failed by RQ's clean-up and pushed
    again by the sweep within about HEARTBEAT_INTERVAL + HEARTBEAT_GRACE + RESUME_INTERVAL
    seconds, and picked up by the next idle worker (jobs are safe to run twice)."""

    _last_full_sweep = 0.0

    def clean_registries(self):
        """RQ's clean-up of each queue's registries, under a lock that lasts MAINTENANCE_LOCK
        seconds instead of RQ's 899: a worker killed while it held the lock (cleaning every
        few seconds, it often does) stopped every worker from failing that queue's abandoned
        jobs for a quarter of an hour."""
        for queue in self.queues:
            if self.connection.set(queue.registry_cleaning_key, 1, nx=True, ex=MAINTENANCE_LOCK):
                try:
                    clean_registries(queue, EXCEPTION_HANDLERS)
                    worker_registration.clean_worker_registry(queue)
                    queue.intermediate_queue.cleanup(self, queue)
                finally:
                    queue.release_maintenance_lock()
        self.last_cleaned_at = rq_now()

    def execute_job(self, job, queue):
        """Webhook drains run in the worker's own process, as RQ's SimpleWorker runs every
        job: a drain is short, frequent and safe to kill anywhere (each event commits with
        its claim), and a fork per drain (of a process holding WeasyPrint, with a new
        database connection each) cost more than most drains' work. Every other job gets its
        work horse as before."""
        if job.func_name != WEBHOOK_DRAIN:
            return super().execute_job(job, queue)
        execution = self.prepare_execution(job)
        self.perform_job(job, queue, execution)
        self.set_state(WorkerStatus.IDLE)
        return None

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        ttl = super().get_heartbeat_ttl(job, working_time)
        return max(1, ttl - 60 + HEARTBEAT_GRACE)  # RQ adds 60 s of grace; we add ours

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        now = time.monotonic()
        if now - self._last_full_sweep >= SWEEP_INTERVAL:
            self._last_full_sweep = now
            sweep()
        else:
            sweep_jobs(quick=True)
            kick_webhooks()


class _QuietMaintenance(logging.Filter):
    """RQ logs its registry clean-up at INFO, one line per queue; every RESUME_INTERVAL
    seconds that would be most of the worker's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and "cleaning" in record.msg and "registries" in record.msg)


def worker_redis(app: Flask) -> Redis:
    """The worker's own Redis connection, which rides out a Redis restart: RQ's worker quits
    on any Redis error in its loop (a job ending while Redis restarted stopped the worker,
    and the launcher with it), so connection errors are retried for about 15 seconds
    (0.2 s, doubling, at most 2 s apart). The web process keeps failing fast."""
    return Redis.from_url(app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2,
                          retry=Retry(ExponentialBackoff(cap=2, base=0.2), WORKER_REDIS_RETRIES),
                          retry_on_error=[RedisConnectionError, RedisTimeoutError])


def run_worker(app: Flask, burst: bool = False) -> bool:
    logging.getLogger("rq.worker").addFilter(_QuietMaintenance())
    os.register_at_fork(after_in_child=_dispose_pool_after_fork)
    try:
        warm_pdf_renderer()
    except Exception:  # noqa: BLE001 — without it PDF jobs are slower, not wrong; other jobs unaffected
        log.exception("PDF renderer warm-up failed; each PDF job will load WeasyPrint itself")
    with app.app_context():
        sweep()
        # An idle worker blocks on Redis for worker_ttl - 15 s between maintenance rounds:
        # keep that at the resume interval, or abandoned jobs wait for minutes.
        conn = worker_redis(app)
        queues = [Queue(queue.name, connection=conn) for queue in all_queues()]
        worker = DistwebWorker(queues, connection=conn, exception_handlers=EXCEPTION_HANDLERS,
                               maintenance_interval=RESUME_INTERVAL,
                               worker_ttl=RESUME_INTERVAL + 15, job_monitoring_interval=HEARTBEAT_INTERVAL)
        return worker.work(burst=burst, with_scheduler=not burst, logging_level="INFO")
