"""HTTP API v1: bearer keys, JSON errors, idempotent POSTs (see docs/API.md)."""

from __future__ import annotations

import functools
import hashlib

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from distweb.extensions import csrf, db
from distweb.models import Brand, IdempotencyRecord
from distweb.models.base import utcnow
from distweb.services import api_keys, order_input
from distweb.services.errors import ServiceError
from distweb.services.tx import transaction
from distweb.web.errors import CODES
from distweb.web.json_input import JSONInputError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # API clients authenticate every request with a bearer key, not a cookie

MAX_BODY = 1024 * 1024


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error(status: int, code: str, message: str, field: str | None = None):
    response = jsonify({"error": {"code": code, "message": message, "field": field}})
    response.status_code = status
    return response


@bp.before_request
def authenticate():
    if request.endpoint == "api.openapi":
        return None
    if request.content_length and request.content_length > MAX_BODY:
        return error(413, "payload_too_large", _("请求体不能超过 1 MiB。"))
    header = request.headers.get("Authorization", "")
    scheme, _sep, secret = header.partition(" ")
    found = api_keys.key_and_brand_for(secret.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        return error(401, "unauthorized", _("缺少或无效的 API 密钥。"))
    # Rows, not entities: the key, and what order placement reads of the brand's settings.
    key, g.attribution_settings = found
    g.api_key = key
    g.brand = KeyBrand(key.brand_id)
    now = utcnow()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        with transaction():
            api_keys.touch(key, now)  # at most one write a minute per key
    return None


class KeyBrand:
    """``g.brand`` of an API request: the key's brand. Its id is known from the key's row (all
    the API's own code reads); anything else loads the ``Brand`` itself, once, on first use."""

    __slots__ = ("id", "_brand")

    def __init__(self, brand_id: int):
        self.id = brand_id
        self._brand = None

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if self._brand is None:
            self._brand = db.session.get(Brand, self.id)
        return getattr(self._brand, name)


@bp.errorhandler(ApiError)
def api_error(err: ApiError):
    return error(err.status, err.code, err.message, err.field)


@bp.errorhandler(ServiceError)
def service_error(err: ServiceError):
    db.session.rollback()
    return error(err.status, err.code, str(err.message), err.field)


@bp.errorhandler(HTTPException)
def http_error(err: HTTPException):
    return error(err.code or 500, CODES.get(err.code or 500, "error"), err.description or err.name)


def json_body() -> dict:
    """The request body as a JSON object, or a 400/413 (or a 422 for text no column can
    store: ``json_input``)."""
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise ApiError(413, "payload_too_large", _("请求体不能超过 1 MiB。"))
    return parse_json_object(raw)


def parse_json_object(raw: bytes) -> dict:
    """``raw`` parsed as a JSON object by the app's JSON provider (``json_input``: nesting
    and text checked), or the ApiError to answer."""
    try:
        body = current_app.json.loads(raw or b"null")
    except JSONInputError as err:
        raise ApiError(err.status, err.code, str(err.message), err.field) from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", _("请求体不是有效的 JSON。")) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", _("请求体必须是 JSON 对象。"))
    return body


def field(body: dict, name: str, kind: type, required: bool = True, nullable: bool = False, max_length: int = 200):
    """A typed field from a JSON body; a wrong type is a 422 naming the field (never coerced).
    The check is ``order_input.field``'s (one implementation); refused as an ApiError."""
    try:
        return order_input.field(body, name, kind, required=required, nullable=nullable, max_length=max_length)
    except ServiceError as err:
        raise ApiError(err.status, err.code, str(err.message), err.field) from None


def idempotent(view):
    """Replaying the same Idempotency-Key with the same body returns the first response;
    the same key with a different body is a 409."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view(*args, **kwargs)
        if len(key) > 200:
            return error(422, "invalid_idempotency_key", _("Idempotency-Key 过长。"))
        digest = hashlib.sha256(f"{request.method} {request.path}\n".encode() + request.get_data(cache=True)).hexdigest()
        record = db.session.scalars(
            select(IdempotencyRecord).where(IdempotencyRecord.api_key_id == g.api_key.id, IdempotencyRecord.key == key)
        ).first()
        if record is not None:
            if record.request_hash != digest:
                return error(409, "idempotency_conflict", _("同一个 Idempotency-Key 不能用于不同的请求。"))
            response = jsonify(record.response_body)
            response.status_code = record.status_code
            response.headers["Idempotent-Replayed"] = "true"
            return response
        response = _as_response(view(*args, **kwargs))
        if response.status_code < 500 and response.is_json:
            try:
                db.session.add(IdempotencyRecord(api_key_id=g.api_key.id, key=key, request_hash=digest,
                                                 status_code=response.status_code, response_body=response.get_json()))
                db.session.commit()
            except IntegrityError:
                db.session.rollback()  # a concurrent request with the same key recorded first
        return response

    return wrapper


def _as_response(value):
    from flask import make_response

    return make_response(value)
