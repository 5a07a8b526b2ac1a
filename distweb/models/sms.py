from __future__ import annotations

import enum

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow
from distweb.models.user import enum_column


class SmsPurpose(enum.StrEnum):
    SIGNUP = "signup"  # a new promoter's phone, on the invite page
    RESET = "reset"  # 忘记密码: a new password for the account with this phone
    CHECKOUT = "checkout"  # a shop buyer's phone (a verified phone lets the order bind its buyer)


class SmsCodeStatus(enum.StrEnum):
    SENDING = "sending"  # written before the provider is asked (a code that arrives is valid)
    SENT = "sent"
    FAILED = "failed"  # the provider refused or could not be reached: never valid


class SmsCode(db.Model):
    """One verification code sent by SMS. Nothing here can be read back into a code or a
    phone number: the phone is kept as a keyed hash, the code as a keyed hash with a salt of
    its own. A code is valid for a few minutes, for a few attempts, once."""

    __tablename__ = "sms_codes"
    __table_args__ = (Index("ix_sms_codes_phone_purpose", "phone_key", "purpose", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[SmsPurpose] = mapped_column(enum_column(SmsPurpose, "sms_purpose"))
    phone_key: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[SmsCodeStatus] = mapped_column(enum_column(SmsCodeStatus, "sms_code_status"),
                                                  default=SmsCodeStatus.SENDING)
    provider: Mapped[str] = mapped_column(String(16))
    provider_ref: Mapped[str | None] = mapped_column(String(64))  # the provider's message id
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at = mapped_column(UTCDateTime, nullable=False)
    consumed_at = mapped_column(UTCDateTime, nullable=True)
