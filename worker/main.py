"""Run RQ workers inside the app context, on queues default, settlement and pdf."""

from __future__ import annotations

import logging
import os

from flask import Flask
from rq import Worker

from distweb.extensions import db
from distweb.queues import all_queues, redis_connection
from distweb.services import jobs
from worker.jobs import warm_pdf_renderer

log = logging.getLogger("distweb.worker")

# How often each worker looks for jobs that Redis lost (seconds).
SWEEP_INTERVAL = 60


def _dispose_pool_after_fork() -> None:
    # A forked work horse must not share the parent's database sockets.
    from flask import has_app_context

    if has_app_context():
        db.engine.dispose(close=False)


def sweep() -> None:
    """Regular upkeep: push jobs Redis lost, and start the settlement runs that are due."""
    try:
        pushed = jobs.sweep_lost_jobs()
        if pushed:
            log.warning("re-queued %d lost job(s)", pushed)
        from distweb.services import settlement

        started = settlement.schedule_due_runs()
        if started:
            log.info("started %d scheduled settlement run(s)", started)
        from distweb.services import push

        delivered = push.deliver_all()
        if delivered.get("sent"):
            log.info("pushed %d notification(s) the push job had not sent", delivered["sent"])
        from distweb.services import webhooks

        applied = webhooks.sweep()
        if applied:
            log.info("applied %d webhook event(s) that were waiting", applied)
    except Exception:  # noqa: BLE001 — a failed sweep must never stop the worker
        log.exception("worker upkeep failed")
    finally:
        db.session.remove()


class DistwebWorker(Worker):
    """RQ's worker, plus a sweep of lost jobs with its regular maintenance: if Redis
    restarts and forgets queued jobs, the database rows bring them back."""

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        sweep()


def run_worker(app: Flask, burst: bool = False) -> bool:
    os.register_at_fork(after_in_child=_dispose_pool_after_fork)
    try:
        warm_pdf_renderer()
    except Exception:  # noqa: BLE001 — without it PDF jobs are slower, not wrong; other jobs unaffected
        log.exception("PDF renderer warm-up failed; each PDF job will load WeasyPrint itself")
    with app.app_context():
        sweep()
        # An idle worker blocks on Redis for worker_ttl - 15 s between maintenance rounds:
        # keep that close to the sweep interval, or the sweep runs every 7 minutes.
        worker = DistwebWorker(all_queues(), connection=redis_connection(), maintenance_interval=SWEEP_INTERVAL,
                               worker_ttl=SWEEP_INTERVAL + 15)
        return worker.work(burst=burst, with_scheduler=not burst, logging_level="INFO")
