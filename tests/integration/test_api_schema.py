"""Schemathesis against the OpenAPI document: generated requests (good and bad) must never
get a 500 and every response must match the schema."""

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from distweb.services import api_keys

EXAMPLES_PER_OPERATION = int(os.environ.get("DISTWEB_SCHEMATHESIS_EXAMPLES", "15"))
# Schema-valid data can still be refused for what a schema cannot say (an unknown SKU, a
# refund larger than what was paid), and an invalid body may be refused with 400 rather than
# 422: these two checks judge that, the rest (no 5xx, responses and status codes as
# documented, content types) must all hold.
NOT_JUDGED = [positive_data_acceptance, negative_data_rejection]


def test_api_never_500s_and_matches_its_schema(app, make):
    brand = make.brand()
    make.promoter(name="卖家")
    with app.app_context():
        from distweb.extensions import db
        from distweb.models import Brand
        from distweb.services import catalogue

        brand_row = db.session.get(Brand, brand.id)
        catalogue.upsert_product(brand_row, "TEA-001", catalogue.ProductInput(
            name="龙井", price_fen=5900, supply_cost_fen=3100, supplier_code="westlake",
            modes=("promotion", "consignment")))
        _row, key = api_keys.create_key(brand_row, "schemathesis")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {key}"}
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def exercise(case):
            case.call_and_validate(headers=headers, excluded_checks=NOT_JUDGED)

        exercise()
        checked.append(operation.label)
    assert len(checked) >= 10, checked
