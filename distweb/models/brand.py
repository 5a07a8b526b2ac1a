from __future__ import annotations

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from distweb.extensions import db
from distweb.models.base import UTCDateTime, utcnow

DEFAULT_THEME_COLOR = "#d9363e"


class Brand(db.Model):
    """The brand that runs the programme: its name, logo and colour appear everywhere."""

    __tablename__ = "brands"
    __table_args__ = (CheckConstraint("theme_color LIKE '#%'", name="theme_color_hex"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    short_name: Mapped[str] = mapped_column(String(24))
    theme_color: Mapped[str] = mapped_column(String(7), default=DEFAULT_THEME_COLOR)
    # Relative path under the uploads directory; None means the built-in mark.
    logo_file: Mapped[str | None] = mapped_column(String(120))
    # The logo template (templates/logos/<name>.svg) the logo file was drawn from, so a new
    # name or colour draws it again; None for an uploaded logo or none.
    logo_template: Mapped[str | None] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # Signs payment notifications from the payment step (see services.payments).
    payment_secret: Mapped[str | None] = mapped_column(String(64))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    def __repr__(self) -> str:
        return f"<Brand {self.id} {self.name}>"
