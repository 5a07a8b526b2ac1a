"""A paid order placed through the API writes its commission, ledger entries and notices with
the order's own statement on PostgreSQL (``orders._NEW_ORDER_PG``): exactly what paying an
order placed unpaid writes the other way (``commission.on_paid``, ``notifications.order_paid``).
On other databases both orders take the same path."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Text, cast, select

from distweb.extensions import db
from distweb.models import (
    Brand,
    CommissionLine,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Notification,
    Order,
    OrderItem,
    Promoter,
)
from distweb.services import api_keys, commission

PLAN = {
    "depth": 3, "freeze_days": 7, "rounding": "half_up", "max_total_bp": 3000, "self_purchase": False,
    "consignment_funding": "supplier",
    "rules": [
        {"scope": {"sku": None, "category": None, "rank": None}, "level": 1, "kind": "percent", "base": "paid",
         "rate_bp": 1000},
        {"scope": {"sku": None, "category": None, "rank": None}, "level": 2, "kind": "percent", "base": "paid",
         "rate_bp": 500},
        {"scope": {"sku": None, "category": None, "rank": None}, "level": 3, "kind": "percent", "base": "paid",
         "rate_bp": 200},
    ],
}


def _written(order_id: int, roles: dict[int, str], users: dict[int, str]) -> dict:
    """What paying the order wrote, with promoters and users named by role."""
    order = db.session.get(Order, order_id)
    skus = dict(db.session.execute(select(OrderItem.id, OrderItem.sku).where(OrderItem.order_id == order_id)).all())
    lines = db.session.scalars(select(CommissionLine).where(CommissionLine.order_id == order_id)
                               .order_by(CommissionLine.id)).all()
    by_line = {line.id: (skus[line.order_item_id], line.level, line.kind) for line in lines}
    txs = db.session.scalars(select(LedgerTransaction).where(LedgerTransaction.order_id == order_id)).all()
    entries = db.session.execute(
        select(LedgerAccount.kind, LedgerAccount.owner_id, LedgerEntry.amount_fen, LedgerEntry.commission_line_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.transaction_id.in_([t.id for t in txs])).order_by(LedgerEntry.id)).all()
    notices = db.session.scalars(select(Notification).where(Notification.kind.in_(["order_paid", "team_first_sale"]))
                                 .order_by(Notification.id)).all()
    mine = []
    for n in notices:
        data = dict(n.data)
        if data.get("order_no") != order.external_id:
            continue
        data.pop("order_no")
        if n.kind == "order_paid":
            assert data.pop("order_id") == order_id
            # The very text json.dumps gives (the statement builds it around the order's id).
            raw = db.session.scalar(select(cast(Notification.data, Text)).where(Notification.id == n.id))
            assert raw == json.dumps({"order_id": order_id, "order_no": order.external_id,
                                      "amount_fen": order.total_paid_fen})
        else:
            data["promoter_id"] = roles[data["promoter_id"]]
            data["name"] = data["name"] in ("推客丙", "推客丁")
        mine.append((users[n.user_id], n.kind, data, n.push_pending))
    return {
        "lines": [(skus[line.order_item_id], roles[line.promoter_id], line.level, line.kind, line.amount_fen,
                   line.reversed_fen, line.status.value, line.plan_version, line.rule_index) for line in lines],
        "transactions": [(t.kind, t.reference == order.external_id, t.memo) for t in txs],
        "entries": [(kind.value, roles.get(owner, owner) if "promoter" in kind.value else owner, amount,
                     by_line.get(line_id)) for kind, owner, amount, line_id in entries],
        "notices": mine,
    }


@pytest.mark.parametrize("mode", ["promotion", "consignment"])
def test_paid_at_placement_writes_what_paying_later_writes(app, make, client, mode):
    partner = make.promoter(name="合伙人甲")
    mentor = make.promoter(name="导师乙", upline=partner)
    first = make.promoter(name="推客丙", upline=mentor, distributor=True)
    second = make.promoter(name="推客丁", upline=mentor, distributor=True)
    with app.app_context():
        brand = db.session.get(Brand, first.brand_id)
        commission.save_plan(brand.id, PLAN)
        _row, key = api_keys.create_key(brand, "商城")
        roles = {partner.id: "partner", mentor.id: "mentor", first.id: "seller", second.id: "seller"}
        users = {p.user_id: roles[p.id] for p in (partner, mentor, first, second)}

    def call(method, path, body=None):
        return client.open("/api/v1" + path, method=method, headers={"Authorization": f"Bearer {key}"},
                           data=json.dumps(body) if body is not None else None, content_type="application/json")

    for sku, supplier, price, cost in (("TEA-A", "westlake-tea", 5900, 3100), ("TEA-B", "yunnan-leaf", 12800, 7000)):
        assert call("PUT", f"/products/{sku}", {"name": sku, "price_fen": price, "supply_cost_fen": cost,
                                                 "supplier": supplier, "category": "tea",
                                                 "modes": ["promotion", "consignment"]}).status_code == 201

    phones = iter(range(13900000001, 13900000100))

    def order(external_id, promoter, paid):
        body = {"external_id": external_id, "promoter_code": promoter.code, "mode": mode,
                "buyer": {"name": "李女士", "phone": str(next(phones))},
                "items": [{"sku": "TEA-A", "quantity": 2, "paid_fen": 11111}, {"sku": "TEA-B", "quantity": 1}]}
        if paid:
            body["paid_at"] = "2026-11-28T10:00:00+08:00"
        return call("POST", "/orders", body)

    at_once = order("AT-ONCE", first, paid=True)
    assert at_once.status_code == 201, at_once.get_json()
    later = order("LATER-1", second, paid=False)
    assert later.status_code == 201
    paid = call("POST", "/orders/LATER-1/paid", {"paid_at": "2026-11-28T10:00:00+08:00"})
    assert paid.status_code == 200, paid.get_json()

    def shape(body):
        body = dict(body)
        for name in ("external_id", "promoter_code", "buyer", "placed_at"):
            body.pop(name)
        body["commissions"] = [{**c, "promoter_code": c["promoter_code"] in (first.code, second.code)}
                               for c in body["commissions"]]
        body["purchase_orders"] = [{**po, "id": None} for po in body["purchase_orders"]]
        return body

    assert shape(at_once.get_json()) == shape(paid.get_json())
    assert shape(at_once.get_json()) == shape(call("GET", "/orders/AT-ONCE").get_json())
    with app.app_context():
        ids = dict(db.session.execute(select(Order.external_id, Order.id)).all())
        written = _written(ids["AT-ONCE"], roles, users)
        assert written == _written(ids["LATER-1"], roles, users)
        assert len(written["lines"]) == 6 and len(written["transactions"]) == 1
        assert [n[:2] for n in written["notices"]] == [("seller", "order_paid"), ("mentor", "team_first_sale")]
        assert written["notices"][1][2] == {"promoter_id": "seller", "name": True}
        db.session.remove()

    # The seller's second paid order is no first sale: its upline hears nothing of it.
    assert order("AT-ONCE-2", first, paid=True).status_code == 201
    with app.app_context():
        again = _written(db.session.scalar(select(Order.id).where(Order.external_id == "AT-ONCE-2")), roles, users)
        assert [n[:2] for n in again["notices"]] == [("seller", "order_paid")]
        assert db.session.scalar(select(Promoter.id).where(Promoter.id == first.id)) == first.id
        db.session.remove()
