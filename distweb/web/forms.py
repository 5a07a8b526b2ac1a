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
