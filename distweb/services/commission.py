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

import functools
import json
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Integer, String, bindparam, event, func, insert, literal, select
from sqlalchemy.orm import Session

from distweb.domain import commission as rules
from distweb.extensions import db
from distweb.models import (
    CommissionLine,
    CommissionPlan,
    LedgerTransaction,
    Order,
    Product,
    Promoter,
    User,
)
from distweb.models.base import UTCDateTime, json_rows, utcnow
from distweb.models.ledger import AccountKind, LineStatus
from distweb.models.order import OrderMode
from distweb.services import ledger, rollups
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
    """The plan in force as a caller read it in this transaction (``PLAN_IN_FORCE``'s two
    values; version None: no saved version), so that ``current_plan`` does not read it again."""
    known = _session_plans()
    if ("current", brand_id) in known:
        return  # read before in this transaction: that one stands
    if version is None:
        known[("current", brand_id)] = (None, _parsed(DEFAULT_PLAN))
    else:
        known[(brand_id, version)] = plan = _parsed(body)
        known[("current", brand_id)] = (version, plan)


def plan_in_force_columns(brand_id_param: str = "brand_id"):
    """The version and body of the plan in force, as two labelled scalar subqueries (for a
    caller that reads them beside something else and hands them to ``remember_current_plan``)."""
    latest = (select(func.max(CommissionPlan.version))
              .where(CommissionPlan.brand_id == bindparam(brand_id_param)).scalar_subquery())
    return [latest.label("plan_version"),
            select(CommissionPlan.body).where(CommissionPlan.brand_id == bindparam(brand_id_param),
                                              CommissionPlan.version == latest)
            .scalar_subquery().label("plan_body")]


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
    """Check a plan body as written (its whole shape: ``rules.check_shape``), parse it and
    check it against the catalogue; ServiceError naming the field when it is refused."""
    try:
        rules.check_shape(body)
        plan = rules.parse_plan(body)
        rules.check_against_catalogue(plan, catalogue_items(brand_id))
    except rules.PlanError as err:
        if err.code == "unknown_field":
            message = _l("未知字段 %(name)s。", name=err.field)
        elif err.code == "missing_field":
            message = _l("缺少字段 %(name)s。", name=err.field)
        else:
            message = _l("佣金方案有误（%(field)s）：%(message)s", field=err.field or "-", message=err.message)
        raise ServiceError(err.code, message, err.field) from None
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
    return version, _priced(order, plan)


def plan_that_priced(brand_id: int, version: int | None) -> rules.Plan:
    """The plan that priced lines written with ``plan_version`` = ``version``: that saved
    version, or, for None (no plan was saved when the order was paid), the built-in default
    plan, whatever has been saved since."""
    return plan_version(brand_id, version) if version is not None else _parsed(DEFAULT_PLAN)


def reprice(order: Order, version: int | None) -> list[rules.PricedLine]:
    """The lines an order's commission lines, written with ``plan_version`` = ``version``,
    must be: the order priced again by the plan that priced them (``plan_that_priced``)."""
    return _priced(order, plan_that_priced(order.brand_id, version))


def _priced(order: Order, plan: rules.Plan) -> list[rules.PricedLine]:
    return rules.price_order(plan, order.mode.value, _items(order), _chain(order), at=order.paid_at,
                             stock_purchase=order.is_stock_purchase)


class Accrual(NamedTuple):
    """A paid order priced and its ledger transaction drafted, nothing written yet: the plan
    version, the lines, and the draft (each posting's ``commission_line_id`` is its line's
    place in ``priced`` until the lines are written)."""

    version: int | None
    priced: list[rules.PricedLine]
    draft: ledger.Draft


def draft_accrual(order: Order, items: list[rules.ItemLine], suppliers: dict[int, int]) -> Accrual | None:
    """Price a paid order and draft its balanced ledger transaction at the order's payment
    time, writing nothing (None: nothing to pay). ``items``: its item lines, each ``index``
    an item's id; ``suppliers``: {item id: the item's supplier id, or 0} (consignment only)."""
    version, plan = current_plan(order.brand_id)
    priced = rules.price_order(plan, order.mode.value, items, _chain(order), at=order.paid_at,
                               stock_purchase=order.is_stock_purchase)
    if not priced and order.mode != OrderMode.CONSIGNMENT:
        return None  # (a consignment order always splits the buyer's money, earned by anyone or not)
    draft = ledger.Draft(order.brand_id, "accrual", order_id=order.id, reference=order.external_id,
                         memo={"plan_version": version}, occurred_at=order.paid_at)
    if order.mode == OrderMode.CONSIGNMENT:
        _consignment_split(items, suppliers, priced, plan, draft)
    else:
        for slot, line in enumerate(priced):
            # The promoter's leg is the line's; the brand's expense is one entry per order.
            draft.move(line.amount_fen, (AccountKind.BRAND_COMMISSION_EXPENSE, 0),
                       (AccountKind.PROMOTER_FROZEN, line.promoter_id), None, slot)
    ledger.check_balanced(draft)
    return Accrual(version, priced, draft)


_ACCRUED = (select(LedgerTransaction.order_id)
            .where(LedgerTransaction.order_id.in_(bindparam("order_ids", expanding=True)),
                   LedgerTransaction.kind == "accrual"))


def on_paid(order: Order, new_order: bool = False) -> None:
    """Price a paid order into frozen lines and post its money (``accrue`` of one order)."""
    accrue([order], new_orders=new_order)


def accrue(orders: list[Order], new_orders: bool = False) -> int:
    """Price paid orders into frozen lines and post each one's balanced ledger transaction,
    in the caller's transaction, with a fixed number of statements however many orders:
    the lines of all of them (one INSERT), then their ledger transactions and entries
    (``ledger.post_many``). The one accrual path: an order paid by the API, by a manager or
    by a notification is a batch of one; bulk payments and imports pass many.

    Idempotent per order: an order whose accrual is on the books already is skipped (one
    SELECT for the batch; ``new_orders``: the caller wrote them in this transaction, so none
    is). Returns how many orders were accrued. The same statements on every database."""
    if not orders:
        return 0
    if not new_orders:
        done = set(db.session.connection().execute(_ACCRUED, {"order_ids": [o.id for o in orders]}).scalars())
        orders = [o for o in orders if o.id not in done]
    drafted = []
    for order in orders:
        suppliers = {i.id: _supplier_of(i) for i in order.items} if order.mode == OrderMode.CONSIGNMENT else {}
        accrual = draft_accrual(order, _items(order), suppliers)
        if accrual is not None:
            drafted.append((order, accrual))
    if not drafted:
        return 0
    now = utcnow()
    rows = [_line_row(order, accrual.version, line) for order, accrual in drafted for line in accrual.priced]
    connection = db.session.connection()
    line_ids = {}
    if rows:
        # Each new line's id, found by the line's unique key (RETURNING gives no order).
        line_ids = {(order_id, item_id, promoter_id, level, kind): line_id
                    for line_id, order_id, item_id, promoter_id, level, kind in connection.execute(
                        _insert_lines(), {"lines": json.dumps(rows), "now": now})}
    posts = []
    for order, accrual in drafted:
        ids = [line_ids[(order.id, line.item_index, line.promoter_id, line.level, line.kind)]
               for line in accrual.priced]
        posts.append((accrual.draft, ids))
        # For a response built in this same transaction (the API's, for an order it just
        # placed): what was written, without reading it back. Not a cache: nothing else reads it.
        order.accrued_now = (accrual.version, accrual.priced)
        for line in accrual.priced:
            rollups.commission(order, line.promoter_id, line.amount_fen)
    ledger.post_many(posts)
    return len(drafted)


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


def _line_row(order: Order, version: int | None, line: rules.PricedLine) -> dict:
    return {"brand_id": order.brand_id, "order_id": order.id, "order_item_id": line.item_index,
            "promoter_id": line.promoter_id, "level": line.level, "kind": line.kind, "amount_fen": line.amount_fen,
            "plan_version": version, "rule_index": line.rule_index}


_LINES = CommissionLine.__table__
_LINE_COLUMNS = [("brand_id", Integer()), ("order_id", Integer()), ("order_item_id", Integer()),
                 ("promoter_id", Integer()), ("level", Integer()), ("kind", String()), ("amount_fen", BigInteger()),
                 ("plan_version", Integer()), ("rule_index", Integer())]


@functools.cache
def _insert_lines():
    """New frozen lines from the JSON document ``lines`` (``_line_row``s), written at ``now``,
    returning each one's id and unique key: one INSERT … SELECT for a whole batch (built
    once, on first use: it depends on the database the app runs on)."""
    rows = json_rows("lines", _LINE_COLUMNS).subquery("line")
    return insert(_LINES).from_select(
        [name for name, _type in _LINE_COLUMNS] + ["reversed_fen", "clawback_fen", "status", "created_at"],
        select(*rows.c, literal(0), literal(0), literal(LineStatus.FROZEN.value),
               bindparam("now", type_=UTCDateTime()))
    ).returning(_LINES.c.id, _LINES.c.order_id, _LINES.c.order_item_id, _LINES.c.promoter_id, _LINES.c.level,
                _LINES.c.kind)



def _consignment_split(items: list[rules.ItemLine], suppliers: dict[int, int], priced, plan, draft) -> None:
    """At payment the buyer's money splits, item by item: the supply cost to the supplier's
    payable, the margin to the distributor (a frozen "margin" line), the rest (a margin no
    one may be paid, or a sale below cost) to the brand. The uplines' commission is funded
    by the supplier's payable, or, when the plan says ``consignment_funding: distributor``,
    out of the distributor's margin: its margin line is credited in full and each upline's
    commission moves from it (both entries tagged: the margin line keeps what is left), or
    from the brand's share when there is no margin line (a suspended distributor's margin
    stays with the brand)."""
    by_distributor = plan.consignment_funding == "distributor"
    for item in items:
        margin = next(((slot, line) for slot, line in enumerate(priced)
                       if line.item_index == item.index and line.kind == "margin"), None)
        uplines = [(slot, line) for slot, line in enumerate(priced)
                   if line.item_index == item.index and line.kind == "commission"]
        draft.add(AccountKind.BRAND_CLEARING, 0, -item.paid_fen)
        draft.add(AccountKind.SUPPLIER_PAYABLE, suppliers[item.index], item.supply_cost_fen)
        rest = item.paid_fen - item.supply_cost_fen
        if margin is not None:
            slot, line = margin
            credited = line.amount_fen + (sum(u.amount_fen for _s, u in uplines) if by_distributor else 0)
            draft.add(AccountKind.PROMOTER_FROZEN, line.promoter_id, credited, slot)
            rest -= credited
        draft.add(AccountKind.BRAND_REVENUE, 0, rest)
        for slot, line in uplines:
            target = (AccountKind.PROMOTER_FROZEN, line.promoter_id)
            if not by_distributor:
                draft.move(line.amount_fen, (AccountKind.SUPPLIER_PAYABLE, suppliers[item.index]), target, None, slot)
            elif margin is not None:
                draft.move(line.amount_fen, (AccountKind.PROMOTER_FROZEN, margin[1].promoter_id), target,
                           margin[0], slot)
            else:
                draft.move(line.amount_fen, (AccountKind.BRAND_REVENUE, 0), target, None, slot)


def _supplier_of(item) -> int:
    return item.product.supplier_id or 0


def _holding_account(row: CommissionLine) -> AccountKind:
    """Where a line's money sits now: frozen until settled, then the available wallet (a
    line paid out is still taken back from the wallet, which may go negative)."""
    return AccountKind.PROMOTER_FROZEN if row.status == LineStatus.FROZEN else AccountKind.PROMOTER_AVAILABLE


# ---------------------------------------------------------------- reversing


def on_refunded(order: Order, refund) -> None:
    """Reverse in proportion to what each item has had refunded (cumulative), at the
    refund's time."""
    now = {line.order_item_id: line.amount_fen for line in refund.lines}
    after = {item.id: item.refunded_fen for item in order.items}
    before = {item_id: refunded - now.get(item_id, 0) for item_id, refunded in after.items()}
    _reverse(order, before, after, "reversal", refund.refund_id, refund.created_at)


def on_cancelled(order: Order) -> None:
    """A cancelled order keeps nothing: every item refunded in full, at the cancellation."""
    before = {item.id: item.refunded_fen for item in order.items}
    _reverse(order, before, {item.id: item.paid_fen for item in order.items}, "cancellation", None,
             order.cancelled_at)


def _reverse(order: Order, before: dict[int, int], after: dict[int, int], kind: str, reference: str | None,
             at) -> None:
    """One balanced transaction giving back, item by item, what the refund now reaching
    ``after`` takes from each holder of the item's money. The item's lines give back their
    largest-remainder parts (``rules.reversal_parts``): to the brand's commission expense
    (promotion, wholesale), to the supplier (consignment uplines it funded), or to the buyer
    (a margin, and uplines funded out of it). On consignment the buyer's money comes back
    through the clearing account: the supplier returns its cost in proportion (rounded
    once, cumulatively), the lines their parts, the brand the rest."""
    rows = list(db.session.scalars(select(CommissionLine).where(CommissionLine.order_id == order.id)
                                   .order_by(CommissionLine.id).with_for_update()))
    plan = plan_that_priced(order.brand_id, rows[0].plan_version if rows else None)
    consignment = order.mode == OrderMode.CONSIGNMENT
    draft = ledger.Draft(order.brand_id, kind, order_id=order.id, reference=reference or order.external_id,
                         occurred_at=at)
    for item in order.items:
        refunded_before, refunded_after = before[item.id], after[item.id]
        if refunded_after <= refunded_before:
            continue
        its = [row for row in rows if row.order_item_id == item.id]
        parts, cost_back = _item_reversal(item, its, refunded_before, refunded_after, plan)
        buyer_funded = 0
        for row, part in zip(its, parts, strict=True):
            if not part:
                continue
            source = _holding_account(row)
            if source == AccountKind.PROMOTER_AVAILABLE:
                row.clawback_fen += part
            row.reversed_fen += part
            rollups.commission(order, row.promoter_id, -part)
            if row.kept_fen == 0:
                row.status = LineStatus.REVERSED
            if not consignment:
                draft.move(part, (source, row.promoter_id), (AccountKind.BRAND_COMMISSION_EXPENSE, 0), row.id)
            elif row.kind == "commission" and plan.consignment_funding == "supplier":
                draft.move(part, (source, row.promoter_id), (AccountKind.SUPPLIER_PAYABLE, _supplier_of(item)), row.id)
            else:
                draft.add(source, row.promoter_id, -part, row.id)
                buyer_funded += part
        if consignment:
            refund_now = refunded_after - refunded_before
            draft.add(AccountKind.BRAND_CLEARING, 0, refund_now)
            draft.add(AccountKind.SUPPLIER_PAYABLE, _supplier_of(item), -cost_back)
            draft.add(AccountKind.BRAND_REVENUE, 0, -(refund_now - cost_back - buyer_funded))
    ledger.post(draft)


def _item_reversal(item, its: list[CommissionLine], refunded_before: int, refunded_after: int,
                   plan) -> tuple[list[int], int]:
    """What an item's refunds reaching ``refunded_after`` take back now: each of its lines'
    part (``its`` order) and the supplier's supply cost (consignment), each rounded once."""
    parts = rules.reversal_parts([row.amount_fen for row in its], [row.kept_fen for row in its],
                                 item.paid_fen, refunded_after, plan.rounding)
    cost_back = (rules.kept_after_refund(item.supply_cost_fen, item.paid_fen, refunded_before, plan.rounding)
                 - rules.kept_after_refund(item.supply_cost_fen, item.paid_fen, refunded_after, plan.rounding))
    return parts, cost_back


def refund_takes_back(order: Order, amounts: dict[int, int]) -> tuple[dict[int, int], dict[int, int]]:
    """What a refund of ``amounts`` ({item id: fen}) would take back, computed as the
    reversal will compute it, writing nothing: ({supplier: net fen its payable loses},
    {line id: fen}). For a split that has gone out, what the receivers must return."""
    rows = list(db.session.scalars(select(CommissionLine).where(CommissionLine.order_id == order.id)
                                   .order_by(CommissionLine.id)))
    plan = plan_that_priced(order.brand_id, rows[0].plan_version if rows else None)
    consignment = order.mode == OrderMode.CONSIGNMENT
    suppliers: dict[int, int] = {}
    lines: dict[int, int] = {}
    for item in order.items:
        add = amounts.get(item.id, 0)
        if add <= 0:
            continue
        its = [row for row in rows if row.order_item_id == item.id]
        parts, cost_back = _item_reversal(item, its, item.refunded_fen, min(item.paid_fen, item.refunded_fen + add),
                                          plan)
        supplier = _supplier_of(item) if consignment else 0
        for row, part in zip(its, parts, strict=True):
            if part:
                lines[row.id] = lines.get(row.id, 0) + part
                if consignment and row.kind == "commission" and plan.consignment_funding == "supplier":
                    suppliers[supplier] = suppliers.get(supplier, 0) - part
        if consignment:
            suppliers[supplier] = suppliers.get(supplier, 0) + cost_back
    return suppliers, lines


# ---------------------------------------------------------------- reading


def lines_for_order(order_id: int) -> list[tuple[CommissionLine, str]]:
    return list(db.session.execute(
        select(CommissionLine, Promoter.code).join(Promoter, Promoter.id == CommissionLine.promoter_id)
        .where(CommissionLine.order_id == order_id).order_by(CommissionLine.level, CommissionLine.id)
    ).all())
