"""Fixtures shared by every layer: a migrated throwaway database, a private Redis key space,
the app, and helpers to sign in the way a browser does (CSRF included)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests check what is computed, not how fast: a per-example deadline only turns a busy
# machine (a suite beside a benchmark) into a failure that says nothing about the code.
settings.register_profile("distweb", deadline=None)
settings.load_profile("distweb")

# The app must never write into the checkout's instance/ during tests.
_TMP = Path(tempfile.mkdtemp(prefix="distweb-tests-"))
os.environ["DISTWEB_INSTANCE"] = str(_TMP / "instance")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")

from tests.support.services import flush_keeping_claim, throwaway_database, throwaway_redis  # noqa: E402


@pytest.fixture(scope="session")
def service_urls():
    with throwaway_database(_TMP) as database_url, throwaway_redis(_TMP) as redis_url:
        yield {"database": database_url, "redis": redis_url}


@pytest.fixture(scope="session")
def app(service_urls):
    from flask_migrate import upgrade

    from distweb import create_app
    from distweb.config import normalise_database_url, redis_url_for_limits
    from distweb.extensions import db

    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(service_urls["database"]),
            "REDIS_URL": service_urls["redis"],
            "RATELIMIT_STORAGE_URI": redis_url_for_limits(service_urls["redis"]),
            "SERVER_NAME": "distweb.test",
        }
    )
    with app.app_context():
        upgrade(directory=str(Path(__file__).parent.parent / "distweb" / "migrations"))
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Every test that used the app leaves empty tables and an empty Redis key space."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    from distweb.extensions import db, limiter, local_cache
    from distweb.queues import redis_connection

    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        flush_keeping_claim(redis_connection())
        local_cache.clear()  # keys name rows by id, and the next test reuses the ids
        limiter.reset()
        from distweb.services import ledger, notifications

        ledger.reset_cache()
        notifications.reset_kick()
        for folder in ("materials", "posters"):
            shutil.rmtree(Path(app.config["DISTWEB_UPLOADS"]) / folder, ignore_errors=True)
        # Statements and settlement reports are named by row ids, which the next test reuses.
        shutil.rmtree(Path(app.config["INSTANCE_PATH"]) / "statements", ignore_errors=True)


@pytest.fixture
def app_without_redis(app, tmp_path):
    """The suite's app on the same database, with a Redis nobody listens on."""
    from distweb import create_app
    from distweb.config import redis_url_for_limits

    dead = f"unix://{tmp_path}/nobody-listens.sock"
    broken = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": dead,
            "RATELIMIT_STORAGE_URI": redis_url_for_limits(dead),
            "SERVER_NAME": "distweb.test",
            "PROPAGATE_EXCEPTIONS": False,
        }
    )

    @broken.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    yield broken
    from distweb.extensions import db, limiter

    with broken.app_context():
        db.session.remove()
        db.engine.dispose()
    # Flask-Limiter keeps one storage per Limiter object, so the second app took it over;
    # give it back to the suite's app (one app per process in production, never an issue).
    limiter.init_app(app)


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = CSRF_META.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


class Browser:
    """A test client that behaves like a browser: it reads the CSRF token from the page."""

    def __init__(self, client):
        self.client = client

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def token(self, url="/auth/login") -> str:
        return csrf_token_from(self.client.get(url).get_data(as_text=True))

    def post(self, url, data=None, token_from=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token(token_from or url))
        return self.client.post(url, data=data, **kw)

    def login(self, login: str, password: str):
        return self.post("/auth/login", {"login": login, "password": password})


@pytest.fixture
def browser(client):
    return Browser(client)


@pytest.fixture
def make(app):
    """Factories that write through the same services the app uses.

    Each call runs in its own app context and returns detached, fully loaded objects: an
    app context held open for the whole test would be shared by every test-client request
    (Flask reuses it), leaking ``g`` and the signed-in user between requests.
    """
    from tests.support.factories import Factories

    return Factories(app)


@pytest.fixture
def sms_outbox(app):
    """The app's SMS provider replaced by one that records each code it is asked to send."""
    from tests.support.sms import RecordingSender

    outbox = RecordingSender()
    before = app.config.get("SMS_SENDER")
    app.config["SMS_SENDER"] = outbox
    yield outbox
    app.config["SMS_SENDER"] = before
