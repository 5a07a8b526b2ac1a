from __future__ import annotations


class ServiceError(Exception):
    """A refusal a user or client can cause: shown as a form message or a 4xx JSON error."""

    status = 422

    def __init__(self, code: str, message, field: str | None = None):
        super().__init__(str(message))
        self.code = code
        self.message = message  # may be a lazy translation; str() it at the edge
        self.field = field


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409
