"""What pages keep between requests, in Redis through Flask-Caching: the same store in
development, tests and production (the embedded Redis by default, the deployment's Redis when
REDIS_URL is set), shared by every web process.

Everything kept is keyed by what it was computed from, so a kept value is never wrong:
- data under a data version (``services.versions``) that every write to it raises;
- markup under its inputs (``web.fragments.fragment``): the template, the values it is given,
  the brand's look and the language.
A value nobody asks for again expires. With Redis away the pages compute everything afresh
(slower, never wrong, never an error).

Two kinds of values: what one user's pages show (``per_user=True``: a promoter's figures, a
session's page, kept under data versions) and what is shared by every user of a brand
(fragments keyed by the brand's look and the language, the brand's picks).
``DISTWEB_PAGE_CACHE=0`` keeps no per-user value (the benchmark's second figure).

Because a key never names two different values, each process also keeps the values it used
last in memory (``local_cache``, Flask-Caching's SimpleCache, bounded), in front of Redis: a
page opened again in the same process then costs no round trip to Redis.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from flask import current_app

from distweb.extensions import cache, local_cache
from distweb.queues import REDIS_FAILURES

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 24 * 3600
LOCAL_ENTRIES = 5000  # per process: SimpleCache thins itself out beyond this


def key_for(*parts) -> str:
    """A short key for any parts with a stable repr (ints, strings, enums, dates, tuples and
    dataclasses of them)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def cached(key: str, compute: Callable[[], T], timeout: int | None = None, per_user: bool = False) -> T:
    """The value kept under ``key``, or ``compute()``'s, kept for next time. ``key`` must name
    one value for ever (see above); ``timeout`` only bounds how long it is kept."""
    if per_user and not current_app.config["DISTWEB_PAGE_CACHE"]:
        return compute()
    value = local_cache.get(key)
    if value is not None:
        return value
    timeout = DEFAULT_TIMEOUT_S if timeout is None else timeout
    try:
        value = cache.get(key)
    except REDIS_FAILURES as err:
        log.warning("page cache unavailable (%s): computing afresh", err)
        value = None
    if value is None:
        value = compute()
        try:
            cache.set(key, value, timeout=timeout)
        except REDIS_FAILURES as err:
            log.warning("page cache unavailable (%s): not kept", err)
    local_cache.set(key, value, timeout=timeout)
    return value


BUILD_SOURCES = ("distweb", "templates", "static", "worker")
BUILD_SUFFIXES = frozenset({".py", ".html", ".js", ".css", ".svg", ".png", ".mo", ".json"})


def build_id(root: Path) -> str:
    """A digest of every source file that decides what pages compute and render."""
    digest = hashlib.blake2b(digest_size=8)
    for top in BUILD_SOURCES:
        for path in sorted((root / top).rglob("*")):
            if path.suffix in BUILD_SUFFIXES and "__pycache__" not in path.parts and path.is_file():
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def init_app(app) -> None:
    from distweb.config import PROJECT_ROOT

    app.config.setdefault("DISTWEB_PAGE_CACHE", True)
    app.config["DISTWEB_BUILD"] = build_id(PROJECT_ROOT)
    app.config.setdefault("CACHE_KEY_PREFIX", f"distweb:cache:{app.config['DISTWEB_BUILD']}:")
    app.config.setdefault("CACHE_TYPE", "RedisCache")
    app.config.setdefault("CACHE_REDIS_URL", app.config["REDIS_URL"])
    app.config.setdefault("CACHE_DEFAULT_TIMEOUT", DEFAULT_TIMEOUT_S)
    cache.init_app(app)
    local_cache.init_app(app, config={
        "CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": LOCAL_ENTRIES, "CACHE_DEFAULT_TIMEOUT": DEFAULT_TIMEOUT_S,
        "CACHE_KEY_PREFIX": app.config["CACHE_KEY_PREFIX"]})
