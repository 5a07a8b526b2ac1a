"""A live distweb: gunicorn serving the app and a real RQ worker, both as child processes.

Used by the e2e fixtures (tests/e2e/conftest.py) and by the screenshot script
(tests/e2e/screenshots.py). Both processes get the same environment the README gives a
production install: DATABASE_URL, REDIS_URL, DISTWEB_INSTANCE and SECRET_KEY.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from rq.worker_registration import REDIS_WORKER_KEYS

from tests.support.services import flush_keeping_claim

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(database_url: str, redis_url: str, instance: Path, secret_key: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DISTWEB_INSTANCE": str(instance),
            "SECRET_KEY": secret_key,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_gunicorn(app_spec: str, port: int, env: dict, log_path: Path, workers: int = 1,
                   threads: int = 4) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 — handed over to the child
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", app_spec, "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--threads", str(threads), "--log-level", "warning",
             "--graceful-timeout", "5"],
            env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()


def start_worker(env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "distweb", "worker"],
            env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()


def stop(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """SIGTERM (gunicorn and RQ both shut down gracefully on it), then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_healthy(url: str, procs: dict[str, tuple[subprocess.Popen, Path]], timeout: float = START_TIMEOUT) -> None:
    """Until GET /healthz answers 200; fails at once with the log if a process exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        for name, (proc, log) in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code}: {err.read()[:200]!r}"
        except OSError as err:
            last = repr(err)
        time.sleep(0.1)
    logs = "\n".join(f"--- {name}\n{tail(log)}" for name, (_, log) in procs.items())
    raise RuntimeError(f"{url}/healthz not ready after {timeout:.0f}s ({last})\n{logs}")


def wait_worker_registered(redis_url: str, proc: subprocess.Popen, log: Path,
                           timeout: float = START_TIMEOUT) -> None:
    """Until the RQ worker has announced itself in Redis (so it is taking jobs)."""
    conn = Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with code {proc.returncode}:\n{tail(log)}")
            if conn.scard(REDIS_WORKER_KEYS):
                return
            time.sleep(0.1)
    finally:
        conn.close()
    raise RuntimeError(f"worker did not register in {timeout:.0f}s:\n{tail(log)}")


@dataclass
class LiveServer:
    url: str
    instance: Path
    web: subprocess.Popen
    worker: subprocess.Popen
    logs: dict[str, Path] = field(default_factory=dict)

    def check_alive(self) -> None:
        for name, proc in (("web", self.web), ("worker", self.worker)):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{tail(self.logs[name])}")


@contextmanager
def live_server(database_url: str, redis_url: str, instance: Path, secret_key: str,
                app_spec: str = "wsgi:app", extra_env: dict[str, str] | None = None):
    """Gunicorn (1 worker, 4 threads) and ``python -m distweb worker`` on a migrated database
    (``extra_env``: more environment for both)."""
    instance.mkdir(parents=True, exist_ok=True)
    env = service_env(database_url, redis_url, instance, secret_key)
    env.update(extra_env or {})
    port = free_port()
    logs = {"web": instance / "gunicorn.log", "worker": instance / "worker.log"}
    web = worker = None
    try:
        web = start_gunicorn(app_spec, port, env, logs["web"])
        worker = start_worker(env, logs["worker"])
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, {"web": (web, logs["web"]), "worker": (worker, logs["worker"])})
        wait_worker_registered(redis_url, worker, logs["worker"])
        yield LiveServer(url=url, instance=instance, web=web, worker=worker, logs=logs)
    finally:
        stop(web)
        stop(worker)


# --- the data ------------------------------------------------------------------------------


@dataclass
class Demo:
    brand_name: str
    promoter_login: str
    promoter_name: str
    manager_login: str
    password: str


def control_app(service_urls: dict, instance: Path):
    """An app object of our own (not the ``app`` fixture) for migrating, loading and wiping."""
    from distweb import create_app
    from distweb.config import normalise_database_url, redis_url_for_limits

    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(instance),
            "DISTWEB_UPLOADS": str(instance / "uploads"),
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(service_urls["database"]),
            "REDIS_URL": service_urls["redis"],
            "RATELIMIT_STORAGE_URI": redis_url_for_limits(service_urls["redis"]),
        }
    )


def migrate_and_load_demo(control) -> tuple[Demo, bool]:
    """Migrate (if nobody has yet) and load the demo. Returns the demo and whether the schema
    was created here, so that ``wipe`` can leave the database as it was found."""
    from flask_migrate import upgrade
    from sqlalchemy import inspect, select

    from distweb.extensions import db
    from distweb.models import Brand, User
    from distweb.services import demo

    with control.app_context():
        created_schema = not inspect(db.engine).has_table("alembic_version")
        if created_schema:
            upgrade(directory=str(PROJECT_ROOT / "distweb" / "migrations"))
            # Start again from fresh connections: a pooled one that went through the
            # migration must not be trusted with the connection-level SQLite PRAGMAs.
            db.session.remove()
            db.engine.dispose()
        demo.load_demo()
        brand = db.session.scalars(select(Brand).limit(1)).one()
        promoter = db.session.scalars(select(User).where(User.phone == demo.FIRST_PROMOTER_PHONE)).one()
        result = Demo(
            brand_name=brand.name,
            promoter_login=demo.FIRST_PROMOTER_PHONE,
            promoter_name=promoter.name,
            manager_login=demo.MANAGER_EMAIL,
            password=demo.DEMO_PASSWORD,
        )
        db.session.remove()
    return result, created_schema


def wipe(control, drop_schema: bool) -> None:
    """Leave the database and Redis as they were found: with ``drop_schema`` (we migrated a
    blank database) no schema at all, so whoever comes next migrates it as if we had never
    run; otherwise what ``_clean_state`` leaves, empty tables. Redis: an empty key space."""
    from sqlalchemy import text

    from distweb.extensions import db
    from distweb.queues import redis_connection
    from distweb.services import ledger

    # The demo was loaded in this process: its account ids must not outlive its rows.
    ledger.reset_cache()
    with control.app_context():
        db.session.remove()
        flush_keeping_claim(redis_connection())
        redis_connection().close()
        engine = db.engine
        if not drop_schema:
            with engine.begin() as conn:
                for table in reversed(db.metadata.sorted_tables):
                    conn.execute(table.delete())
        elif engine.dialect.name == "sqlite":
            path = Path(engine.url.database)
            engine.dispose()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
