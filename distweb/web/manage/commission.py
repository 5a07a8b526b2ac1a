"""The zero-code rule editor: edit the plan in forms, see a live preview, save a new version
with a note, read the history and the difference between versions, export and import JSON."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from flask import Response, abort, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from distweb.domain import commission as rules
from distweb.extensions import db
from distweb.models import CommissionPlan, Order, Product
from distweb.money import fen_to_yuan_text, parse_yuan
from distweb.services import commission, orders, plan_text
from distweb.services.errors import NotFound, ServiceError
from distweb.web.htmx import redirect_to, render, wants_fragment
from distweb.web.json_input import JSONInputError
from distweb.web.manage.routes import bp

MAX_RULES = 60


def _percent_to_bp(text: str, field: str) -> int:
    try:
        value = Decimal((text or "").strip().rstrip("%"))
    except InvalidOperation:
        raise ServiceError("invalid_rate", _("比例请填写数字，例如 10 或 2.5。"), field) from None
    bp = value * 100
    if bp != bp.to_integral_value() or not value.is_finite():
        raise ServiceError("invalid_rate", _("比例最多两位小数。"), field)
    return int(bp)


def _bp_to_percent(bp: int) -> str:
    return format((Decimal(bp) / 100).normalize(), "f") if bp else "0"


def _yuan(text: str, field: str) -> int:
    try:
        return parse_yuan(text)
    except ValueError:
        raise ServiceError("invalid_amount", _("请输入金额，最多两位小数。"), field) from None


def rows_from_plan(body: dict) -> list[dict]:
    """Plan JSON → the editor's rows (percentages and yuan as people type them)."""
    out = []
    for raw in body.get("rules", []):
        scope = raw.get("scope") or {}
        tiers = raw.get("tiers") or []
        out.append({
            "scope_type": "sku" if scope.get("sku") else "category" if scope.get("category") else "all",
            "scope_value": scope.get("sku") or scope.get("category") or "",
            "rank": scope.get("rank") or "",
            "level": raw.get("level", 1),
            "kind": raw.get("kind", "percent"),
            "base": raw.get("base", "paid"),
            "rate": _bp_to_percent(raw.get("rate_bp", 0)),
            "amount": fen_to_yuan_text(raw.get("amount_fen", 0)) if raw.get("amount_fen") else "",
            "tiers": ", ".join(f"{fen_to_yuan_text(t['from_fen'])}:{_bp_to_percent(t['rate_bp'])}" for t in tiers),
            "tier_mode": raw.get("tier_mode", "slab"),
            "cap": fen_to_yuan_text(raw["cap_fen"]) if raw.get("cap_fen") is not None else "",
        })
    return out


def plan_from_form(form) -> tuple[dict, list[dict]]:
    """The editor's form → (plan JSON, rows as typed). Amounts are exact: Decimal → fen/bp."""
    rows = []
    for i in range(min(int(form.get("rule_count", 0) or 0), MAX_RULES)):
        if form.get(f"r{i}_delete"):
            continue
        rows.append({k: (form.get(f"r{i}_{k}") or "").strip() for k in
                     ("scope_type", "scope_value", "rank", "level", "kind", "base", "rate", "amount", "tiers",
                      "tier_mode", "cap")})
    body_rules = []
    for n, row in enumerate(rows):
        path = f"rules[{n}]"
        scope = {"sku": None, "category": None, "rank": row["rank"] or None}
        if row["scope_type"] in ("sku", "category"):
            scope[row["scope_type"]] = row["scope_value"] or None
        rule = {"scope": scope, "level": int(row["level"]) if row["level"].isdigit() else 0, "kind": row["kind"]}
        if row["kind"] == "percent":
            rule.update(base=row["base"] or "paid", rate_bp=_percent_to_bp(row["rate"], f"{path}.rate_bp"))
        elif row["kind"] == "fixed_per_unit":
            rule["amount_fen"] = _yuan(row["amount"], f"{path}.amount_fen")
        else:
            tiers = []
            for t, part in enumerate(p for p in row["tiers"].replace("，", ",").split(",") if p.strip()):
                start, _sep, rate = part.partition(":")
                tiers.append({"from_fen": _yuan(start, f"{path}.tiers[{t}].from_fen"),
                              "rate_bp": _percent_to_bp(rate, f"{path}.tiers[{t}].rate_bp")})
            rule.update(base=row["base"] or "paid", tier_mode=row["tier_mode"] or "slab", tiers=tiers)
        if row["cap"]:
            rule["cap_fen"] = _yuan(row["cap"], f"{path}.cap_fen")
        body_rules.append(rule)
    body = {
        "depth": int(form.get("depth") or 2),
        "freeze_days": int(form.get("freeze_days") or 0) if (form.get("freeze_days") or "0").isdigit() else -1,
        "rounding": form.get("rounding") or "half_up",
        "max_total_bp": _percent_to_bp(form.get("max_total") or "30", "max_total_bp"),
        "self_purchase": bool(form.get("self_purchase")),
        "consignment_funding": form.get("consignment_funding") or "supplier",
        "rules": body_rules,
    }
    return body, rows


def _preview(body: dict, form) -> dict:
    """Price a sample (or a real) order with the plan as edited, before saving it."""
    brand_id = current_user.brand_id
    plan = commission.check_plan(brand_id, body)
    order_no = (form.get("preview_order") or "").strip()
    if order_no:
        try:
            order = orders.get_order(brand_id, order_no)
        except NotFound:
            raise ServiceError("unknown_order", _("找不到订单 %(no)s。", no=order_no), "preview_order") from None
        items = commission._items(order)
        chain = commission._chain(order)
        mode = order.mode.value
        paid = order.total_paid_fen
        stock_purchase = order.is_stock_purchase
    else:
        sku = form.get("preview_sku") or ""
        product = db.session.scalars(select(Product).where(Product.brand_id == brand_id, Product.sku == sku)).first()
        if product is None:
            # The first product of the dropdown (ordered by SKU), which a fresh page shows selected.
            product = db.session.scalars(select(Product).where(Product.brand_id == brand_id)
                                         .order_by(Product.sku).limit(1)).first()
        if product is None:
            return {"lines": [], "paid": 0, "total": 0, "share_bp": 0, "sku": None}
        qty = int(form.get("preview_qty") or 1) if (form.get("preview_qty") or "1").isdigit() else 1
        qty = max(1, min(qty, 9999))
        paid = product.price_fen * qty
        items = [rules.ItemLine(0, product.sku, product.category, qty, paid, product.supply_cost_fen * qty)]
        ranks = [form.get(f"preview_rank{n}") or "promoter" for n in (1, 2, 3)]
        chain = [rules.Beneficiary(n, ranks[n - 1]) for n in (1, 2, 3)]
        mode = form.get("preview_mode") or "promotion"
        stock_purchase = True
    lines = rules.price_order(plan, mode, items, chain, stock_purchase=stock_purchase)
    total = sum(line.amount_fen for line in lines if line.kind == "commission")
    return {"lines": lines, "paid": paid, "total": total, "share_bp": (total * 10000 // paid) if paid else 0,
            "sku": items[0].sku if not order_no else None}


@bp.route("/commission", methods=["GET", "POST"])
def commission_plan():
    brand_id = current_user.brand_id
    version, plan = commission.current_plan(brand_id)
    products = list(db.session.scalars(select(Product).where(Product.brand_id == brand_id).order_by(Product.sku)))
    context = {"version": version, "products": products, "nav": "commission", "preview": None, "error": None,
               "bp_to_percent": _bp_to_percent,
               "history": commission.plan_history(brand_id, 10)}
    if request.method == "GET":
        body = plan.to_json()
        context.update(body=body, rows=rows_from_plan(body), note="")
        try:
            context["preview"] = _preview(body, request.args)
        except ServiceError as err:
            context["error"] = err
        return render("manage/commission.html", **context)
    action = request.form.get("action", "preview")
    status = 200
    try:
        body, rows = plan_from_form(request.form)
    except ServiceError as err:
        body, rows = plan.to_json(), rows_from_plan(plan.to_json())
        context["error"] = err
        status = 422
    else:
        if action == "add_rule":
            rows.append({"scope_type": "all", "scope_value": "", "rank": "", "level": "1", "kind": "percent",
                         "base": "paid", "rate": "", "amount": "", "tiers": "", "tier_mode": "slab", "cap": ""})
        elif action == "save":
            try:
                row = commission.save_plan(brand_id, body, request.form.get("note"), current_user)
            except ServiceError as err:
                context["error"] = err
                status = 422
            else:
                flash(_("已保存为第 %(v)s 版。", v=row.version), "success")
                return redirect_to(url_for("manage.commission_plan"))
        if action != "add_rule" and context["error"] is None:
            try:
                context["preview"] = _preview(body, request.form)
            except ServiceError as err:
                context["error"] = err
                status = 422
    context.update(body=body, rows=rows, note=request.form.get("note", ""))
    if wants_fragment() and action == "preview":
        return render("manage/_commission_preview.html", "manage/_commission_preview.html", **context), status
    return render("manage/commission.html", **context), status


@bp.get("/commission/history")
def commission_history():
    brand_id = current_user.brand_id
    history = commission.plan_history(brand_id, 200)
    return render("manage/commission_history.html", history=history, nav="commission")


@bp.get("/commission/versions/<int:version>")
def commission_version(version: int):
    brand_id = current_user.brand_id
    row = db.session.scalars(select(CommissionPlan).where(CommissionPlan.brand_id == brand_id,
                                                          CommissionPlan.version == version)).first()
    if row is None:
        abort(404)
    previous = db.session.scalars(select(CommissionPlan).where(
        CommissionPlan.brand_id == brand_id, CommissionPlan.version < version).order_by(
        CommissionPlan.version.desc()).limit(1)).first()
    return render("manage/commission_version.html", row=row, previous=previous,
                  changes=plan_text.plan_changes(previous.body if previous else {"rules": []}, row.body),
                  nav="commission")


@bp.get("/commission/export.json")
def commission_export():
    version, plan = commission.current_plan(current_user.brand_id)
    body = json.dumps({"version": version, **plan.to_json()}, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename=commission-plan-v{version or 0}.json"})


@bp.post("/commission/import")
def commission_import():
    upload = request.files.get("file")
    text = upload.read().decode("utf-8", "replace") if upload and upload.filename else request.form.get("json", "")
    try:
        body = current_app.json.loads(text)  # the app's one JSON parse: nesting and text checked
        if not isinstance(body, dict):
            raise ValueError
    except JSONInputError as err:
        flash(str(err.message), "error")
        return redirect_to(url_for("manage.commission_plan"))
    except ValueError:
        flash(_("不是有效的 JSON。"), "error")
        return redirect_to(url_for("manage.commission_plan"))
    body.pop("version", None)
    try:
        row = commission.save_plan(current_user.brand_id, body, request.form.get("note") or _("导入"), current_user)
    except ServiceError as err:
        flash(str(err.message), "error")
    else:
        flash(_("已导入为第 %(v)s 版。", v=row.version), "success")
    return redirect_to(url_for("manage.commission_plan"))


__all__ = ["Order"]


@bp.route("/ledger", methods=["GET", "POST"])
def ledger_page():
    """The manager's view of ``ledger verify``."""
    from distweb.services.verify import verify

    report = verify(brand_id=current_user.brand_id, reprice_limit=500) if request.method == "POST" else None
    return render("manage/ledger.html", report=report, nav="ledger")
