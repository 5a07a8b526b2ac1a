"""The commission engine on the database: plan versions, pricing paid orders into frozen
commission lines, and reversing them on refunds and cancellations, each with its balanced
ledger transaction written in the order service's own transaction.

Funding (docs/PRODUCT.md):
- promotion and wholesale stock purchases: the brand's commission expense pays every level;
- consignment: at payment the buyer's money splits — supply cost to the supplier's payable,
  the rest to the distributor (L1) as a frozen "margin" line; uplines' commission comes out
  of the supplier's payable, or of the distributor's margin if the plan says so. A margin
  nobody may be paid (a suspended distributor) stays with the brand.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, event, func, insert, select, text
from sqlalchemy.orm import Session

from distweb.domain import commission as rules
from distweb.extensions import db
from distweb.models import (
    CommissionLine,
    CommissionPlan,
    Order,
    Product,
    Promoter,
    User,
)
from distweb.models.base import utcnow
from distweb.models.ledger import AccountKind, LineStatus
from distweb.models.order import OrderMode
from distweb.services import ledger
from distweb.services.errors import ServiceError
from distweb.services.rows import loaded as loaded_rows
from distweb.services.tx import transaction

DEFAULT_PLAN = {
    "depth": 2, "freeze_days": 7, "rounding": "half_up", "max_total_bp": 3000, "self_purchase": False,
    "consignment_funding": "supplier",
    "rules": [
        {"scope": {"sku": None, "category": None, "rank": None}, "level": 1, "kind": "percent", "base": "paid",
         "rate_bp": 1000},
        {"scope": {"sku": None, "category": None, "rank": None}, "level": 2, "kind": "percent", "base": "paid",
         "rate_bp": 500},
    ],
}


# ---------------------------------------------------------------- plans


def current_plan_row(brand_id: int) -> CommissionPlan | None:
    return db.session.scalars(
        select(CommissionPlan).where(CommissionPlan.brand_id == brand_id).order_by(CommissionPlan.version.desc()).limit(1)
    ).first()


def current_plan(brand_id: int) -> tuple[int | None, rules.Plan]:
    """(version, plan) in force; without any saved version, the default plan (version None).

    Read once per database transaction (and kept in the session until it ends), so placing
    an order and pricing it, or pricing a batch of orders, agree on one version without
    reading the plan again; ``save_plan`` forgets it for its brand."""
    known = _session_plans()
    found = known.get(("current", brand_id))
    if found is not None:
        return found
    row = db.session.connection().execute(_CURRENT_PLAN, {"brand_id": brand_id}).first()
    if row is None:
        found = (None, _parsed(DEFAULT_PLAN))
    else:
        found = (row.version, _parsed(row.body))
        known[(brand_id, row.version)] = found[1]
    known[("current", brand_id)] = found
    return found


def remember_current_plan(brand_id: int, version: int | None, body: dict | None) -> None:
    """The plan in force as a caller read it in this transaction (``current_plan_lateral``'s
    row; version None: no saved version), so that ``current_plan`` does not read it again."""
    known = _session_plans()
    if ("current", brand_id) in known:
        return  # read before in this transaction: that one stands
    if version is None:
        known[("current", brand_id)] = (None, _parsed(DEFAULT_PLAN))
    else:
        known[(brand_id, version)] = plan = _parsed(body)
        known[("current", brand_id)] = (version, plan)


def current_plan_lateral():
    """``_CURRENT_PLAN`` as a LATERAL subquery (columns plan_version, plan_body), for a caller
    that reads it beside something else and hands the row to ``remember_current_plan``."""
    return (select(CommissionPlan.version.label("plan_version"), CommissionPlan.body.label("plan_body"))
            .where(CommissionPlan.brand_id == bindparam("plan_brand_id"))
            .order_by(CommissionPlan.version.desc()).limit(1).lateral("current_plan"))


_CURRENT_PLAN = (select(CommissionPlan.version, CommissionPlan.body).where(CommissionPlan.brand_id == bindparam("brand_id"))
                 .order_by(CommissionPlan.version.desc()).limit(1))


def plan_version(brand_id: int, version: int, row_id: int | None = None) -> rules.Plan:
    """A saved version (versions are never edited), read once per database transaction."""
    known = _session_plans()
    plan = known.get((brand_id, version))
    if plan is None:
        plan = known[(brand_id, version)] = _parsed(_plan_body(brand_id, version))
    return plan


def _plan_body(brand_id: int, version: int) -> dict:
    body = db.session.scalar(
        select(CommissionPlan.body).where(CommissionPlan.brand_id == brand_id, CommissionPlan.version == version)
    )
    return body if body is not None else DEFAULT_PLAN


_SESSION_PLANS = "distweb_commission_plans"


def _session_plans() -> dict:
    return db.session.info.setdefault(_SESSION_PLANS, {})


@event.listens_for(Session, "after_transaction_end")
def _forget_plans(session, transaction) -> None:
    """The next transaction reads the plan in force afresh (savepoints ending change nothing)."""
    if transaction.parent is None:
        session.info.pop(_SESSION_PLANS, None)


_cache: dict[str, rules.Plan] = {}


def _parsed(body: dict) -> rules.Plan:
    """Parsed plans by content (parsing checks every rule; the same body parses the same)."""
    key = repr(sorted(body.items(), key=lambda kv: kv[0]))
    plan = _cache.get(key)
    if plan is None:
        plan = rules.parse_plan(body)
        if len(_cache) > 256:
            _cache.clear()
        _cache[key] = plan
    return plan


def catalogue_items(brand_id: int) -> list[rules.CatalogueItem]:
    return [rules.CatalogueItem(sku, category, price) for sku, category, price in db.session.execute(
        select(Product.sku, Product.category, Product.price_fen).where(Product.brand_id == brand_id,
                                                                        Product.active.is_(True)))]


def check_plan(brand_id: int, body) -> rules.Plan:
    """Parse and check a plan body; ServiceError naming the field when it is refused."""
    try:
        plan = rules.parse_plan(body)
        rules.check_against_catalogue(plan, catalogue_items(brand_id))
    except rules.PlanError as err:
        raise ServiceError(err.code, _l("佣金方案有误（%(field)s）：%(message)s", field=err.field or "-",
                                        message=err.message), err.field) from None
    return plan


def save_plan(brand_id: int, body: dict, note: str | None = None, actor: User | None = None) -> CommissionPlan:
    """Write a new version; older orders keep the version that priced them."""
    plan = check_plan(brand_id, body)
    with transaction():
        # The brand row is the lock that serialises version numbers (the unique key backs it up).
        from distweb.models import Brand

        db.session.execute(select(Brand.id).where(Brand.id == brand_id).with_for_update())
        latest = db.session.scalar(select(func.max(CommissionPlan.version)).where(CommissionPlan.brand_id == brand_id))
        row = CommissionPlan(brand_id=brand_id, version=(latest or 0) + 1, body=plan.to_json(),
                             note=(note or "").strip()[:200] or None, created_by_id=actor.id if actor else None)
        db.session.add(row)
        _session_plans().pop(("current", brand_id), None)
    return row


def plan_depth(brand_id: int) -> int:
    """The one depth setting: the plan's (it prices orders and bounds the team views)."""
    return current_plan(brand_id)[1].depth


def set_depth(brand_id: int, depth: int, actor: User | None = None) -> CommissionPlan | None:
    """A new plan version with another depth (the programme page's setting); rules deeper
    than the new depth are dropped, since they could never pay. None when unchanged."""
    _version, plan = current_plan(brand_id)
    if plan.depth == depth:
        return None
    body = plan.to_json()
    body["depth"] = depth
    body["rules"] = [rule for rule in body["rules"] if rule["level"] <= depth]
    return save_plan(brand_id, body, note=f"depth {depth}", actor=actor)


def plan_history(brand_id: int, limit: int = 50) -> list[CommissionPlan]:
    return list(db.session.scalars(
        select(CommissionPlan).where(CommissionPlan.brand_id == brand_id).order_by(CommissionPlan.version.desc()).limit(limit)
    ))


# ---------------------------------------------------------------- pricing a paid order


def _chain(order: Order) -> list[rules.Beneficiary | None]:
    ids = [order.chain_l1_id, order.chain_l2_id, order.chain_l3_id]
    promoters = loaded_rows(Promoter, [i for i in ids if i])
    return [rules.Beneficiary(i, promoters[i].rank.value) if i and i in promoters else None for i in ids]


def _items(order: Order) -> list[rules.ItemLine]:
    products = loaded_rows(Product, [i.product_id for i in order.items])
    return [rules.ItemLine(i.id, i.sku, products[i.product_id].category if i.product_id in products else None,
                           i.quantity, i.paid_fen, i.supply_cost_fen)
            for i in order.items]


def price(order: Order, version: int | None = None) -> tuple[int | None, list[rules.PricedLine]]:
    """The lines an order earns under a plan version (the current one by default)."""
    if version is None:
        version, plan = current_plan(order.brand_id)
    else:
        plan = plan_version(order.brand_id, version)
    lines = rules.price_order(plan, order.mode.value, _items(order), _chain(order), at=order.paid_at,
                              stock_purchase=order.is_stock_purchase)
    return version, lines


class Accrual(NamedTuple):
    """A paid order priced and its ledger transaction drafted, nothing written yet: the plan
    version, the lines (``item_index`` as the caller identified the items), the draft (each
    posting's ``commission_line_id`` is its line's place in ``priced``) and each posting's
    account id."""

    version: int | None
    priced: list[rules.PricedLine]
    draft: ledger.Draft
    accounts: list[int]


def draft_accrual(order: Order, items: list[rules.ItemLine], suppliers: dict[int, int]) -> Accrual | None:
    """Price a paid order and draft its balanced ledger transaction, writing nothing (None:
    nothing to pay). ``items``: its item lines, each ``index`` an item's id, or its position
    for an order not written yet; ``suppliers``: {index: the item's supplier id, or 0}
    (consignment only)."""
    version, plan = current_plan(order.brand_id)
    priced = rules.price_order(plan, order.mode.value, items, _chain(order), at=order.paid_at,
                               stock_purchase=order.is_stock_purchase)
    if not priced:
        return None
    draft = ledger.Draft(order.brand_id, "accrual", order_id=order.id, reference=order.external_id,
                         memo={"plan_version": version}, occurred_at=order.paid_at)
    # Each posting's commission_line_id is, until the lines are written, the line's place in ``priced``.
    if order.mode == OrderMode.CONSIGNMENT:
        _consignment_split(items, suppliers, priced, plan, draft)
    else:
        for slot, line in enumerate(priced):
            draft.move(line.amount_fen, (AccountKind.BRAND_COMMISSION_EXPENSE, 0),
                       (AccountKind.PROMOTER_FROZEN, line.promoter_id), slot)
    ledger.check_balanced(draft)
    accounts = [ledger.account_id(order.brand_id, p.kind, p.owner_id) for p in draft.postings]
    return Accrual(version, priced, draft, accounts)


def on_paid(order: Order) -> None:
    """Price a paid order into frozen lines and post the money (idempotent per order: a
    replay finds the order's lines and writes nothing). No ORM objects: the lines, the
    ledger transaction and its entries are written with set-based statements, one on
    PostgreSQL, three elsewhere. (A new order placed on PostgreSQL has them written by its
    own statement instead: ``draft_accrual`` with ``accrual_json``.)"""
    suppliers = {i.id: _supplier_of(i) for i in order.items} if order.mode == OrderMode.CONSIGNMENT else {}
    accrual = draft_accrual(order, _items(order), suppliers)
    if accrual is None:
        return
    version, priced, draft, accounts = accrual
    if db.session.connection().dialect.name == "postgresql":
        written = _write_accrual_pg(order, version, priced, draft, accounts)
    else:
        written = _write_accrual(order, version, priced, draft, accounts)
    if written:
        # For a response built in this same transaction (the API's, for an order it just
        # placed): what was written, without reading it back. Not a cache: nothing else reads it.
        order.accrued_now = (version, priced)


def accrual_json(accrual: Accrual, product_ids: list[int]) -> tuple[str, str]:
    """(lines, entries) of an accrual as the JSON documents an order's own statement writes
    them from, for an order not written yet: its items by position (``item_index``), each
    found by ``product_ids[position]`` (a product is on one item of an order)."""
    lines = json.dumps([{"n": n, "pr": product_ids[line.item_index], "p": line.promoter_id, "l": line.level,
                         "k": line.kind, "a": line.amount_fen, "r": line.rule_index}
                        for n, line in enumerate(accrual.priced)])
    entries = []
    for n, (posting, account) in enumerate(zip(accrual.draft.postings, accrual.accounts, strict=True)):
        entry = {"n": n, "c": account, "a": posting.amount_fen}
        if posting.commission_line_id is not None:
            line = accrual.priced[posting.commission_line_id]
            entry.update(pr=product_ids[line.item_index], p=line.promoter_id, l=line.level, k=line.kind)
        entries.append(entry)
    return lines, json.dumps(entries)


def accrued_lines_json(order: Order) -> list[dict]:
    """``commission_view.lines_json`` for an order whose lines ``on_paid`` wrote in this
    transaction (all frozen, nothing reversed yet), from what it wrote."""
    version, priced = getattr(order, "accrued_now", (None, []))
    promoters = loaded_rows(Promoter, [line.promoter_id for line in priced])
    ordered = sorted(enumerate(priced), key=lambda slot_line: (slot_line[1].level, slot_line[0]))
    return [
        {"promoter_code": promoters[line.promoter_id].code, "level": line.level, "kind": line.kind,
         "amount_fen": line.amount_fen, "original_fen": line.amount_fen, "reversed_fen": 0, "clawback_fen": 0,
         "status": LineStatus.FROZEN.value, "rule_version": version}
        for _slot, line in ordered
    ]


def _line_row(order: Order, version: int | None, line: rules.PricedLine, now) -> dict:
    return {"brand_id": order.brand_id, "order_id": order.id, "order_item_id": line.item_index,
            "promoter_id": line.promoter_id, "level": line.level, "kind": line.kind, "amount_fen": line.amount_fen,
            "reversed_fen": 0, "clawback_fen": 0, "status": LineStatus.FROZEN, "plan_version": version,
            "rule_index": line.rule_index, "created_at": now}


_LINES = CommissionLine.__table__
_INSERT_LINES = insert(_LINES).returning(_LINES.c.id, sort_by_parameter_order=True)


def _write_accrual(order, version, priced, draft, accounts) -> bool:
    """Three statements: the ledger transaction (only while the order has no lines), the
    lines, the entries."""
    now = utcnow()
    tx_id = ledger.open_transaction(draft, unless=select(CommissionLine.id).where(CommissionLine.order_id == order.id),
                                    at=now)
    if tx_id is None:
        return False  # priced before: its lines and money stand
    ids = db.session.connection().execute(_INSERT_LINES, [_line_row(order, version, line, now) for line in priced]
                                          ).scalars().all()
    ledger.write_entries(tx_id, draft, accounts, line_ids=ids, at=now)
    return True


# One statement: the transaction only while the order has no lines (so a replay writes
# nothing at all), the lines in pricing order, and the entries in posting order, each joined
# to its line by the line's unique key (item, promoter, level, kind). Lines and entries
# travel as one JSON document each (cheaper to send than a dozen arrays).
_ACCRUAL_PG = text("""
WITH tx AS (
    INSERT INTO ledger_transactions (brand_id, kind, order_id, reference, memo, created_at, occurred_at)
    SELECT CAST(:brand_id AS INTEGER), 'accrual', CAST(:order_id AS INTEGER), CAST(:reference AS VARCHAR),
           CAST(:memo AS JSON), CAST(:now AS TIMESTAMPTZ), CAST(:occurred_at AS TIMESTAMPTZ)
    WHERE NOT EXISTS (SELECT 1 FROM commission_lines WHERE order_id = CAST(:order_id AS INTEGER))
    RETURNING id
), lines AS (
    INSERT INTO commission_lines (brand_id, order_id, order_item_id, promoter_id, level, kind, amount_fen,
                                  reversed_fen, clawback_fen, status, plan_version, rule_index, created_at)
    SELECT CAST(:brand_id AS INTEGER), CAST(:order_id AS INTEGER), l.i, l.p, l.l, l.k, l.a,
           0, 0, 'frozen', CAST(:version AS INTEGER), l.r, CAST(:now AS TIMESTAMPTZ)
    FROM tx, json_to_recordset(CAST(:lines AS JSON)) AS l (n INTEGER, i INTEGER, p INTEGER, l INTEGER, k VARCHAR,
                                                          a INTEGER, r INTEGER)
    ORDER BY l.n
    RETURNING id, order_item_id, promoter_id, level, kind
), entries AS (
    INSERT INTO ledger_entries (transaction_id, account_id, amount_fen, commission_line_id, created_at)
    SELECT tx.id, e.c, e.a, lines.id, CAST(:now AS TIMESTAMPTZ)
    FROM tx, json_to_recordset(CAST(:entries AS JSON)) AS e (n INTEGER, c INTEGER, a BIGINT, i INTEGER, p INTEGER,
                                                            l INTEGER, k VARCHAR)
    LEFT JOIN lines ON lines.order_item_id = e.i AND lines.promoter_id = e.p AND lines.level = e.l AND lines.kind = e.k
    ORDER BY e.n
)
SELECT id FROM tx
""")


def _write_accrual_pg(order, version, priced, draft, accounts) -> bool:
    entries = []
    for n, (posting, account) in enumerate(zip(draft.postings, accounts, strict=True)):
        entry = {"n": n, "c": account, "a": posting.amount_fen}
        if posting.commission_line_id is not None:
            line = priced[posting.commission_line_id]
            entry.update(i=line.item_index, p=line.promoter_id, l=line.level, k=line.kind)
        entries.append(entry)
    return db.session.connection().execute(_ACCRUAL_PG, {
        "brand_id": order.brand_id, "order_id": order.id, "reference": draft.reference,
        "memo": json.dumps(draft.memo), "now": utcnow(), "version": version, "occurred_at": order.paid_at,
        "lines": json.dumps([{"n": n, "i": line.item_index, "p": line.promoter_id, "l": line.level, "k": line.kind,
                              "a": line.amount_fen, "r": line.rule_index} for n, line in enumerate(priced)]),
        "entries": json.dumps(entries),
    }).scalar() is not None


def _consignment_split(items: list[rules.ItemLine], suppliers: dict[int, int], priced, plan, draft) -> None:
    """At payment the buyer's money splits: the supplier's cost, the distributor's margin
    (frozen), the rest to the brand; uplines' commission is funded by the supplier, or by
    the distributor's margin when the plan says so."""
    margins = {line.item_index: (line, slot) for slot, line in enumerate(priced) if line.kind == "margin"}
    by_index = {i.index: i for i in items}
    for item in items:
        margin = margins.get(item.index)
        draft.add(AccountKind.BRAND_CLEARING, 0, -item.paid_fen)
        draft.add(AccountKind.SUPPLIER_PAYABLE, suppliers[item.index], item.supply_cost_fen)
        rest = item.paid_fen - item.supply_cost_fen
        if margin is not None:
            draft.add(AccountKind.PROMOTER_FROZEN, margin[0].promoter_id, margin[0].amount_fen, margin[1])
            rest -= margin[0].amount_fen
        draft.add(AccountKind.BRAND_REVENUE, 0, rest)  # skipped margin, or a sale below cost
    for slot, line in enumerate(priced):
        if line.kind != "commission":
            continue
        item = by_index[line.item_index]
        margin = margins.get(item.index)
        if plan.consignment_funding == "distributor" and margin is not None:
            source = (AccountKind.PROMOTER_FROZEN, margin[0].promoter_id)  # a new margin is frozen
        else:
            source = (AccountKind.SUPPLIER_PAYABLE, suppliers[item.index])
        draft.move(line.amount_fen, source, (AccountKind.PROMOTER_FROZEN, line.promoter_id), slot)


def _supplier_of(item) -> int:
    return item.product.supplier_id or 0


def _margin_line(rows, item_id):
    return next((r for r in rows if r.order_item_id == item_id and r.kind == "margin"), None)


def _funding(order, plan, row, rows, item) -> tuple[AccountKind, int]:
    """Who pays this line."""
    if order.mode != OrderMode.CONSIGNMENT:
        return AccountKind.BRAND_COMMISSION_EXPENSE, 0
    if plan.consignment_funding == "distributor":
        margin_row = _margin_line(rows, item.id)
        if margin_row is not None:
            return _holding_account(margin_row), margin_row.promoter_id
    return AccountKind.SUPPLIER_PAYABLE, _supplier_of(item)


def _holding_account(row: CommissionLine) -> AccountKind:
    """Where a line's money sits now: frozen until settled, then the available wallet."""
    return AccountKind.PROMOTER_FROZEN if row.status == LineStatus.FROZEN else AccountKind.PROMOTER_AVAILABLE


# ---------------------------------------------------------------- reversing


@lru_cache(maxsize=64)
def _rounding_for(brand_id: int, version: int | None) -> str:
    return (_plan_body(brand_id, version) if version else DEFAULT_PLAN).get("rounding", "half_up")


def on_refunded(order: Order, refund) -> None:
    """Reverse in proportion to what each item has had refunded (cumulative)."""
    now = {line.order_item_id: line.amount_fen for line in refund.lines}
    after = {item.id: item.refunded_fen for item in order.items}
    before = {item_id: refunded - now.get(item_id, 0) for item_id, refunded in after.items()}
    _reverse(order, before, after, "reversal", refund.refund_id)


def on_cancelled(order: Order) -> None:
    """A cancelled order keeps nothing."""
    before = {item.id: item.refunded_fen for item in order.items}
    _reverse(order, before, {item.id: item.paid_fen for item in order.items}, "cancellation", None)


def _reverse(order: Order, before: dict[int, int], refunded: dict[int, int], kind: str,
             reference: str | None) -> None:
    rows = list(db.session.scalars(select(CommissionLine).where(CommissionLine.order_id == order.id)
                                   .order_by(CommissionLine.id).with_for_update()))
    version = rows[0].plan_version if rows else None
    plan = plan_version(order.brand_id, version) if version else rules.parse_plan(DEFAULT_PLAN)
    items = {i.id: i for i in order.items}
    draft = ledger.Draft(order.brand_id, kind, order_id=order.id, reference=reference or order.external_id)
    if order.mode == OrderMode.CONSIGNMENT:
        _reverse_consignment_money(order, rows, before, refunded, plan, draft)
    for row in rows:
        if row.kind == "margin" or row.status == LineStatus.REVERSED:
            continue
        item = items[row.order_item_id]
        target = rules.kept_after_refund(row.amount_fen, item.paid_fen, refunded[item.id], plan.rounding)
        delta = row.kept_fen - target
        if delta <= 0:
            continue
        _take_back(row, delta, _funding(order, plan, row, rows, item), draft)
    ledger.post(draft)


def _take_back(row: CommissionLine, delta: int, to: tuple[AccountKind, int], draft: ledger.Draft) -> None:
    """Reduce a line by ``delta``: from frozen money, or as a clawback from the wallet once
    settled (the wallet may go negative; later earnings make it good)."""
    source = _holding_account(row)
    if source == AccountKind.PROMOTER_AVAILABLE:
        row.clawback_fen += delta
    draft.move(delta, (source, row.promoter_id), to, row.id)
    row.reversed_fen += delta
    if row.kept_fen == 0:
        row.status = LineStatus.REVERSED


def _reverse_consignment_money(order, rows, refunded_before, refunded, plan, draft) -> None:
    """Give the buyer's money back out of the split: the supplier's share of the cost and the
    margin holder's share, in proportion, so that the parts always make up the refund."""
    for item in order.items:
        before, after = refunded_before[item.id], refunded[item.id]
        refund_now = after - before
        if refund_now <= 0:
            continue
        cost_kept_before = rules.kept_after_refund(item.supply_cost_fen, item.paid_fen, before, plan.rounding)
        cost_kept_after = rules.kept_after_refund(item.supply_cost_fen, item.paid_fen, after, plan.rounding)
        cost_back = cost_kept_before - cost_kept_after
        draft.add(AccountKind.BRAND_CLEARING, 0, refund_now)
        draft.add(AccountKind.SUPPLIER_PAYABLE, _supplier_of(item), -cost_back)
        margin_back = refund_now - cost_back
        margin_row = _margin_line(rows, item.id)
        if margin_row is not None and margin_row.status != LineStatus.REVERSED:
            take = min(margin_back, margin_row.kept_fen)
            if take > 0:
                source = _holding_account(margin_row)
                if source == AccountKind.PROMOTER_AVAILABLE:
                    margin_row.clawback_fen += take
                draft.add(source, margin_row.promoter_id, -take, margin_row.id)
                margin_row.reversed_fen += take
                if margin_row.kept_fen == 0:
                    margin_row.status = LineStatus.REVERSED
                margin_back -= take
        draft.add(AccountKind.BRAND_REVENUE, 0, -margin_back)


# ---------------------------------------------------------------- reading


def lines_for_order(order_id: int) -> list[tuple[CommissionLine, str]]:
    return list(db.session.execute(
        select(CommissionLine, Promoter.code).join(Promoter, Promoter.id == CommissionLine.promoter_id)
        .where(CommissionLine.order_id == order_id).order_by(CommissionLine.level, CommissionLine.id)
    ).all())
