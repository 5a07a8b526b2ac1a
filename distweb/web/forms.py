"""Shared form helpers."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from distweb.services.errors import ServiceError


def attach_error(form, err: ServiceError, fallback: str, aliases: dict[str, str] | None = None) -> None:
    """Show a service refusal next to the field it names (or the fallback field)."""
    name = (aliases or {}).get(err.field, err.field) if err.field else fallback
    field = getattr(form, name, None) if name else None
    if field is None or not hasattr(field, "errors"):
        field = getattr(form, fallback)
    if not isinstance(field.errors, list):
        field.errors = list(field.errors)
    field.errors.append(str(err.message))


def before_arg(name: str = "before") -> int | None:
    """A keyset-paging id from the query string, clamped to what an id column can hold
    (a huge number from a hand-edited URL is just "the first page", never a 500)."""
    from flask import request

    from distweb import MAX_ID

    value = request.args.get(name, type=int)
    if value is None or value <= 0:
        return None
    return min(value, MAX_ID)


# ---------------------------------------------------------------- shared field rules
#
# Forms check every field in one pass, so a page flags every mistake at once (a bad phone
# and a short password together); the services check the same rules again.


class PhoneNumber:
    """A mainland mobile number (11 digits starting 1[3-9]), as ``accounts`` requires."""

    def __call__(self, form, field) -> None:
        from wtforms.validators import ValidationError

        from distweb.services.accounts import PHONE_RE

        if field.data and not PHONE_RE.match(field.data.strip()):
            raise ValidationError(_l("请输入 11 位手机号码。"))


class StrongPassword:
    """The password rules of ``accounts.check_password_strength``."""

    def __call__(self, form, field) -> None:
        from wtforms.validators import ValidationError

        from distweb.services.accounts import check_password_strength

        if not field.data:
            return
        try:
            check_password_strength(field.data)
        except ServiceError as err:
            raise ValidationError(str(err.message)) from None


class SmsCodeFormat:
    """Six digits (the code sent by SMS); empty is left to DataRequired / Optional."""

    def __call__(self, form, field) -> None:
        from wtforms.validators import ValidationError

        value = (field.data or "").strip()
        if value and not (len(value) == 6 and value.isdigit()):
            raise ValidationError(_l("验证码是 6 位数字。"))
