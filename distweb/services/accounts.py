"""Accounts: passwords, sign-in sessions, first-run set-up."""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import joinedload

from distweb.extensions import db
from distweb.models import Brand, LoginSession, User
from distweb.models.base import utcnow
from distweb.models.user import Role
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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, user_agent: str | None = None) -> str:
    """Record a new signed-in browser; returns the token to keep in the session cookie."""
    token = secrets.token_urlsafe(32)
    # End the read transaction the password check used: on SQLite a write inside a stale
    # read snapshot fails at once ("database is locked") instead of waiting its turn.
    db.session.commit()
    with transaction():
        db.session.add(
            LoginSession(user_id=user.id, token_hash=_token_hash(token), user_agent=(user_agent or "")[:200])
        )
    user.login_token = token
    return token


# One query for everything a page needs about who is asking: the user, its brand and, for
# promoters, its place in the network. Built once: every signed-in request runs it, and
# building the statement cost more than running it.
_USER_FOR_SESSION = (
    select(User)
    .options(joinedload(User.brand), joinedload(User.promoter))
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(LoginSession.token_hash == bindparam("token_hash"), LoginSession.revoked_at.is_(None))
)


def user_for_session(token: str) -> User | None:
    """The user behind a live session token, or None once it is revoked."""
    row = db.session.execute(_USER_FOR_SESSION, {"token_hash": _token_hash(token)}).first()
    if row is None:
        return None
    user = row[0]
    user.login_token = token
    return user


def end_session(token: str | None) -> None:
    if not token:
        return
    with transaction():
        db.session.execute(
            update(LoginSession)
            .where(LoginSession.token_hash == _token_hash(token), LoginSession.revoked_at.is_(None))
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
            stmt = stmt.where(LoginSession.token_hash != _token_hash(keep_token))
        db.session.execute(stmt)


def create_user(
    brand: Brand,
    role: Role,
    name: str,
    password: str,
    email: str | None = None,
    phone: str | None = None,
    supplier_id: int | None = None,
    check_strength: bool = True,
) -> User:
    """Add a user to the session (the caller's transaction commits it)."""
    email = normalise_login(email) if email else None
    phone = phone.strip() if phone else None
    if email and not EMAIL_RE.match(email):
        raise ServiceError("invalid_email", _l("邮箱格式不正确。"), "email")
    if phone and not PHONE_RE.match(phone):
        raise ServiceError("invalid_phone", _l("请输入 11 位手机号码。"), "phone")
    if not email and not phone:
        raise ServiceError("login_required", _l("需要邮箱或手机号。"), "email")
    if check_strength:
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
        password_hash=hash_password(password),
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
            created = True
        manager = find_user_by_login(manager_email)
        if manager is None:
            manager = create_user(brand, Role.MANAGER, manager_email.split("@")[0], manager_password, email=manager_email)
            created = True
        elif manager.role != Role.MANAGER:
            raise Conflict("not_a_manager", _l("该邮箱属于非管理员账号。"), "email")
    return brand, manager, created
