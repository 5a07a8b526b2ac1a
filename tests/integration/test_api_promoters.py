"""API v1 promoters: bearer keys, typed fields, idempotency, cycles (docs/API.md)."""

import pytest

from distweb.services import api_keys


@pytest.fixture
def api(app, make, client):
    brand = make.brand()
    with app.app_context():
        from distweb.extensions import db
        from distweb.models import Brand

        _row, key = api_keys.create_key(db.session.get(Brand, brand.id), "ERP")

    class Api:
        def post(self, path, json=None, headers=None, data=None):
            h = {"Authorization": f"Bearer {key}", **(headers or {})}
            if data is not None:
                return client.post("/api/v1" + path, data=data, headers=h, content_type="application/json")
            return client.post("/api/v1" + path, json=json, headers=h)

        def get(self, path):
            return client.get("/api/v1" + path, headers={"Authorization": f"Bearer {key}"})

    return Api()


def test_import_a_network_and_read_it_back(api):
    top = api.post("/promoters", {"name": "王小明", "phone": "13800000000", "upline_code": None, "rank": "partner"})
    assert top.status_code == 201
    body = top.get_json()
    assert body["rank"] == "partner" and body["status"] == "active" and body["upline_code"] is None
    assert body["invite_url"].endswith("/j/" + body["code"])
    child = api.post("/promoters", {"name": "李四", "phone": "13800000002", "upline_code": body["code"]}).get_json()
    assert child["upline_code"] == body["code"] and child["rank"] == "promoter"
    shown = api.get(f"/promoters/{child['code']}").get_json()
    assert shown["name"] == "李四"
    assert shown["balances"] == {"frozen_fen": 0, "available_fen": 0, "pending_withdrawal_fen": 0, "withdrawn_fen": 0}


def test_missing_or_wrong_key_is_401(client, make):
    make.brand()
    assert client.get("/api/v1/promoters/X").status_code == 401
    response = client.get("/api/v1/promoters/X", headers={"Authorization": "Bearer dw_live_nope"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_revoked_key_is_401(app, api, make, client):
    with app.app_context():
        from distweb.extensions import db
        from distweb.models import ApiKey, Brand

        key = db.session.query(ApiKey).one()
        api_keys.revoke_key(db.session.get(Brand, key.brand_id), key.id)
    assert api.get("/promoters/X").status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "13800000001"}, "name"),
        ({"name": 12, "phone": "13800000001"}, "name"),
        ({"name": "A", "phone": 13800000001}, "phone"),
        ({"name": "A", "phone": "123"}, "phone"),
        ({"name": "A", "phone": "13800000001", "upline_code": "AB\x00CD"}, "upline_code"),
        ({"name": "A", "phone": "13800000001", "rank": "king"}, "rank"),
        ({"name": "A", "phone": "13800000001", "upline_code": "NOSUCH"}, "upline_code"),
    ],
)
def test_bad_fields_are_422_naming_the_field_and_write_nothing(api, app, body, field):
    response = api.post("/promoters", body)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    with app.app_context():
        from distweb.extensions import db
        from distweb.models import Promoter

        assert db.session.query(Promoter).count() == 0


def test_not_json_is_400_and_oversized_is_413(api):
    assert api.post("/promoters", data="{not json").status_code == 400
    assert api.post("/promoters", data="[1, 2]").status_code == 400
    big = '{"name": "' + "x" * (1024 * 1024) + '"}'
    assert api.post("/promoters", data=big).status_code == 413


def test_duplicate_phone_is_409(api):
    api.post("/promoters", {"name": "A", "phone": "13800000003"})
    response = api.post("/promoters", {"name": "B", "phone": "13800000003"})
    assert response.status_code == 409 and response.get_json()["error"]["field"] == "phone"


def test_idempotency_key_replays_and_conflicts(api, app):
    body = {"name": "A", "phone": "13800000004"}
    first = api.post("/promoters", body, headers={"Idempotency-Key": "k-1"})
    again = api.post("/promoters", body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    other = api.post("/promoters", {"name": "B", "phone": "13800000005"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "idempotency_conflict"
    with app.app_context():
        from distweb.extensions import db
        from distweb.models import Promoter

        assert db.session.query(Promoter).count() == 1


def test_unknown_promoter_is_404_json(api):
    response = api.get("/promoters/NOPE")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_openapi_document_is_public_and_describes_promoters(client, make):
    make.brand()
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert "/promoters" in doc["paths"] and "/promoters/{code}" in doc["paths"]


def test_a_nul_byte_in_a_query_is_a_400_not_a_500(api, client):
    assert api.get("/promoters?cursor=1%00").status_code == 400
    assert client.get("/r/ABC%00DEF").status_code == 400
    assert client.get("/auth/login?next=%00").status_code == 400
