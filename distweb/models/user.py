from __future__ import annotations

import enum

from flask_login import UserMixin
from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow


class Role(enum.StrEnum):
    MANAGER = "manager"
    PROMOTER = "promoter"
    SUPPLIER = "supplier"


def enum_column(enum_cls, name: str, length: int = 16):
    """Store the enum's value (not its name) and check it in the database too."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class RoleFlags:
    """What templates and guards ask of a user, from ``role`` and ``is_enabled``; shared by
    the ORM ``User`` and the light ``services.accounts.SignedInUser``."""

    @property
    def is_active(self) -> bool:
        return self.is_enabled

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def is_promoter(self) -> bool:
        return self.role == Role.PROMOTER

    @property
    def is_supplier(self) -> bool:
        return self.role == Role.SUPPLIER

    @property
    def is_suspended_promoter(self) -> bool:
        """A suspended promoter signs in read-only: orders, wallet and statements, no changes."""
        from distweb.models.network import PromoterStatus

        promoter = self.promoter
        return promoter is not None and promoter.status == PromoterStatus.SUSPENDED


class User(RoleFlags, UserMixin, db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role, "user_role"))
    name: Mapped[str] = mapped_column(String(60))
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(16))
    is_enabled: Mapped[bool] = mapped_column(default=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    # A square picture under uploads/avatars/ (shown on posters); random name, EXIF-free.
    avatar_file: Mapped[str | None] = mapped_column(String(120))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    password_changed_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    brand = relationship("Brand")
    promoter = relationship("Promoter", back_populates="user", uselist=False)
    supplier = relationship("Supplier")

    # Flask-Login asks for the id it stores in the session; we store a login-session token
    # instead (see LoginSession), so get_id is only used through that path.
    login_token = None  # set per request, never stored

    def get_id(self) -> str | None:
        return self.login_token

    # The same read-only view as services.accounts.SignedInUser (what current_user is on every
    # request after the one that signs in, where it is this ORM object).
    @property
    def record(self) -> User:
        return self

    @property
    def brand_look(self):
        return self.brand

    @property
    def timezone(self) -> str:
        return self.brand.timezone

    @property
    def promoter_id(self) -> int | None:
        return self.promoter.id if self.promoter is not None else None

    @property
    def promoter_code(self) -> str | None:
        return self.promoter.code if self.promoter is not None else None

    @property
    def leads_team(self) -> bool:
        """A mentor or a partner: its team's figures have a tab of their own (团队)."""
        from distweb.models.network import Rank

        return self.promoter is not None and self.promoter.rank in (Rank.MENTOR, Rank.PARTNER)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role} {self.email or self.phone}>"


class LoginSession(db.Model):
    """One signed-in browser. Logging out revokes it server-side, so a copied cookie dies too;
    a password change revokes every other one."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # sha256 of the random token kept in the signed session cookie.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_agent: Mapped[str | None] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_seen_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    revoked_at = mapped_column(UTCDateTime, nullable=True)

    user = relationship("User")
