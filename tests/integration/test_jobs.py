"""Background jobs: a row per job, carried out by a real RQ worker, safe to run twice,
and never lost when Redis forgets them."""

from datetime import timedelta

from rq import SimpleWorker

from distweb.extensions import db
from distweb.models import Job
from distweb.models.job import JobStatus
from distweb.queues import all_queues, redis_connection
from distweb.services import jobs
from tests.support.factories import PASSWORD
from tests.support.services import flush_keeping_claim


def work_off_queues():
    SimpleWorker(all_queues(), connection=redis_connection()).work(burst=True)


def test_diagnostics_job_runs_in_a_worker_and_records_its_result(app_ctx, make):
    brand = make.brand()
    job = jobs.create_job("diagnostics", brand_id=brand.id)
    assert job.status == JobStatus.QUEUED
    work_off_queues()
    db.session.refresh(job)
    assert job.status == JobStatus.SUCCEEDED
    assert job.progress == 100
    assert job.result["database"] == db.engine.dialect.name
    assert job.started_at and job.finished_at and job.attempts == 1


def test_running_a_finished_job_again_does_nothing(app_ctx, make):
    from worker.jobs import run_diagnostics

    job = jobs.create_job("diagnostics", brand_id=make.brand().id)
    run_diagnostics(job.id)
    run_diagnostics(job.id)
    db.session.refresh(job)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1


def test_jobs_forgotten_by_redis_are_pushed_again_by_the_sweep(app_ctx, make):
    job = jobs.create_job("diagnostics", brand_id=make.brand().id)
    flush_keeping_claim(redis_connection())  # Redis restarted without persistence
    work_off_queues()
    db.session.refresh(job)
    assert job.status == JobStatus.QUEUED  # nothing ran, nothing lost
    assert jobs.sweep_lost_jobs() == 0  # too young: its first push may still be under way
    assert jobs.sweep_lost_jobs(min_age=timedelta(0)) == 1
    work_off_queues()
    db.session.refresh(job)
    assert job.status == JobStatus.SUCCEEDED


def test_a_failing_job_records_the_error(app_ctx, make, monkeypatch):
    import worker.jobs as worker_jobs

    def broken(*_):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(worker_jobs, "redis_connection", broken)
    job = jobs.create_job("diagnostics", brand_id=make.brand().id)
    try:
        worker_jobs.run_diagnostics(job.id)
    except RuntimeError:
        pass
    db.session.refresh(job)
    assert job.status == JobStatus.FAILED
    assert "disk on fire" in job.error


def test_manager_starts_a_job_and_the_widget_polls_until_done(app, browser, make):
    make.brand()
    browser.login("boss@example.com", PASSWORD)
    response = browser.post("/manage/jobs", token_from="/manage/jobs")
    assert response.status_code == 302
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "排队中" in page and 'hx-trigger="load delay:1s"' in page
    with app.app_context():
        work_off_queues()
        job_id = db.session.query(Job.id).scalar()
    widget = browser.get(f"/manage/jobs/{job_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in widget
    assert "已完成" in widget and "hx-trigger" not in widget  # stops polling when done


def test_a_job_of_another_brand_is_not_found(app, browser, make):
    from distweb.models import Brand

    make.brand()
    with app.app_context():
        other = Brand(name="别家", short_name="别家")
        db.session.add(other)
        db.session.commit()
        foreign = Job(kind="diagnostics", brand_id=other.id)
        db.session.add(foreign)
        db.session.commit()
        foreign_id = foreign.id
    browser.login("boss@example.com", PASSWORD)
    assert browser.get(f"/manage/jobs/{foreign_id}").status_code == 404


def test_a_job_cut_off_from_the_database_is_queued_and_pushed_again_at_once(app_ctx, make, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import worker.jobs as worker_jobs

    real = worker_jobs.redis_connection
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, Exception("terminating connection due to administrator command"))
        return real()

    monkeypatch.setattr(worker_jobs, "redis_connection", flaky)
    job = jobs.create_job("diagnostics", brand_id=make.brand().id)
    work_off_queues()
    db.session.refresh(job)
    assert job.status == JobStatus.QUEUED and "administrator command" in job.error  # not failed: tried again
    # RQ recorded it failed: the sweep pushes it at once, young as the row is.
    assert jobs.sweep_lost_jobs() == 1
    work_off_queues()
    db.session.refresh(job)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2


def test_a_job_that_keeps_failing_for_a_transient_reason_fails_in_the_end(app_ctx, make, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import worker.jobs as worker_jobs

    def locked():
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(worker_jobs, "redis_connection", locked)
    job = jobs.create_job("diagnostics", brand_id=make.brand().id)
    for _ in range(jobs.MAX_ATTEMPTS):
        jobs.sweep_lost_jobs()
        work_off_queues()
    db.session.refresh(job)
    assert job.status == JobStatus.FAILED and job.attempts == jobs.MAX_ATTEMPTS
    assert jobs.sweep_lost_jobs() == 0


def test_one_sweep_at_a_time(app_ctx, make):
    from rq.job import Job as RQJob

    job = jobs.create_job("diagnostics", brand_id=make.brand().id)
    RQJob.fetch(jobs.rq_job_id(job.id), connection=redis_connection()).delete()  # Redis lost it
    lock = redis_connection().lock(jobs.SWEEP_LOCK, timeout=10)
    assert lock.acquire(blocking=False)
    try:
        assert jobs.sweep_lost_jobs(min_age=timedelta(0)) == 0  # another worker is sweeping
    finally:
        lock.release()
    assert jobs.sweep_lost_jobs(min_age=timedelta(0)) == 1


def test_a_statement_rendered_by_an_attempt_killed_before_its_job_row_said_so_is_not_told_twice(app_ctx, make):
    from distweb.models import Notification, Promoter, Statement
    from distweb.models.base import utcnow
    from distweb.services import statements
    from worker.jobs import render_statement

    seller = make.promoter(name="李小明", phone="13300001111")
    statement = statements.request(db.session.get(Promoter, seller.id), utcnow().strftime("%Y-%m"))
    job_id = statement.job_id
    work_off_queues()
    job = db.session.get(Job, job_id)
    assert job.status == JobStatus.SUCCEEDED
    with db.session.begin_nested():
        job.status = JobStatus.RUNNING  # the worker died between the two commits
    db.session.commit()
    render_statement(job_id)
    db.session.expire_all()
    assert db.session.get(Job, job_id).status == JobStatus.SUCCEEDED
    assert db.session.get(Statement, statement.id).status.value == "succeeded"
    assert db.session.query(Notification).filter_by(kind="statement_ready").count() == 1


def test_a_statement_whose_render_failed_for_good_can_be_asked_for_again(app_ctx, make):
    from distweb.models import Promoter
    from distweb.models.payouts import RunStatus
    from distweb.services import statements

    seller = db.session.get(Promoter, make.promoter(name="李小明", phone="13300001111").id)
    period = "2026-01"
    statement = statements.request(seller, period)
    assert statements.request(seller, period).job_id == statement.job_id  # on its way: the same job
    with db.session.begin_nested():
        statement.status = RunStatus.RUNNING  # its worker started it ...
        db.session.get(Job, statement.job_id).status = JobStatus.FAILED  # ... and it failed for good
    db.session.commit()
    failed_job = statement.job_id
    again = statements.request(seller, period)
    assert again.id == statement.id and again.status == RunStatus.QUEUED and again.job_id != failed_job
    work_off_queues()
    db.session.refresh(again)
    assert again.status == RunStatus.SUCCEEDED


def test_the_quick_sweep_looks_only_at_started_jobs(app_ctx, make):
    from rq.job import Job as RQJob

    brand = make.brand()
    waiting = jobs.create_job("diagnostics", brand_id=brand.id)
    started = jobs.create_job("diagnostics", brand_id=brand.id)
    with db.session.begin_nested():
        started.status, started.attempts = JobStatus.RUNNING, 1  # its worker was killed ...
    db.session.commit()
    for job in (waiting, started):
        RQJob.fetch(jobs.rq_job_id(job.id), connection=redis_connection()).delete()  # ... and Redis lost both
    assert jobs.sweep_lost_jobs(min_age=timedelta(0), quick=True) == 1
    db.session.refresh(started)
    assert started.status == JobStatus.QUEUED
    assert jobs.sweep_lost_jobs(min_age=timedelta(0)) == 1  # the full sweep finds the other


def test_a_job_a_killed_worker_took_before_starting_it_is_pushed_again(app_ctx, make):
    """RQ says queued but no list holds it (taken, then the worker died before its horse
    marked it started, and RQ's clean-up dropped the entry of a job that had not started)."""
    from distweb.models.base import utcnow
    from distweb.queues import get_queue

    brand = make.brand()
    taken, waiting, moving = (jobs.create_job("diagnostics", brand_id=brand.id) for _ in range(3))
    with db.session.begin_nested():
        for job in (taken, waiting, moving):
            job.created_at = utcnow() - timedelta(minutes=2)
    db.session.commit()
    queue, conn = get_queue("default"), redis_connection()
    conn.lrem(queue.key, 1, jobs.rq_job_id(taken.id))  # gone from every list, still "queued"
    conn.lrem(queue.key, 1, jobs.rq_job_id(moving.id))
    conn.rpush(queue.intermediate_queue_key, jobs.rq_job_id(moving.id))  # a live worker is taking it
    assert jobs.sweep_lost_jobs() == 1
    assert conn.lpos(queue.key, jobs.rq_job_id(taken.id)) is not None
    assert jobs.sweep_lost_jobs() == 0  # pushed once, not again


def test_a_worker_cleaning_the_registries_holds_the_lock_briefly(app_ctx, monkeypatch):
    """RQ's own lock lasts 899 s: a worker killed while cleaning stopped the clean-up of
    abandoned jobs for a quarter of an hour."""
    import worker.main as worker_main

    seen = []

    def record(queue, handlers):
        seen.append(redis_connection().ttl(queue.registry_cleaning_key))

    monkeypatch.setattr(worker_main, "clean_registries", record)
    worker = worker_main.DistwebWorker(all_queues(), connection=redis_connection())
    worker.clean_registries()
    assert len(seen) == len(all_queues()) and all(0 < ttl <= worker_main.MAINTENANCE_LOCK for ttl in seen)
    assert not redis_connection().exists(all_queues()[0].registry_cleaning_key)  # released after


def test_an_upkeep_step_that_fails_does_not_keep_the_later_steps_from_running(app_ctx, monkeypatch, caplog):
    import worker.main as worker_main
    from distweb.services import daily_report, sms, webhooks

    def broken():
        raise RuntimeError("the database went away")

    ran = []
    monkeypatch.setattr(webhooks, "sweep", broken)
    monkeypatch.setattr(sms, "purge_old", lambda: ran.append("sms") or 3)
    monkeypatch.setattr(daily_report, "schedule_due", lambda: ran.append("daily_report") or 0)
    with caplog.at_level("INFO", logger="distweb.worker"):
        worker_main.sweep()
    assert ran == ["sms", "daily_report"]  # the steps after the broken one ran, in their order
    assert "worker upkeep step webhooks.sweep failed" in caplog.text
    assert "deleted 3 SMS code(s) older than a day" in caplog.text


def test_the_job_list_names_every_kind_in_the_managers_language(app, browser, make):
    brand = make.brand()
    with app.app_context():
        for kind in jobs.JOB_KINDS:
            db.session.add(Job(kind=kind, brand_id=brand.id))
        db.session.commit()
    browser.login("boss@example.com", PASSWORD)
    page = browser.get("/manage/jobs").get_data(as_text=True)
    cells = page[page.find("<tbody"):page.find("</tbody>")]
    for shown in ("系统自检", "等级评定", "结算", "对账单", "品牌日报"):
        assert f"<td>{shown}</td>" in cells
    for raw in jobs.JOB_KINDS:
        assert f"<td>{raw}</td>" not in cells
