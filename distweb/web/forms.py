"""Shared form helpers."""

from __future__ import annotations

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
