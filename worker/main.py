"""Run RQ workers inside the app context, on queues default, settlement and pdf."""

from __future__ import annotations

import logging
import os

from flask import Flask
from rq import Worker

from distweb.extensions import db
from distweb.queues import all_queues, redis_connection
from distweb.services import jobs

log = logging.getLogger("distweb.worker")


def _dispose_pool_after_fork() -> None:
    # A forked work horse must not share the parent's database sockets.
    from flask import has_app_context

    if has_app_context():
        db.engine.dispose(close=False)


def run_worker(app: Flask, burst: bool = False) -> bool:
    os.register_at_fork(after_in_child=_dispose_pool_after_fork)
    with app.app_context():
        # Jobs whose Redis entry was lost (Redis restarted, a worker was SIGKILLed) go back
        # on their queue before we start taking work.
        pushed = jobs.sweep_lost_jobs()
        if pushed:
            log.warning("re-queued %d lost job(s)", pushed)
        db.session.remove()
        worker = Worker(all_queues(), connection=redis_connection())
        return worker.work(burst=burst, with_scheduler=not burst, logging_level="INFO")
