import os
import stat

from distweb.config import load_secret_key, normalise_database_url, redis_url_for_limits


def test_postgres_urls_use_psycopg3():
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_unix_socket_redis_url_for_the_rate_limiter():
    assert redis_url_for_limits("unix:///tmp/r.sock?db=0") == "redis+unix:///tmp/r.sock?db=0"
    assert redis_url_for_limits("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_secret_key_is_generated_once_with_private_permissions(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_secret_key(tmp_path)
    second = load_secret_key(tmp_path)
    assert first == second and len(first) >= 40
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600


def test_secret_key_from_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert load_secret_key(tmp_path) == "from-env"
    assert not (tmp_path / "secret_key").exists()
