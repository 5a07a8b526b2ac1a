"""The OpenAPI 3.1 description of API v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from flask import url_for

from distweb.web.api.base import bp

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
            },
        }
    },
}


def _error_responses(*codes: int) -> dict:
    text = {400: "Bad request", 401: "Missing or invalid API key", 404: "Not found", 409: "Conflict",
            413: "Body over 1 MiB", 422: "Invalid field"}
    return {
        str(c): {"description": text[c], "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for c in codes
    }


PROMOTER = {
    "type": "object",
    "required": ["code", "name", "upline_code", "rank", "status", "invite_url"],
    "properties": {
        "code": {"type": "string"},
        "name": {"type": "string"},
        "phone": {"type": ["string", "null"]},
        "upline_code": {"type": ["string", "null"]},
        "rank": {"type": "string", "enum": ["promoter", "mentor", "partner"]},
        "status": {"type": "string", "enum": ["pending", "active", "suspended", "rejected"]},
        "joined_at": {"type": "string", "format": "date-time"},
        "invite_url": {"type": "string"},
        "balances": {
            "type": "object",
            "properties": {k: {"type": "integer"} for k in
                           ("frozen_fen", "available_fen", "pending_withdrawal_fen", "withdrawn_fen")},
        },
    },
}

PROMOTER_CREATE = {
    "type": "object",
    "required": ["name", "phone"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 60},
        "phone": {"type": "string", "pattern": "^1[3-9][0-9]{9}$"},
        "upline_code": {"type": ["string", "null"], "maxLength": 12},
        "rank": {"type": ["string", "null"], "enum": ["promoter", "mentor", "partner", None]},
    },
}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200},
    "description": "Replaying the same key with the same body returns the original response.",
}


def spec() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "distweb API", "version": "1",
                 "description": "Orders, refunds, promoters and settlement for shops, ERPs and finance systems. "
                                "Money is integer fen in fields ending _fen; rates are basis points in fields ending _bp."},
        "servers": [{"url": url_for("api.openapi", _external=True).rsplit("/openapi.json", 1)[0]}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR, "Promoter": PROMOTER, "PromoterCreate": PROMOTER_CREATE},
        },
        "paths": {
            "/promoters": {
                "post": {
                    "summary": "Import a promoter (bound under upline_code)",
                    "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": {"required": True,
                                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PromoterCreate"}}}},
                    "responses": {
                        "201": {"description": "Created",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Promoter"}}}},
                        **_error_responses(400, 401, 409, 413, 422),
                    },
                }
            },
            "/promoters/{code}": {
                "get": {
                    "summary": "A promoter with balances",
                    "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "The promoter",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Promoter"}}}},
                        **_error_responses(401, 404),
                    },
                }
            },
        },
    }


@bp.get("/openapi.json")
def openapi():
    return spec()
