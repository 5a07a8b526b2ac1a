"""What pages keep between requests, in Redis through Flask-Caching: the same store in
development, tests and production (the embedded Redis by default, the deployment's Redis when
REDIS_URL is set), shared by every web process.

Everything kept is keyed by what it was computed from, so a kept value is never wrong:
- data under a data version (``services.versions``) that every write to it raises;
- markup under its inputs (``web.fragments.fragment``): the template, the values it is given,
  the brand's look and the language.
A value nobody asks for again expires. With Redis away the pages compute everything afresh
(slower, never wrong, never an error). ``DISTWEB_PAGE_CACHE=0`` keeps nothing (the benchmark's
second figure).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import RedisError

from distweb.extensions import cache

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 24 * 3600


def key_for(*parts) -> str:
    """A short key for any parts with a stable repr (ints, strings, enums, dates, tuples and
    dataclasses of them)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def cached(key: str, compute: Callable[[], T], timeout: int | None = None) -> T:
    """The value kept under ``key``, or ``compute()``'s, kept for next time."""
    try:
        value = cache.get(key)
    except RedisError as err:
        log.warning("page cache unavailable (%s): computing afresh", err)
        return compute()
    if value is not None:
        return value
    value = compute()
    try:
        cache.set(key, value, timeout=DEFAULT_TIMEOUT_S if timeout is None else timeout)
    except RedisError as err:
        log.warning("page cache unavailable (%s): not kept", err)
    return value


def init_app(app) -> None:
    enabled = app.config.get("DISTWEB_PAGE_CACHE", True)
    app.config.setdefault("CACHE_KEY_PREFIX", "distweb:cache:")
    if enabled:
        app.config.setdefault("CACHE_TYPE", "RedisCache")
        app.config.setdefault("CACHE_REDIS_URL", app.config["REDIS_URL"])
    else:
        app.config["CACHE_TYPE"] = "NullCache"
    app.config.setdefault("CACHE_DEFAULT_TIMEOUT", DEFAULT_TIMEOUT_S)
    cache.init_app(app)
