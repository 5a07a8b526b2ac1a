"""Secrets at rest: payment providers' keys are encrypted with Fernet (AES-128-CBC with
HMAC-SHA256, from ``cryptography``) under ``PAYMENT_KEY`` (``DISTWEB_PAYMENT_KEY``, or a key
generated into instance/payment_key in development; several keys, comma separated, rotate:
the first encrypts, every one decrypts). Nothing here logs a value."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class SecretBoxError(Exception):
    """The stored secrets cannot be read with the configured key (changed or lost key)."""


def _box() -> MultiFernet:
    keys = [k.strip() for k in str(current_app.config["PAYMENT_KEY"]).split(",") if k.strip()]
    return MultiFernet([Fernet(k.encode()) for k in keys])


def seal(values: dict[str, str]) -> bytes:
    return _box().encrypt(json.dumps(values, ensure_ascii=False, sort_keys=True).encode())


def open_box(token: bytes | None) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_box().decrypt(bytes(token)).decode())
    except (InvalidToken, ValueError) as err:
        raise SecretBoxError("the payment secrets cannot be decrypted with DISTWEB_PAYMENT_KEY") from err
