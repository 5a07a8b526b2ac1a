"""API v1 promoters: bearer keys, typed fields, idempotency, cycles (docs/API.md)."""

from datetime import UTC, datetime, timedelta

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

        def patch(self, path, json=None, data=None):
            h = {"Authorization": f"Bearer {key}"}
            if data is not None:
                return client.patch("/api/v1" + path, data=data, headers=h, content_type="application/json")
            return client.patch("/api/v1" + path, json=json, headers=h)

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
        ({"name": "A", "phone": "13800000001", "distributor": "true"}, "distributor"),
        ({"name": "A", "phone": "13800000001", "distributor": 1}, "distributor"),
        ({"name": "A", "phone": "13800000001", "joined_at": "2025-03-01T09:30:00"}, "joined_at"),  # no offset
        ({"name": "A", "phone": "13800000001", "joined_at": "三月一日"}, "joined_at"),
        ({"name": "A", "phone": "13800000001", "joined_at": 1740792600}, "joined_at"),
        ({"name": "A", "phone": "13800000001",
          "joined_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "joined_at"),  # in the future
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


# ---------------------------------------------------------------- distributors, joined_at, PATCH


def audit_actions(app, code):
    """(action, actor id, details) of a promoter's audit entries, oldest first."""
    with app.app_context():
        from distweb.extensions import db
        from distweb.models import AuditEntry, Promoter

        promoter = db.session.query(Promoter).filter_by(code=code).one()
        return [(e.action, e.actor_user_id, e.details) for e in
                db.session.query(AuditEntry).filter_by(subject_type="promoter", subject_id=promoter.id)
                .order_by(AuditEntry.id)]


def test_import_a_distributor_who_joined_long_ago(api, app):
    created = api.post("/promoters", {"name": "老分销商", "phone": "13800000010", "distributor": True,
                                      "joined_at": "2024-03-01T09:30:00+08:00"})
    assert created.status_code == 201
    body = created.get_json()
    assert body["distributor"] is True
    assert datetime.fromisoformat(body["joined_at"]) == datetime(2024, 3, 1, 1, 30, tzinfo=UTC)
    shown = api.get(f"/promoters/{body['code']}").get_json()
    assert shown["distributor"] is True and shown["joined_at"] == body["joined_at"]
    assert audit_actions(app, body["code"])[0][2]["distributor"] is True


def test_an_imported_promoter_is_not_a_distributor_and_joins_now_by_default(api):
    before = datetime.now(UTC)
    body = api.post("/promoters", {"name": "推客", "phone": "13800000011", "distributor": None}).get_json()
    assert body["distributor"] is False
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(body["joined_at"]) <= datetime.now(UTC)
    assert api.get(f"/promoters/{body['code']}").get_json()["distributor"] is False


@pytest.fixture
def tree(api):
    """top > mid > low, and a stranger at the top: their codes."""
    top = api.post("/promoters", {"name": "顶", "phone": "13800000021"}).get_json()["code"]
    mid = api.post("/promoters", {"name": "中", "phone": "13800000022", "upline_code": top}).get_json()["code"]
    low = api.post("/promoters", {"name": "下", "phone": "13800000023", "upline_code": mid}).get_json()["code"]
    other = api.post("/promoters", {"name": "外", "phone": "13800000024"}).get_json()["code"]
    return {"top": top, "mid": mid, "low": low, "other": other}


def test_patch_changes_every_field_at_once_with_audit_entries(api, app, tree):
    response = api.patch(f"/promoters/{tree['mid']}", {
        "name": "中间人", "rank": "mentor", "distributor": True, "status": "suspended", "reason": "资料待核实",
        "upline_code": tree["other"]})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["code"], body["name"], body["rank"], body["distributor"], body["status"], body["upline_code"]) == (
        tree["mid"], "中间人", "mentor", True, "suspended", tree["other"])
    assert "balances" in body
    assert api.get(f"/promoters/{tree['mid']}").get_json() == body
    # the move took the downline along: low's second upline is now "other"
    with app.app_context():
        from distweb.extensions import db
        from distweb.models import Promoter

        low = db.session.query(Promoter).filter_by(code=tree["low"]).one()
        other_id = db.session.query(Promoter.id).filter_by(code=tree["other"]).scalar()
        assert low.upline2_id == other_id and low.upline3_id is None
    entries = audit_actions(app, tree["mid"])[1:]  # after the import
    assert [action for action, _actor, _d in entries] == [
        "promoter.rename", "promoter.rank", "promoter.distributor.set", "promoter.suspend", "promoter.move"]
    assert all(actor is None and details["by"] == "api" for _a, actor, details in entries)
    assert entries[0][2]["from"] == "中" and entries[3][2]["reason"] == "资料待核实"
    assert entries[4][2] == {"from": tree["top"], "to": tree["other"], "by": "api"}


def test_patch_moves_to_the_top_reactivates_and_unsets(api, app, tree):
    api.patch(f"/promoters/{tree['low']}", {"status": "suspended", "distributor": True})
    response = api.patch(f"/promoters/{tree['low']}", {"status": "active", "distributor": False,
                                                       "upline_code": None})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["distributor"], body["upline_code"]) == ("active", False, None)
    actions = [a for a, _actor, _d in audit_actions(app, tree["low"])]
    assert actions[-3:] == ["promoter.distributor.unset", "promoter.reactivate", "promoter.move"]


def test_patch_with_what_is_already_there_changes_nothing(api, app, tree):
    body = api.get(f"/promoters/{tree['mid']}").get_json()
    same = {"name": body["name"], "rank": body["rank"], "distributor": False, "status": "active",
            "upline_code": tree["top"]}
    response = api.patch(f"/promoters/{tree['mid']}", same)
    assert response.status_code == 200 and response.get_json() == body
    assert api.patch(f"/promoters/{tree['mid']}", {}).status_code == 200
    assert [a for a, _actor, _d in audit_actions(app, tree["mid"])] == ["promoter.import"]


def test_patch_an_unknown_promoter_is_404(api, tree):
    response = api.patch("/promoters/NOSUCH", {"name": "甲"})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"nickname": "甲"}, "nickname", "unknown_field"),
        ({"name": "甲", "phone": "13800000099"}, "phone", "unknown_field"),
        ({"name": 5}, "name", "invalid_type"),
        ({"name": None}, "name", "invalid_type"),
        ({"name": "  "}, "name", "invalid_name"),
        ({"name": "名" * 61}, "name", "too_long"),
        ({"rank": "king"}, "rank", "invalid_rank"),
        ({"rank": None}, "rank", "invalid_type"),
        ({"distributor": "true"}, "distributor", "invalid_type"),
        ({"distributor": 1}, "distributor", "invalid_type"),
        ({"distributor": None}, "distributor", "invalid_type"),
        ({"status": "pending"}, "status", "invalid_status"),
        ({"status": "rejected"}, "status", "invalid_status"),
        ({"status": True}, "status", "invalid_type"),
        ({"upline_code": 12}, "upline_code", "invalid_type"),
        ({"upline_code": "NOSUCH"}, "upline_code", "unknown_upline"),
        ({"upline_code": "{mid}"}, "upline_code", "self_upline"),
        ({"upline_code": "{low}"}, "upline_code", "cycle"),
        ({"reason": 3, "status": "suspended"}, "reason", "invalid_type"),
        # every other field valid: the one bad field still changes nothing
        ({"name": "新名", "rank": "partner", "distributor": True, "status": "suspended", "upline_code": "{low}"},
         "upline_code", "cycle"),
        ({"name": "新名", "rank": "partner", "distributor": True, "upline_code": "{other}", "status": "asleep"},
         "status", "invalid_status"),
        ({"name": "新名", "rank": "partner", "distributor": True, "colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_patch_refuses_a_bad_field_by_name_and_changes_nothing(api, app, tree, body, field, code):
    body = {k: v.format(**tree) if isinstance(v, str) else v for k, v in body.items()}
    before = api.get(f"/promoters/{tree['mid']}").get_json()
    response = api.patch(f"/promoters/{tree['mid']}", body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["field"] == field and response.get_json()["error"]["code"] == code
    assert api.get(f"/promoters/{tree['mid']}").get_json() == before
    assert [a for a, _actor, _d in audit_actions(app, tree["mid"])] == ["promoter.import"]


def test_patch_a_pending_promoter_to_suspended_is_409_and_changes_nothing(api, app, make):
    from distweb.models.network import PromoterStatus

    waiting = make.promoter(name="待审", status=PromoterStatus.PENDING)
    response = api.patch(f"/promoters/{waiting.code}", {"name": "改名", "status": "suspended"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "invalid_transition"
    shown = api.get(f"/promoters/{waiting.code}").get_json()
    assert (shown["name"], shown["status"]) == ("待审", "pending")
    approved = api.patch(f"/promoters/{waiting.code}", {"status": "active"})
    assert approved.status_code == 200 and approved.get_json()["status"] == "active"
    assert [a for a, _actor, _d in audit_actions(app, waiting.code)] == ["promoter.approve"]


def test_patch_body_must_be_a_json_object(api, tree):
    assert api.patch(f"/promoters/{tree['mid']}", data="[1]").status_code == 400
    assert api.patch(f"/promoters/{tree['mid']}", data="{nope").status_code == 400


def test_openapi_describes_distributors_joined_at_and_patch(client, make):
    make.brand()
    doc = client.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    assert {"distributor", "joined_at"} <= set(schemas["PromoterCreate"]["properties"])
    assert {"distributor", "joined_at"} <= set(schemas["Promoter"]["required"])
    patch = doc["paths"]["/promoters/{code}"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/PromoterUpdate"
    update = schemas["PromoterUpdate"]
    assert update["additionalProperties"] is False
    assert {"name", "rank", "distributor", "status", "upline_code"} <= set(update["properties"])
    assert update["properties"]["status"]["enum"] == ["active", "suspended"]
    assert {"200", "404", "422"} <= set(patch["responses"])
