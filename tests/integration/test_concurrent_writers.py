"""Concurrent writers on the embedded default (SQLite in WAL mode) queue for the write lock
instead of failing with "database is locked"; the same tests hold on PostgreSQL.

On SQLite a transaction that read first and writes after another connection committed is
refused at once (its snapshot is stale; busy_timeout does not apply). Writing transactions
therefore begin IMMEDIATE: in posts from their start, in jobs and reading pages for the blocks
that write through ``transaction()``."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from distweb.extensions import db
from distweb.models import Brand, Click
from distweb.services.tx import transaction


def _write_click_elsewhere(app, brand_id: int, promoter_id: int, done: threading.Event) -> None:
    with app.app_context():
        with transaction():
            db.session.add(Click(brand_id=brand_id, promoter_id=promoter_id, ip_hash="other"))
        done.set()
        db.session.remove()


def _read_then_write_while_another_commits(app, brand_id: int, promoter_id: int) -> None:
    """Read, let another connection write (it waits if we hold the lock), then write."""
    other_done = threading.Event()
    assert db.session.get(Brand, brand_id) is not None  # the read that begins the transaction
    other = threading.Thread(target=_write_click_elsewhere, args=(app, brand_id, promoter_id, other_done))
    other.start()
    other_done.wait(0.5)  # without the write lock held, the other writer commits in this time
    with transaction():
        db.session.add(Click(brand_id=brand_id, promoter_id=promoter_id, ip_hash="mine"))
    other.join(15)
    assert not other.is_alive()


def test_a_job_that_read_first_still_writes_when_another_writer_committed(app, make):
    brand = make.brand()
    promoter = make.promoter()
    with app.app_context():  # as a worker job runs: no request
        _read_then_write_while_another_commits(app, brand.id, promoter.id)
        assert db.session.scalar(select(func.count(Click.id))) == 2


def test_a_reading_page_that_writes_a_click_waits_instead_of_failing(app, make):
    brand = make.brand()
    promoter = make.promoter()
    with app.test_request_context("/r/x", method="GET"):
        _read_then_write_while_another_commits(app, brand.id, promoter.id)
        assert db.session.scalar(select(func.count(Click.id))) == 2


def test_concurrent_api_writers_and_a_job_answer_no_5xx(app, make):
    """Eight web threads create promoters through the API while a job writes: every request
    succeeds (the API's 201), none is turned away with a 503."""
    from distweb.services import api_keys, jobs

    brand = make.brand()
    with app.app_context():
        _row, key = api_keys.create_key(db.session.get(Brand, brand.id), "ERP")
    headers = {"Authorization": f"Bearer {key}"}

    def create(i: int) -> int:
        client = app.test_client()
        return client.post("/api/v1/promoters", headers=headers,
                           json={"name": f"推客{i}", "phone": f"1390000{i:04d}"}).status_code

    def job_writes() -> None:
        with app.app_context():
            for _ in range(20):
                jobs.create_job("diagnostics", brand_id=brand.id)
            db.session.remove()

    with ThreadPoolExecutor(max_workers=9) as pool:
        job = pool.submit(job_writes)
        statuses = list(pool.map(create, range(80)))
        job.result()
    assert statuses == [201] * 80
    with app.app_context():
        from distweb.models import Job, Promoter

        assert db.session.scalar(select(func.count(Promoter.id))) == 80
        assert db.session.scalar(select(func.count(Job.id))) == 20
