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
    "required": ["code", "name", "upline_code", "rank", "distributor", "status", "joined_at", "invite_url"],
    "properties": {
        "code": {"type": "string"},
        "name": {"type": "string"},
        "phone": {"type": ["string", "null"]},
        "upline_code": {"type": ["string", "null"]},
        "rank": {"type": "string", "enum": ["promoter", "mentor", "partner"]},
        "distributor": {"type": "boolean",
                        "description": "分销商: may sell on consignment and buy wholesale stock; "
                                       "otherwise the promoter promotes only"},
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
        "distributor": {"type": ["boolean", "null"], "default": False},
        "joined_at": {"type": ["string", "null"], "format": "date-time",
                      "description": "When it joined (an import of an existing network), with an offset, "
                                     "not in the future; default now"},
    },
}

PROMOTER_UPDATE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 60},
        "rank": {"type": "string", "enum": ["promoter", "mentor", "partner"]},
        "distributor": {"type": "boolean"},
        "status": {"type": "string", "enum": ["active", "suspended"]},
        "upline_code": {"type": ["string", "null"], "maxLength": 12,
                        "description": "A move (with the whole downline); null: the top of the tree. "
                                       "Self or a cycle is a 422"},
        "reason": {"type": ["string", "null"], "maxLength": 200,
                   "description": "Why, recorded with a status change"},
    },
}

MONEY = {"type": "integer", "minimum": 0}
TIME = {"type": "string", "format": "date-time"}

PRODUCT = {
    "type": "object",
    "required": ["name", "price_fen"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 120},
        "price_fen": MONEY,
        "supply_cost_fen": MONEY,
        "wholesale_price_fen": {"type": ["integer", "null"], "minimum": 0},
        "supplier": {"type": ["string", "null"], "maxLength": 40},
        "category": {"type": ["string", "null"], "maxLength": 40},
        "modes": {"type": "array", "items": {"type": "string", "enum": ["promotion", "consignment", "wholesale"]}},
        "active": {"type": "boolean"},
        "description": {"type": ["string", "null"]},
        "image_url": {"type": ["string", "null"]},
        "sku": {"type": "string"},
    },
}

ITEM_IN = {
    "type": "object",
    "required": ["sku", "quantity"],
    "properties": {
        "sku": {"type": "string"},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "unit_price_fen": {**MONEY, "maximum": 1_000_000_000},
        "paid_fen": MONEY,
    },
}

ORDER_CREATE = {
    "type": "object",
    "required": ["external_id", "mode", "items"],
    "properties": {
        "external_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "promoter_code": {"type": ["string", "null"]},
        "mode": {"type": "string", "enum": ["promotion", "consignment", "wholesale"]},
        "currency": {"type": "string", "enum": ["CNY"]},
        "stock_purchase": {"type": ["boolean", "null"]},
        "buyer": {"type": "object", "properties": {"name": {"type": ["string", "null"]},
                                                   "phone": {"type": ["string", "null"]},
                                                   "address": {"type": ["string", "null"]}}},
        "items": {"type": "array", "minItems": 1, "items": ITEM_IN},
        "total_paid_fen": {**MONEY, "maximum": 10_000_000_000,
                           "description": "At most ¥100,000,000.00 (10^10 fen) for the whole order"},
        "paid_at": {**TIME, "description": "Not more than a day ahead of now"},
    },
}

COMMISSION = {
    "type": "object",
    "properties": {
        "promoter_code": {"type": "string"},
        "level": {"type": "integer"},
        "kind": {"type": "string", "enum": ["commission", "margin", "reversal", "clawback"]},
        "amount_fen": {"type": "integer"},
        "status": {"type": "string", "enum": ["frozen", "available", "reversed", "paid_out"]},
        "rule_version": {"type": ["integer", "null"]},
    },
}

ORDER = {
    "type": "object",
    "required": ["external_id", "status", "mode", "promoter_code", "total_paid_fen", "items", "commissions",
                 "purchase_orders"],
    "properties": {
        "external_id": {"type": "string"},
        "status": {"type": "string", "enum": ["created", "paid", "shipped", "completed", "cancelled", "refunded"]},
        "mode": {"type": "string", "enum": ["promotion", "consignment", "wholesale"]},
        "stock_purchase": {"type": "boolean"},
        "promoter_code": {"type": ["string", "null"]},
        "attribution": {"type": ["string", "null"]},
        "currency": {"type": "string"},
        "total_paid_fen": {"type": "integer"},
        "refunded_fen": {"type": "integer"},
        "buyer": {"type": "object"},
        "placed_at": TIME,
        "paid_at": {"type": ["string", "null"]},
        "shipped_at": {"type": ["string", "null"]},
        "completed_at": {"type": ["string", "null"]},
        "cancelled_at": {"type": ["string", "null"]},
        "items": {"type": "array", "items": {"type": "object"}},
        "refunds": {"type": "array", "items": {"type": "object"}},
        "commissions": {"type": "array", "items": COMMISSION},
        "purchase_orders": {"type": "array", "items": {"type": "object"}},
    },
}

REFUND_CREATE = {
    "type": "object",
    "required": ["refund_id", "items"],
    "properties": {
        "refund_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "reason": {"type": ["string", "null"]},
        "items": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["sku", "amount_fen"],
            "properties": {"sku": {"type": "string"}, "amount_fen": {"type": "integer", "minimum": 1}}}},
    },
}

WEBHOOK = {
    "type": "object",
    "required": ["id", "type", "data"],
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string", "enum": ["order.paid", "order.completed", "order.refunded", "order.cancelled"]},
        "data": {"type": "object"},
    },
}

RULE_FEN = {"type": "integer", "minimum": 0, "maximum": 2**53}
WITHDRAWAL_RULES = {
    "type": "object",
    "description": "fee_fen = max(fee_min_fen, amount_fen × fee_bp / 10000 rounded half-up), never more than the "
                   "amount. daily_limit_fen counts the brand's calendar day (null: no limit); a request with "
                   "amount_fen below auto_approve_below_fen is created approved (null: never).",
    "required": ["min_fen", "fee_bp", "fee_min_fen", "daily_limit_fen", "methods", "auto_approve_below_fen"],
    "additionalProperties": False,
    "properties": {
        "min_fen": {**RULE_FEN, "minimum": 1},
        "fee_bp": {"type": "integer", "minimum": 0, "maximum": 10000},
        "fee_min_fen": RULE_FEN,
        "daily_limit_fen": {**RULE_FEN, "type": ["integer", "null"]},
        "methods": {"type": "array", "minItems": 1, "maxItems": 3, "uniqueItems": True,
                    "items": {"type": "string", "enum": ["bank", "alipay", "wechat"]}},
        "auto_approve_below_fen": {**RULE_FEN, "type": ["integer", "null"]},
    },
}

def _counts(*names: str) -> dict:
    return {"type": "object", "required": list(names),
            "properties": {name: {"type": "integer", "minimum": 0} for name in names}}


DAY = {"type": "string", "format": "date"}
DASHBOARD = {
    "type": "object",
    "description": "Brand calendar days, both inclusive. An order counts on the day of its paid_at; its seller is "
                   "its level-1 promoter. rate_bp = numerator × 10000 / denominator rounded half-up (0 when the "
                   "denominator is 0). Definitions: docs/API.md, Dashboard.",
    "required": ["from", "to", "gmv_fen", "orders", "refunded_fen", "net_fen", "commission_accrued_fen",
                 "promoters", "sell_through", "new_promoter_survival", "core_churn", "top_promoters",
                 "top_products", "series"],
    "properties": {
        "from": DAY, "to": DAY,
        "gmv_fen": {"type": "integer", "minimum": 0}, "orders": {"type": "integer", "minimum": 0},
        "refunded_fen": {"type": "integer", "minimum": 0}, "net_fen": {"type": "integer"},
        "commission_accrued_fen": {"type": "integer", "minimum": 0},
        "promoters": _counts("total", "new", "active"),
        "sell_through": _counts("listed", "sold", "rate_bp"),
        "new_promoter_survival": _counts("cohort", "survived", "rate_bp"),
        "core_churn": _counts("core", "churned", "rate_bp"),
        "top_promoters": {"type": "array", "maxItems": 10, "items": {
            "type": "object", "required": ["code", "name", "gmv_fen", "orders"],
            "properties": {"code": {"type": "string"}, "name": {"type": "string"},
                           "gmv_fen": {"type": "integer"}, "orders": {"type": "integer"}}}},
        "top_products": {"type": "array", "maxItems": 10, "items": {
            "type": "object", "required": ["sku", "name", "gmv_fen", "quantity"],
            "properties": {"sku": {"type": "string"}, "name": {"type": "string"},
                           "gmv_fen": {"type": "integer"}, "quantity": {"type": "integer"}}}},
        "series": {"type": "array", "items": {
            "type": "object", "required": ["date", "gmv_fen", "orders"],
            "properties": {"date": DAY, "gmv_fen": {"type": "integer"}, "orders": {"type": "integer"}}}},
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
            "schemas": {"Error": ERROR, "Promoter": PROMOTER, "PromoterCreate": PROMOTER_CREATE,
                        "PromoterUpdate": PROMOTER_UPDATE, "Product": PRODUCT,
                        "OrderCreate": ORDER_CREATE, "Order": ORDER, "RefundCreate": REFUND_CREATE,
                        "WebhookEvent": WEBHOOK, "WithdrawalRules": WITHDRAWAL_RULES,
                        "Dashboard": DASHBOARD},
        },
        "paths": {
            **_order_paths(),
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
                },
                "patch": {
                    "summary": "Change a promoter's name, rank, distributor flag, status or upline (all or nothing)",
                    "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {"required": True,
                                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PromoterUpdate"}}}},
                    "responses": {
                        "200": {"description": "The promoter, changed",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Promoter"}}}},
                        **_error_responses(400, 401, 404, 409, 413, 422),
                    },
                },
            },
        },
    }


def _json(ref: str) -> dict:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _order_paths() -> dict:
    external_id = {"name": "external_id", "in": "path", "required": True, "schema": {"type": "string"}}
    order_ok = {"description": "The order", "content": _json("Order")}
    time_body = lambda name: {  # noqa: E731
        "required": False,
        "content": {"application/json": {"schema": {"type": "object", "properties": {name: TIME}}}},
    }
    return {
        "/products/{sku}": {
            "put": {"summary": "Create or update a product by SKU",
                    "parameters": [{"name": "sku", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {"required": True, "content": _json("Product")},
                    "responses": {"200": {"description": "Updated", "content": _json("Product")},
                                  "201": {"description": "Created", "content": _json("Product")},
                                  **_error_responses(400, 401, 413, 422)}},
            "get": {"summary": "A product",
                    "parameters": [{"name": "sku", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "The product", "content": _json("Product")},
                                  **_error_responses(401, 404)}},
        },
        "/orders": {
            "post": {"summary": "Create an order (paid when paid_at is given)", "parameters": [IDEMPOTENCY_KEY],
                     "requestBody": {"required": True, "content": _json("OrderCreate")},
                     "responses": {"201": {"description": "Created", "content": _json("Order")},
                                   **_error_responses(400, 401, 409, 413, 422)}},
            "get": {"summary": "List orders, newest first",
                    "parameters": [
                        {"name": "promoter_code", "in": "query", "required": False, "schema": {"type": "string"}},
                        {"name": "status", "in": "query", "required": False, "schema": {
                            "type": "string",
                            "enum": ["created", "paid", "shipped", "completed", "cancelled", "refunded"]}},
                        {"name": "cursor", "in": "query", "required": False,
                         "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}},
                    ],
                    "responses": {"200": {"description": "A page of orders", "content": {"application/json": {
                        "schema": {"type": "object", "required": ["orders", "next_cursor"], "properties": {
                            "orders": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
                            "next_cursor": {"type": ["string", "null"]}}}}}},
                                  **_error_responses(400, 401, 422)}},
        },
        "/orders/{external_id}": {
            "get": {"summary": "An order", "parameters": [external_id],
                    "responses": {"200": order_ok, **_error_responses(401, 404)}},
        },
        "/orders/{external_id}/paid": {
            "post": {"summary": "Record payment", "parameters": [external_id, IDEMPOTENCY_KEY],
                     "requestBody": time_body("paid_at"),
                     "responses": {"200": order_ok, **_error_responses(400, 401, 404, 409, 422)}},
        },
        "/orders/{external_id}/complete": {
            "post": {"summary": "Received by the buyer; the freeze window counts from here",
                     "parameters": [external_id, IDEMPOTENCY_KEY], "requestBody": time_body("completed_at"),
                     "responses": {"200": order_ok, **_error_responses(400, 401, 404, 409, 422)}},
        },
        "/orders/{external_id}/cancel": {
            "post": {"summary": "Cancel before shipping; reverses everything",
                     "parameters": [external_id, IDEMPOTENCY_KEY],
                     "requestBody": {"required": False, "content": {"application/json": {"schema": {
                         "type": "object", "properties": {"reason": {"type": ["string", "null"]}}}}}},
                     "responses": {"200": order_ok, **_error_responses(400, 401, 404, 409, 422)}},
        },
        "/orders/{external_id}/refunds": {
            "post": {"summary": "Refund amounts per item", "parameters": [external_id, IDEMPOTENCY_KEY],
                     "requestBody": {"required": True, "content": _json("RefundCreate")},
                     "responses": {"201": {"description": "Refunded", "content": {"application/json": {"schema": {
                         "type": "object", "required": ["refund_id", "amount_fen", "order"],
                         "properties": {"refund_id": {"type": "string"}, "amount_fen": {"type": "integer"},
                                        "order": {"$ref": "#/components/schemas/Order"}}}}}},
                                   **_error_responses(400, 401, 404, 409, 413, 422)}},
        },
        "/commission-plan": {
            "get": {"summary": "The commission plan in force",
                    "responses": {"200": {"description": "The plan", "content": {"application/json": {
                        "schema": {"type": "object", "required": ["depth", "rules"]}}}},
                                  **_error_responses(401)}},
            "put": {"summary": "Write a new plan version (older orders keep theirs)", "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["rules"], "additionalProperties": False, "properties": {
                            "depth": {"type": "integer", "minimum": 1, "maximum": 3},
                            "freeze_days": {"type": "integer", "minimum": 0, "maximum": 365},
                            "rounding": {"type": "string", "enum": ["half_up", "half_even"]},
                            "max_total_bp": {"type": "integer", "minimum": 0, "maximum": 10000},
                            "self_purchase": {"type": "boolean"},
                            "consignment_funding": {"type": "string", "enum": ["supplier", "distributor"]},
                            "rules": {"type": "array", "items": {"type": "object"}},
                            "note": {"type": ["string", "null"], "description": "Kept in the plan's history"},
                            "version": {"type": ["integer", "null"],
                                        "description": "What a GET answers; ignored"}}}}}},
                    "responses": {"200": {"description": "The new plan", "content": {"application/json": {
                        "schema": {"type": "object"}}}}, **_error_responses(400, 401, 409, 413, 422)}},
        },
        "/settlement-runs": {
            "post": {"summary": "Start a settlement run (an RQ job)", "parameters": [IDEMPOTENCY_KEY],
                     "requestBody": time_body("as_of"),
                     "responses": {"202": {"description": "Queued", "content": {"application/json": {
                         "schema": {"type": "object", "required": ["id", "status"]}}}},
                         **_error_responses(400, 401, 409, 413, 422)}},
        },
        "/settlement-runs/{id}": {
            "get": {"summary": "A settlement run",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "The run", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["id", "status", "as_of", "settled_count", "settled_fen"]}}}},
                        **_error_responses(401, 404)}},
        },
        "/promoters/{code}/withdrawals": {
            "post": {"summary": "Request a withdrawal (held at once)",
                     "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}},
                                    IDEMPOTENCY_KEY],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "required": ["amount_fen", "method", "account"],
                         "properties": {"amount_fen": {"type": "integer", "minimum": 1},
                                        "method": {"type": "string", "enum": ["bank", "alipay", "wechat"]},
                                        "account": {"type": "string", "minLength": 1, "maxLength": 60},
                                        "account_name": {"type": ["string", "null"]}}}}}},
                     "responses": {"201": {"description": "Requested", "content": {"application/json": {"schema": {
                         "type": "object", "required": ["id", "status", "amount_fen", "fee_fen", "net_fen"]}}}},
                         **_error_responses(400, 401, 404, 409, 413, 422)}},
        },
        "/withdrawals/{id}": {
            "get": {"summary": "A withdrawal",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "The withdrawal", "content": {"application/json": {
                        "schema": {"type": "object"}}}}, **_error_responses(401, 404)}},
        },
        "/withdrawal-rules": {
            "get": {"summary": "The withdrawal rules (提现规则) in force",
                    "responses": {"200": {"description": "The rules", "content": _json("WithdrawalRules")},
                                  **_error_responses(401)}},
            "put": {"summary": "Replace the withdrawal rules (the whole shape)",
                    "requestBody": {"required": True, "content": _json("WithdrawalRules")},
                    "responses": {"200": {"description": "The rules as saved", "content": _json("WithdrawalRules")},
                                  **_error_responses(400, 401, 413, 422)}},
        },
        "/promoters/{code}/statements": {
            "get": {"summary": "A promoter's statement for a period (rendered by a worker)",
                    "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}},
                                   {"name": "period", "in": "query", "required": True,
                                    "schema": {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}}],
                    "responses": {"200": {"description": "Ready, with a download URL", "content": {
                        "application/json": {"schema": {"type": "object"}}}},
                        "202": {"description": "Being rendered", "content": {"application/json": {
                            "schema": {"type": "object"}}}},
                        **_error_responses(401, 404, 422)}},
        },
        "/dashboard": {
            "get": {"summary": "Dashboard figures for brand calendar days from..to (both inclusive, at most 366 days)",
                    "parameters": [{"name": "from", "in": "query", "required": True, "schema": DAY},
                                   {"name": "to", "in": "query", "required": True, "schema": DAY}],
                    "responses": {"200": {"description": "The figures", "content": _json("Dashboard")},
                                  **_error_responses(401, 422)}},
        },
        "/webhooks/orders": {
            "post": {"summary": "Signed order events (X-Distweb-Signature: t=<unix>,v1=<hex HMAC-SHA256>)",
                     "parameters": [{"name": "X-Distweb-Signature", "in": "header", "required": True,
                                     "schema": {"type": "string"}}],
                     "requestBody": {"required": True, "content": _json("WebhookEvent")},
                     "responses": {"200": {"description": "Seen before, and final: {id, status: duplicate, state: "
                                                          "applied|duplicate|rejected|dead|dropped}"},
                                   "202": {"description": "Stored and queued, {id, status: queued}: a worker applies it "
                                                          "in order per external_id; or seen before and not applied "
                                                          "yet, {id, status: duplicate, state: queued|held|failed}"},
                                   **_error_responses(400, 401, 413, 422)}},
        },
    }


@bp.get("/openapi.json")
def openapi():
    return spec()
