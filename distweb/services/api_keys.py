"""API keys for outside clients: created by a manager, shown once, stored hashed, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select, update

from distweb.extensions import db
from distweb.models import ApiKey, Brand, ProgrammeSettings
from distweb.models.base import utcnow
from distweb.models.network import AttributionModel, BindingMode
from distweb.services.errors import ServiceError
from distweb.services.tx import transaction

KEY_PREFIX = "dw_live_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(brand: Brand, name: str) -> tuple[ApiKey, str]:
    """A new key (returned once) with its webhook signing secret (``row.webhook_secret``)."""
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ServiceError("invalid_name", _l("密钥名称需为 1–80 个字符。"), "name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction():
        row = ApiKey(brand_id=brand.id, name=name, prefix=key[: len(KEY_PREFIX) + 6], key_hash=_hash(key),
                     webhook_secret="whsec_" + secrets.token_urlsafe(32))
        db.session.add(row)
    return row, key


def key_for(secret: str) -> ApiKey | None:
    """The live key matching a bearer token (compared by hash: constant-time by construction)."""
    if not secret or not secret.startswith(KEY_PREFIX):
        return None
    return db.session.scalars(
        select(ApiKey).where(ApiKey.key_hash == _hash(secret), ApiKey.revoked_at.is_(None))
    ).first()


def key_and_brand_for(secret: str) -> tuple[KeyRow, AttributionSettings | None] | None:
    """The live key matching a bearer token (a row: its id, brand id, last use and webhook
    secret) and the settings order attribution reads from its brand's programme settings
    (None before they are first written), in one query, read afresh on every request (a
    revoked key stops working at once)."""
    if not secret or not secret.startswith(KEY_PREFIX):
        return None
    row = db.session.execute(_KEY_AND_SETTINGS, {"key_hash": _hash(secret)}).first()
    if row is None:
        return None
    settings = AttributionSettings(*row[4:]) if row.settings_brand_id is not None else None
    return KeyRow(*row[:4]), settings


class KeyRow(NamedTuple):
    id: int
    brand_id: int
    last_used_at: datetime | None
    webhook_secret: str


class AttributionSettings(NamedTuple):
    """What placing an order reads of ``ProgrammeSettings`` (the same names), as a row."""

    brand_id: int
    binding_mode: BindingMode
    binding_days: int
    attribution: AttributionModel
    attribution_window_days: int


def touch(key: KeyRow, now: datetime) -> None:
    """Record the key's use (the caller commits)."""
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
                       .execution_options(synchronize_session=False))


_KEY_AND_SETTINGS = (
    select(ApiKey.id, ApiKey.brand_id, ApiKey.last_used_at, ApiKey.webhook_secret,
           ProgrammeSettings.brand_id.label("settings_brand_id"),
           ProgrammeSettings.binding_mode, ProgrammeSettings.binding_days, ProgrammeSettings.attribution,
           ProgrammeSettings.attribution_window_days)
    .outerjoin(ProgrammeSettings, ProgrammeSettings.brand_id == ApiKey.brand_id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
)


def revoke_key(brand: Brand, key_id: int) -> None:
    with transaction():
        row = db.session.get(ApiKey, key_id)
        if row is None or row.brand_id != brand.id:
            raise ServiceError("not_found", _l("密钥不存在。"))
        if row.revoked_at is None:
            row.revoked_at = utcnow()


def list_keys(brand_id: int) -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).where(ApiKey.brand_id == brand_id).order_by(ApiKey.id.desc())))
