"""The promoter's phone app: five tabs (首页 / 素材 / 订单 / 钱包 / 我的)."""

from __future__ import annotations

from flask import Blueprint, abort, request
from flask_login import current_user

from distweb.models.user import Role
from distweb.services import network, reports
from distweb.web.access import require_role
from distweb.web.htmx import render
from distweb.web.join.routes import invite_url

bp = Blueprint("promoter", __name__, url_prefix="/promoter")
require_role(bp, Role.PROMOTER)


def _promoter():
    promoter = current_user.promoter
    if promoter is None:  # a promoter login without a network row is a data error
        abort(403)
    return promoter


@bp.get("/")
def index():
    promoter = _promoter()
    today, month = reports.promoter_sales_today_and_month(promoter.id, current_user.brand.timezone)
    return render(
        "promoter/index.html",
        promoter=promoter,
        today=today,
        month=month,
        team_size=reports.direct_team_size(promoter.id),
        recent_orders=reports.promoter_orders(promoter.id, limit=5),
        invite_url=invite_url(promoter.code),
        tab="home",
    )


@bp.get("/materials")
def materials():
    return render("promoter/materials.html", tab="materials")


@bp.get("/orders")
def orders():
    promoter = _promoter()
    before = request.args.get("before", type=int)
    rows = reports.promoter_orders(promoter.id, before_id=before)
    return render(
        "promoter/orders.html",
        "promoter/_order_rows.html",
        orders=rows,
        has_more=len(rows) == reports.PAGE_SIZE,
        tab="orders",
    )


@bp.get("/wallet")
def wallet():
    return render("promoter/wallet.html", tab="wallet")


@bp.get("/me")
def me():
    return render("promoter/me.html", promoter=_promoter(), tab="me")


@bp.get("/team")
def team():
    promoter = _promoter()
    settings = network.get_settings(promoter.brand_id)
    level = request.args.get("level", 1, type=int)
    if level not in range(1, settings.commission_depth + 1):
        level = 1
    query = (request.args.get("q") or "").strip()[:40]
    before = request.args.get("before", type=int)
    members = network.team_page(
        promoter.id, level, reports.month_start(current_user.brand.timezone), query=query or None, before_id=before
    )
    return render(
        "promoter/team.html",
        "promoter/_team_rows.html",
        promoter=promoter,
        level=level,
        depth=settings.commission_depth,
        counts=network.team_counts(promoter.id, settings.commission_depth),
        members=members,
        query=query,
        has_more=len(members) == 20,
        settings=settings,
        tab="me",
    )


@bp.get("/invite")
def invite():
    promoter = _promoter()
    return render(
        "promoter/invite.html",
        promoter=promoter,
        invite_url=invite_url(promoter.code),
        stats=network.invite_stats(promoter.id, current_user.brand.timezone),
        tab="me",
    )
