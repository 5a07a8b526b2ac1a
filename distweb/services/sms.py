"""Verification codes by SMS: sign-up, 忘记密码 (password reset) and a shop buyer's phone.

- A code is 6 random digits, valid ``SMS_CODE_TTL_SECONDS`` (5 minutes), for
  ``SMS_CODE_MAX_ATTEMPTS`` tries (5), once. Only the newest code of a phone and purpose
  counts: asking again replaces the last one.
- Nothing stored reads back into a code or a phone: the phone is a keyed hash (HMAC with the
  app's secret key), the code an HMAC over the row's own salt, purpose and phone.
- One code per phone and purpose per ``SMS_RESEND_SECONDS`` (60 s) here; how many codes a
  phone or an address may have an hour and a day is the web layer's (Flask-Limiter).
- Sent inline, not through a job: the page must say at once whether the code went out (or
  show it, with the console sender), and a job would have to carry the plain code through
  Redis. The row is written before the provider is asked, so a code that arrives is valid;
  a provider's refusal marks it failed (never valid) and the page says so.
- Checking a code (``check_code``) counts the attempt first, in its own committed
  transaction, and only then compares; using it (``consume``) is one conditional UPDATE in
  the caller's transaction, so the code and what it allowed (the account, the new password,
  the order) are written together or not at all, and a code is never used twice.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from distweb.extensions import db
from distweb.models import SmsCode, User
from distweb.models.base import utcnow
from distweb.models.sms import SmsCodeStatus, SmsPurpose  # noqa: F401 — SmsPurpose for callers
from distweb.services.accounts import PHONE_RE
from distweb.services.errors import Conflict, ServiceError
from distweb.services.sms_senders import SmsSendError, mask_phone, sender_from_config
from distweb.services.tx import transaction

log = logging.getLogger(__name__)

CODE_DIGITS = 6


def _key() -> bytes:
    return current_app.config["SECRET_KEY"].encode()


def phone_key(phone: str) -> str:
    return hmac.new(_key(), f"sms-phone:{phone}".encode(), hashlib.sha256).hexdigest()


def _code_hash(salt: str, purpose: SmsPurpose, phone: str, code: str) -> str:
    return hmac.new(_key(), f"sms-code:{salt}:{purpose.value}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def sender():
    """The app's sender, built once from its settings (``SMS_SENDER`` overrides: tests)."""
    override = current_app.config.get("SMS_SENDER")
    if override is not None:
        return override
    built = current_app.extensions.get("distweb_sms_sender")
    if built is None:
        built = current_app.extensions["distweb_sms_sender"] = sender_from_config(current_app.config)
    return built


def normalise_phone(phone: str | None) -> str:
    phone = (phone or "").strip()
    if not PHONE_RE.match(phone):
        raise ServiceError("invalid_phone", _l("请输入 11 位手机号码。"), "phone")
    return phone


@dataclass(frozen=True)
class SentCode:
    phone: str
    minutes: int
    resend_seconds: int
    # The code itself, only when the sender delivers nothing (console: demo, development).
    shown_code: str | None

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)


def _latest(purpose: SmsPurpose, key: str):
    return db.session.scalars(
        select(SmsCode).where(SmsCode.phone_key == key, SmsCode.purpose == purpose,
                              SmsCode.status != SmsCodeStatus.FAILED)
        .order_by(SmsCode.id.desc()).limit(1)).first()


def _registered(phone: str) -> bool:
    return bool(db.session.scalar(select(func.count()).select_from(User).where(User.phone == phone)))


def send_code(purpose: SmsPurpose | str, phone: str | None, ip_hash: str | None = None) -> SentCode:
    """Send a new code to ``phone`` for ``purpose``. Refuses (``ServiceError`` on the field
    ``phone``) a malformed number, a sign-up for a registered phone, a reset for an unknown
    one, a second code within the resend interval, and a provider's failure."""
    purpose = SmsPurpose(purpose)
    phone = normalise_phone(phone)
    config = current_app.config
    if purpose == SmsPurpose.SIGNUP and _registered(phone):
        raise Conflict("duplicate_phone", _l("该手机号已被注册，请直接登录。"), "phone")
    if purpose == SmsPurpose.RESET and not _registered(phone):
        raise ServiceError("unknown_phone", _l("该手机号未注册。"), "phone")
    ttl, resend = int(config["SMS_CODE_TTL_SECONDS"]), int(config["SMS_RESEND_SECONDS"])
    key = phone_key(phone)
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    the_sender = sender()
    with transaction():
        last = _latest(purpose, key)
        now = utcnow()
        if last is not None and last.created_at > now - timedelta(seconds=resend):
            wait = resend - int((now - last.created_at).total_seconds())
            raise ServiceError("too_soon", _l("验证码已发送，请 %(n)s 秒后再重新获取。", n=max(wait, 1)), "phone")
        row = SmsCode(purpose=purpose, phone_key=key, salt=salt, code_hash=_code_hash(salt, purpose, phone, code),
                      status=SmsCodeStatus.SENDING, provider=the_sender.name, ip_hash=ip_hash, attempts=0,
                      created_at=now, expires_at=now + timedelta(seconds=ttl))
        db.session.add(row)
    minutes = max(1, ttl // 60)
    try:
        reference = the_sender.send_code(phone, code, minutes)
    except SmsSendError as err:
        log.error("SMS code to %s not sent: %s", mask_phone(phone), err)
        with transaction():
            row.status = SmsCodeStatus.FAILED
        raise ServiceError("sms_failed", _l("验证码发送失败，请稍后再试。"), "phone") from None
    with transaction():
        row.status = SmsCodeStatus.SENT
        row.provider_ref = (reference or None) and str(reference)[:64]
    return SentCode(phone, minutes, resend, code if the_sender.shows_code else None)


def check_code(purpose: SmsPurpose | str, phone: str | None, code: str | None) -> int:
    """The id of the phone's live code for ``purpose`` if ``code`` is it; the caller then
    ``consume``s it with what it allows. Every check counts as an attempt (committed here,
    before comparing), so no more than the allowed number of guesses is ever compared, even
    concurrently. Refusals are ``ServiceError`` on the field ``code``."""
    purpose = SmsPurpose(purpose)
    phone = normalise_phone(phone)
    code = (code or "").strip()
    max_attempts = int(current_app.config["SMS_CODE_MAX_ATTEMPTS"])
    with transaction():
        row = _latest(purpose, phone_key(phone))
        if row is None:
            raise ServiceError("no_code", _l("请先获取短信验证码。"), "code")
        if row.consumed_at is not None or row.expires_at <= utcnow():
            raise ServiceError("code_expired", _l("验证码已失效，请重新获取。"), "code")
        counted = db.session.execute(
            update(SmsCode).where(SmsCode.id == row.id, SmsCode.attempts < max_attempts,
                                  SmsCode.consumed_at.is_(None))
            .values(attempts=SmsCode.attempts + 1).execution_options(synchronize_session=False))
        if counted.rowcount != 1:
            raise ServiceError("code_locked", _l("验证码错误次数过多，请重新获取。"), "code")
        attempts_before, salt, expected, code_id = row.attempts, row.salt, row.code_hash, row.id
    if not (len(code) == CODE_DIGITS and code.isdigit()
            and hmac.compare_digest(_code_hash(salt, purpose, phone, code), expected)):
        left = max_attempts - attempts_before - 1
        if left <= 0:
            raise ServiceError("code_locked", _l("验证码错误次数过多，请重新获取。"), "code")
        raise ServiceError("wrong_code", _l("验证码不正确，还可以再试 %(n)s 次。", n=left), "code")
    return code_id


def consume(code_id: int) -> None:
    """Use the code (inside the caller's transaction): once, before it expires."""
    used = db.session.execute(
        update(SmsCode).where(SmsCode.id == code_id, SmsCode.consumed_at.is_(None), SmsCode.expires_at > utcnow())
        .values(consumed_at=utcnow()).execution_options(synchronize_session=False))
    if used.rowcount != 1:
        raise ServiceError("code_expired", _l("验证码已失效，请重新获取。"), "code")


# Codes older than this are of no use to anyone (they expired minutes after being sent).
KEEP_CODES = timedelta(days=1)


def purge_old(now=None) -> int:
    """Delete the codes sent more than a day ago; returns how many (the worker's upkeep)."""
    from sqlalchemy import delete

    cutoff = (now or utcnow()) - KEEP_CODES
    if db.session.scalar(select(SmsCode.id).where(SmsCode.created_at < cutoff).limit(1)) is None:
        db.session.rollback()  # nothing to do: no write (and on SQLite no write lock) taken
        return 0
    with transaction():
        result = db.session.execute(delete(SmsCode).where(SmsCode.created_at < cutoff))
    return result.rowcount or 0
