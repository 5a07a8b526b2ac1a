"""Settings from the environment.

Every setting has a default that lets a fresh checkout run with no services: SQLite under
``instance/`` and the embedded Redis the launcher starts on a unix socket there.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def instance_path() -> Path:
    return Path(os.environ.get("DISTWEB_INSTANCE", PROJECT_ROOT / "instance")).resolve()


def embedded_redis_socket(instance: Path | None = None) -> Path:
    return (instance or instance_path()) / "redis.sock"


def default_redis_url(instance: Path | None = None) -> str:
    return f"unix://{embedded_redis_socket(instance)}?db=0"


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the environment uses."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment, or one generated once into instance/ (mode 0600)."""
    env = os.environ.get("SECRET_KEY")
    if env:
        return env
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: if two processes start at once, only one writes; the other reads it back.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load_payment_key(instance: Path) -> str:
    """The key that encrypts payment providers' secrets at rest (Fernet; several, comma
    separated, to rotate: the first encrypts, all decrypt): ``DISTWEB_PAYMENT_KEY``, or one
    generated once into instance/payment_key (mode 0600) for development."""
    env = os.environ.get("DISTWEB_PAYMENT_KEY")
    if env:
        return env.strip()
    path = instance / "payment_key"
    if path.exists():
        return path.read_text().strip()
    from cryptography.fernet import Fernet

    instance.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def from_environment() -> dict:
    instance = instance_path()
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'distweb.sqlite3'}"
    redis_url = os.environ.get("REDIS_URL") or default_redis_url(instance)
    return {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": load_secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        # No pool_pre_ping (a SELECT 1 round trip before every request): distweb.db_setup
        # checks a pooled PostgreSQL connection's socket instead; SQLite has nothing to ping.
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url_for_limits(redis_url),
        "DISTWEB_TIMEZONE": os.environ.get("DISTWEB_TIMEZONE", "Asia/Shanghai"),
        "BABEL_DEFAULT_LOCALE": os.environ.get("DISTWEB_LANGUAGE", "zh_Hans_CN").replace("-", "_"),
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("DISTWEB_TIMEZONE", "Asia/Shanghai"),
        "DISTWEB_UPLOADS": str(instance / "uploads"),
        "DISTWEB_STATEMENTS": os.environ.get("DISTWEB_STATEMENTS") or None,
        "DISTWEB_PUSH_CONTACT": os.environ.get("DISTWEB_PUSH_CONTACT", "mailto:ops@distweb.invalid"),
        # 1 MiB bodies for the API; uploads are checked again by their own limits.
        "MAX_CONTENT_LENGTH": int(os.environ.get("DISTWEB_MAX_CONTENT_LENGTH", 8 * 1024 * 1024)),
        # Served over HTTPS in production: secure cookies there, plain on localhost.
        "SESSION_COOKIE_SECURE": os.environ.get("DISTWEB_SECURE_COOKIES", "0") == "1",
        "REMEMBER_COOKIE_SECURE": os.environ.get("DISTWEB_SECURE_COOKIES", "0") == "1",
        "RQ_QUEUE_PREFIX": os.environ.get("DISTWEB_QUEUE_PREFIX", ""),
        # During a webhook burst (this many deliveries a second or more) the workers apply
        # for at most this share of their time, so that acknowledging stays fast.
        "WEBHOOK_BURST_RATE": int(os.environ.get("DISTWEB_WEBHOOK_BURST_RATE", "100")),
        "WEBHOOK_BURST_APPLY_PERCENT": int(os.environ.get("DISTWEB_WEBHOOK_BURST_APPLY_PERCENT", "25")),
        # Pages keep their data and markup in Redis (distweb.caching); 0 turns that off.
        "DISTWEB_PAGE_CACHE": os.environ.get("DISTWEB_PAGE_CACHE", "1") != "0",
        **sms_from_environment(),
        **payments_from_environment(instance),
    }


def payments_from_environment(instance: Path) -> dict:
    """Online payment (``distweb.services.online_pay``): the key for the providers' secrets,
    how long an unpaid online order stays open, the timeout of a call to a provider, and the
    public base URL the providers send notifications to (default: the request's host), and
    providers' merchant settings supplied by the environment (``services.payment_env``)."""
    from distweb.services import payment_env

    env = os.environ.get
    return {
        "PAYMENT_KEY": load_payment_key(instance),
        "PAYMENT_CLOSE_MINUTES": int(env("DISTWEB_PAYMENT_CLOSE_MINUTES", "30")),
        "PAYMENT_HTTP_TIMEOUT": float(env("DISTWEB_PAYMENT_HTTP_TIMEOUT", "10")),
        "PAYMENT_NOTIFY_BASE": env("DISTWEB_PAYMENT_NOTIFY_BASE") or None,
        **payment_env.from_environment(),
    }


def sms_from_environment() -> dict:
    """Who sends verification codes (see ``distweb.services.sms_senders``): the console by
    default; Alibaba Cloud or Tencent Cloud SMS with their keys, signature and template."""
    env = os.environ.get
    return {
        "SMS_PROVIDER": env("DISTWEB_SMS_PROVIDER", "console").strip().lower(),
        "SMS_SIGN_NAME": env("DISTWEB_SMS_SIGN_NAME"),
        "SMS_TEMPLATE": env("DISTWEB_SMS_TEMPLATE"),
        "SMS_TEMPLATE_PARAMS": env("DISTWEB_SMS_TEMPLATE_PARAMS", "code"),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": env("ALIBABA_CLOUD_ACCESS_KEY_ID"),
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": env("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        "SMS_ALIYUN_ENDPOINT": env("DISTWEB_SMS_ALIYUN_ENDPOINT"),
        "TENCENTCLOUD_SECRET_ID": env("TENCENTCLOUD_SECRET_ID"),
        "TENCENTCLOUD_SECRET_KEY": env("TENCENTCLOUD_SECRET_KEY"),
        "SMS_TENCENT_APP_ID": env("DISTWEB_SMS_TENCENT_APP_ID"),
        "SMS_TENCENT_REGION": env("DISTWEB_SMS_TENCENT_REGION"),
    }


def redis_url_for_limits(redis_url: str) -> str:
    """The `limits` library spells a unix-socket Redis ``redis+unix://``."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url


DEFAULTS = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    # A phone left open for hours must still be able to post.
    "WTF_CSRF_TIME_LIMIT": None,
    "WTF_CSRF_SSL_STRICT": True,
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
    "LANGUAGES": ["zh_Hans_CN", "en"],
    "RATELIMIT_HEADERS_ENABLED": True,
    "RATELIMIT_KEY_PREFIX": "distweb",
    "LOGIN_RATE_LIMIT": "10 per minute;50 per hour",
    # Failed sign-ins per account, from any address (the message says 15 minutes).
    "LOGIN_ACCOUNT_RATE_LIMIT": "5 per 15 minutes",
    "SEND_FILE_MAX_AGE_DEFAULT": 0,
    # Verification codes by SMS: valid 5 minutes, 5 tries, one per phone and purpose a minute.
    "SMS_CODE_TTL_SECONDS": 300,
    "SMS_CODE_MAX_ATTEMPTS": 5,
    "SMS_RESEND_SECONDS": 60,
    # Codes sent, per phone (whatever the address) and per address (whatever the phone).
    "SMS_PHONE_RATE_LIMIT": "5 per hour;10 per day",
    "SMS_IP_RATE_LIMIT": "10 per hour;30 per day",
}

# webhooks first: an inbound order event waits for no report (its jobs are short drains).
QUEUES = ("webhooks", "default", "settlement", "pdf")
