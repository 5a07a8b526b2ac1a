"""Redis connection and RQ queues, shared by the web process, the CLI and the worker.

The web process only enqueues by dotted name (``worker.jobs.<kind>``); it never imports
``worker``, so it never loads WeasyPrint.
"""

from __future__ import annotations

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from distweb.config import QUEUES

# What a call to Redis raises when Redis is away or stalls. redis-py reports most of it as
# RedisError, but a connection whose handshake times out can surface as ValueError (its read
# buffer was closed under it: redis/redis-py#883, #947), seen here once in a webhook burst.
REDIS_FAILURES = (RedisError, ValueError)


def redis_connection() -> Redis:
    conn = current_app.extensions.get("distweb_redis")
    if conn is None:
        conn = Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2)
        current_app.extensions["distweb_redis"] = conn
    return conn


def queue_name(name: str) -> str:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return current_app.config.get("RQ_QUEUE_PREFIX", "") + name


def get_queue(name: str = "default") -> Queue:
    return Queue(queue_name(name), connection=redis_connection())


def all_queues() -> list[Queue]:
    return [get_queue(name) for name in QUEUES]
