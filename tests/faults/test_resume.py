"""A worker killed mid-job (parent and work horse, SIGKILL): another worker carries the job on
within 30 seconds, and it succeeds once."""

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from bench.faults import descendants, sigkill
from distweb.extensions import db
from distweb.models import Job
from distweb.models.job import JobStatus
from distweb.services import jobs

ROOT = Path(__file__).resolve().parent.parent.parent
RESUME_TARGET = 30.0


def start_worker(app, service_urls, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": service_urls["database"], "REDIS_URL": service_urls["redis"],
           "DISTWEB_INSTANCE": app.config["INSTANCE_PATH"], "DISTWEB_QUEUE_PREFIX": app.config.get("RQ_QUEUE_PREFIX", "")}
    with log.open("ab") as out:  # the worker has its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "distweb", "worker"], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def job_row(app, job_id):
    with app.app_context():
        return db.session.execute(select(Job.status, Job.attempts).where(Job.id == job_id)).one()


def stop(proc: subprocess.Popen) -> None:
    for child in descendants(proc.pid):
        sigkill(child)
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_a_killed_workers_job_resumes_within_30_seconds(app, make, service_urls, tmp_path):
    brand = make.brand()
    log = tmp_path / "worker.log"
    first = start_worker(app, service_urls, log)
    second = None
    try:
        with app.app_context():
            job_id = jobs.create_job("diagnostics", brand_id=brand.id).id  # about a second of work
        deadline = time.monotonic() + 60
        while job_row(app, job_id)[0] != JobStatus.RUNNING:
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.02)
        horses = descendants(first.pid)
        assert horses  # the work horse (and RQ's scheduler) under the worker
        for pid in horses:
            sigkill(pid)
        sigkill(first.pid)
        killed_at = time.monotonic()
        first.wait()
        status, attempts = job_row(app, job_id)
        assert (status, attempts) == (JobStatus.RUNNING, 1)  # cut off mid-job
        second = start_worker(app, service_urls, log)
        while job_row(app, job_id)[1] < 2:
            assert time.monotonic() - killed_at < RESUME_TARGET, log.read_text()[-3000:]
            time.sleep(0.1)
        resumed = time.monotonic() - killed_at
        while job_row(app, job_id)[0] != JobStatus.SUCCEEDED:
            assert time.monotonic() - killed_at < RESUME_TARGET + 30, log.read_text()[-3000:]
            time.sleep(0.1)
        print(f"resumed {resumed:.1f} s after the kill")
        assert job_row(app, job_id) == (JobStatus.SUCCEEDED, 2)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                stop(proc)
