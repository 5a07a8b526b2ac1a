"""What every benchmark sets up the same way: its own instance folder, and the app on the
throwaway database and Redis that ``tests.support.services`` provides."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_instance(name: str, postgres: bool = False) -> Path:
    """A fresh temporary folder for the run; the app's instance/ lives inside it. With
    ``postgres`` the machine's PostgreSQL is the default DATABASE_URL."""
    if postgres:
        os.environ.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    tmp = Path(tempfile.mkdtemp(prefix=f"distweb-bench-{name}-"))
    os.environ["DISTWEB_INSTANCE"] = str(tmp / "instance")
    os.environ.setdefault("SECRET_KEY", "bench")
    return tmp


def bench_app(database_url: str, redis_url: str, **config):
    """The app on the throwaway services, migrated, rate limits off (a bench is one client)."""
    from flask_migrate import upgrade

    from distweb import create_app
    from distweb.config import normalise_database_url, redis_url_for_limits

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url_for_limits(redis_url),
        "RATELIMIT_ENABLED": False,
        **config,
    })
    with app.app_context():
        upgrade(directory=str(ROOT / "distweb" / "migrations"))
    return app
