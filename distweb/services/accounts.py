"""Accounts: passwords, sign-in sessions, first-run set-up."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import bindparam, func, select, update

from distweb.extensions import db
from distweb.models import Brand, LoginSession, Promoter, User
from distweb.models.base import utcnow
from distweb.models.network import PromoterStatus, Rank
from distweb.models.user import Role, RoleFlags
from distweb.services.errors import Conflict, ServiceError
from distweb.services.tx import transaction

_hasher = PasswordHasher()
# A valid hash to verify against when the user does not exist, so that "no such user" and
# "wrong password" take the same time.
_DUMMY_HASH = _hasher.hash("distweb-timing-equaliser")

MIN_PASSWORD_LENGTH = 8
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


# The stored hash of an account that has no password yet (a promoter imported through the
# API signs in after a reset): no password matches it (argon2 refuses it as a hash), and
# creating such an account costs no hashing inside the writing transaction.
NO_PASSWORD_HASH = "!"


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(
            "weak_password", _l("密码至少需要 %(n)s 个字符。", n=MIN_PASSWORD_LENGTH), "password"
        )
    if password.isdigit() or password.isalpha():
        raise ServiceError("weak_password", _l("密码需同时包含字母和数字。"), "password")


def normalise_login(login: str) -> str:
    return login.strip().lower()


def find_user_by_login(login: str) -> User | None:
    login = normalise_login(login)
    if not login:
        return None
    column = User.email if "@" in login else User.phone
    return db.session.scalars(select(User).where(column == login)).first()


def authenticate(login: str, password: str) -> User | None:
    """The user if the password is right and the account enabled, else None (same timing)."""
    user = find_user_by_login(login)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_enabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        with transaction():
            user.password_hash = hash_password(password)
    return user


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, user_agent: str | None = None) -> str:
    """Record a new signed-in browser; returns the token to keep in the session cookie."""
    token = secrets.token_urlsafe(32)
    # End the read transaction the password check used: on SQLite a write inside a stale
    # read snapshot fails at once ("database is locked") instead of waiting its turn.
    db.session.commit()
    with transaction():
        db.session.add(
            LoginSession(user_id=user.id, token_hash=token_hash(token), user_agent=(user_agent or "")[:200])
        )
    user.login_token = token
    return token


@dataclass(frozen=True, slots=True)
class BrandLook:
    """What every page shows of the brand (name, colours, logo) and its time zone, read with
    the signed-in user. Read-only: code that changes the brand uses ``current_user.brand``."""

    id: int
    name: str
    short_name: str
    theme_color: str
    logo_file: str | None
    timezone: str


class SignedInUser(RoleFlags, UserMixin):
    """The signed-in user of one request, as read with its login session by one Core query.

    Every signed-in request needs it, so it is not an ORM ``User`` with its brand and promoter
    loaded as objects: the columns the pages read are plain attributes here, with the
    promoter's id and code and the brand's look. ``brand`` and ``promoter`` are the ORM
    objects, loaded by primary key on first use; anything else (``supplier``,
    ``password_hash``, …) comes from the ORM ``User`` (``record``), loaded the same way. The object is read-only, so a change can never be made here and
    silently not saved: code that changes the user changes ``record``.
    """

    __slots__ = ("id", "brand_id", "role", "name", "email", "phone", "locale", "is_enabled", "supplier_id",
                 "promoter_id", "promoter_code", "promoter_status", "promoter_status_reason", "promoter_rank",
                 "brand_look",
                 "login_token", "_record")

    def __init__(self, row, token: str):
        set_ = object.__setattr__
        for name in ("id", "brand_id", "role", "name", "email", "phone", "locale", "is_enabled", "supplier_id",
                     "promoter_id", "promoter_code", "promoter_status", "promoter_status_reason", "promoter_rank"):
            set_(self, name, getattr(row, name))
        set_(self, "brand_look", BrandLook(row.brand_id, row.brand_name, row.brand_short_name, row.theme_color,
                                           row.logo_file, row.timezone))
        set_(self, "login_token", token)
        set_(self, "_record", None)

    def __setattr__(self, name, value):
        raise AttributeError(f"the signed-in user is read-only: change {name!r} on current_user.record")

    @property
    def record(self) -> User:
        """The ORM ``User`` (from the session's identity map after the first use)."""
        if self._record is None:
            object.__setattr__(self, "_record", db.session.get(User, self.id))
        return self._record

    @property
    def brand(self) -> Brand:
        return db.session.get(Brand, self.brand_id)

    @property
    def promoter(self) -> Promoter | None:
        return db.session.get(Promoter, self.promoter_id) if self.promoter_id is not None else None

    def __getattr__(self, name):
        # Only for what is not a plain attribute above: relationships and rarely read columns.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.record, name)

    @property
    def timezone(self) -> str:
        return self.brand_look.timezone

    @property
    def is_suspended_promoter(self) -> bool:
        """A suspended promoter signs in read-only: orders, wallet and statements, no changes."""
        return self.promoter_status == PromoterStatus.SUSPENDED

    @property
    def leads_team(self) -> bool:
        """A mentor or a partner: its team's figures have a tab of their own (团队)."""
        return self.promoter_rank in (Rank.MENTOR, Rank.PARTNER)

    def get_id(self) -> str | None:
        return self.login_token

    def __repr__(self) -> str:
        return f"<SignedInUser {self.id} {self.role} {self.email or self.phone}>"


# Every signed-in request reads it: a live login session by its token's hash, its user, the
# brand and, for promoters, their place in the network.
SESSION_USER = (
    select(User.id, User.brand_id, User.role, User.name, User.email, User.phone, User.locale, User.is_enabled,
           User.supplier_id, Promoter.id.label("promoter_id"), Promoter.code.label("promoter_code"),
           Promoter.status.label("promoter_status"), Promoter.status_reason.label("promoter_status_reason"),
           Promoter.rank.label("promoter_rank"),
           Brand.name.label("brand_name"), Brand.short_name.label("brand_short_name"), Brand.theme_color,
           Brand.logo_file, Brand.timezone)
    .select_from(LoginSession)
    .join(User, User.id == LoginSession.user_id)
    .join(Brand, Brand.id == User.brand_id)
    .outerjoin(Promoter, Promoter.user_id == User.id)
    .where(LoginSession.token_hash == bindparam("token_hash"), LoginSession.revoked_at.is_(None))
)


def user_for_session(token: str) -> SignedInUser | None:
    """The user behind a live session token, or None once it is revoked. Asked on every
    request, so a logout or a password change ends the session at once."""
    # Plain rows, on the session's connection: none of the ORM's per-statement work.
    row = db.session.connection().execute(SESSION_USER, {"token_hash": token_hash(token)}).first()
    return SignedInUser(row, token) if row is not None else None


def end_session(token: str | None) -> None:
    if not token:
        return
    with transaction():
        db.session.execute(
            update(LoginSession)
            .where(LoginSession.token_hash == token_hash(token), LoginSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def change_password(user: User, current: str, new: str, keep_token: str | None) -> None:
    """Change the password and sign out every other browser of this user."""
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise ServiceError("wrong_password", _l("当前密码不正确。"), "current_password") from None
    check_password_strength(new)
    with transaction():
        user.password_hash = hash_password(new)
        user.password_changed_at = utcnow()
        stmt = (
            update(LoginSession)
            .where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        if keep_token:
            stmt = stmt.where(LoginSession.token_hash != token_hash(keep_token))
        db.session.execute(stmt)


def reset_password(phone: str, code: str, new: str) -> User:
    """忘记密码: a new password for the account with this phone, proven by the SMS code sent
    to it. Every signed-in browser of the account is signed out (its sessions are revoked),
    whoever had them. An account that never had a password (imported through the API) gets
    its first one this way."""
    from distweb.services import sms

    phone = sms.normalise_phone(phone)
    check_password_strength(new)
    user = find_user_by_login(phone)
    if user is None:
        raise ServiceError("unknown_phone", _l("该手机号未注册。"), "phone")
    code_id = sms.check_code(sms.SmsPurpose.RESET, phone, code)
    password_hash = hash_password(new)  # outside the write transaction: it is slow on purpose
    with transaction():
        sms.consume(code_id)
        user.password_hash = password_hash
        user.password_changed_at = utcnow()
        db.session.execute(
            update(LoginSession)
            .where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return user


def create_user(
    brand: Brand,
    role: Role,
    name: str,
    password: str | None,
    email: str | None = None,
    phone: str | None = None,
    supplier_id: int | None = None,
    check_strength: bool = True,
) -> User:
    """Add a user to the session (the caller's transaction commits it). ``password`` None:
    the account has none until it is reset."""
    email = normalise_login(email) if email else None
    phone = phone.strip() if phone else None
    if email and not EMAIL_RE.match(email):
        raise ServiceError("invalid_email", _l("邮箱格式不正确。"), "email")
    if phone and not PHONE_RE.match(phone):
        raise ServiceError("invalid_phone", _l("请输入 11 位手机号码。"), "phone")
    if not email and not phone:
        raise ServiceError("login_required", _l("需要邮箱或手机号。"), "email")
    if check_strength and password is not None:
        check_password_strength(password)
    if email and db.session.scalar(select(func.count()).where(User.email == email)):
        raise Conflict("duplicate_email", _l("该邮箱已被注册。"), "email")
    if phone and db.session.scalar(select(func.count()).where(User.phone == phone)):
        raise Conflict("duplicate_phone", _l("该手机号已被注册。"), "phone")
    user = User(
        brand_id=brand.id,
        role=role,
        name=name.strip(),
        email=email,
        phone=phone,
        password_hash=hash_password(password) if password is not None else NO_PASSWORD_HASH,
        supplier_id=supplier_id,
    )
    db.session.add(user)
    return user


def current_brand() -> Brand | None:
    """The installation's brand (distweb serves one brand per installation)."""
    return db.session.scalars(select(Brand).order_by(Brand.id).limit(1)).first()


def init_brand(brand_name: str, manager_email: str, manager_password: str) -> tuple[Brand, User, bool]:
    """First-run set-up, idempotent: returns (brand, manager, created_anything)."""
    created = False
    with transaction():
        brand = current_brand()
        if brand is None:
            brand = Brand(name=brand_name.strip(), short_name=brand_name.strip()[:12])
            db.session.add(brand)
            db.session.flush()
            # Its programme settings with it: a service that reads them later (a withdrawal
            # holding the promoter's write lock) must never be the one to create them.
            from distweb.models import ProgrammeSettings

            db.session.add(ProgrammeSettings(brand_id=brand.id, rank_rules={}))
            created = True
        manager = find_user_by_login(manager_email)
        if manager is None:
            manager = create_user(brand, Role.MANAGER, manager_email.split("@")[0], manager_password, email=manager_email)
            created = True
        elif manager.role != Role.MANAGER:
            raise Conflict("not_a_manager", _l("该邮箱属于非管理员账号。"), "email")
    return brand, manager, created
