"""A stand-in SMS provider: records what it was asked to send, delivers nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from distweb.services.sms_senders import SmsSendError


@dataclass
class SentMessage:
    phone: str
    code: str
    minutes: int


@dataclass
class RecordingSender:
    name: str = "test"
    shows_code: bool = False
    sent: list[SentMessage] = field(default_factory=list)
    fail_with: str | None = None  # make the next sends fail, as a provider's refusal would

    def send_code(self, phone: str, code: str, minutes: int) -> str | None:
        if self.fail_with:
            raise SmsSendError(self.fail_with)
        self.sent.append(SentMessage(phone, code, minutes))
        return f"test-{len(self.sent)}"

    def last_code(self, phone: str | None = None) -> str:
        for message in reversed(self.sent):
            if phone is None or message.phone == phone:
                return message.code
        raise AssertionError(f"no code was sent to {phone}")
