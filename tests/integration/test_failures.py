"""When Redis or the database is down, or the code fails, users get a clear page, not a trace."""

from distweb import create_app
from tests.conftest import Browser
from tests.support.factories import PASSWORD


def test_login_still_works_when_redis_is_down(app_without_redis, make):
    make.promoter(phone="13500000001")
    browser = Browser(app_without_redis.test_client())
    response = browser.login("13500000001", PASSWORD)
    assert response.status_code == 302


def test_a_job_started_while_redis_is_down_waits_as_queued(app_without_redis, make):
    from distweb.extensions import db
    from distweb.models import Job
    from distweb.models.job import JobStatus

    make.brand()
    browser = Browser(app_without_redis.test_client())
    browser.login("boss@example.com", PASSWORD)
    response = browser.post("/manage/jobs", token_from="/manage/jobs")
    assert response.status_code == 302
    with app_without_redis.app_context():
        job = db.session.query(Job).one()
        assert job.status == JobStatus.QUEUED  # recorded; the worker's sweep will push it


def test_healthz_says_redis_is_down(app_without_redis, make):
    response = app_without_redis.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert (body["database"], body["redis"], body["worker"]["status"]) == ("ok", "down", "unknown")


def test_an_unexpected_error_is_a_friendly_500_without_a_trace(app_without_redis, make):
    make.brand()
    response = app_without_redis.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "服务器出错" in body and "secret internals" not in body and "Traceback" not in body


def test_database_down_is_a_503_page(app, tmp_path):
    from distweb.extensions import limiter

    broken = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1",
            "SERVER_NAME": "distweb.test",
        }
    )
    try:
        response = broken.test_client().get("/auth/login")
        assert response.status_code == 503
        assert "服务暂不可用" in response.get_data(as_text=True)
    finally:
        limiter.init_app(app)
