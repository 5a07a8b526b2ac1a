"""Managing the promoter network: list and filters, a promoter's page, approvals, moves,
ranks, distributors (分销商), CSV export."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user

from distweb import exports
from distweb.models.network import PromoterStatus, Rank
from distweb.services import network
from distweb.services.errors import NotFound, ServiceError
from distweb.web.forms import before_arg
from distweb.web.htmx import redirect_to, render, wants_fragment
from distweb.web.manage.routes import bp

PAGE = 50


def _local_day(value: str | None, tz: str) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return None
    return day.replace(tzinfo=ZoneInfo(tz))


def _filters() -> network.PromoterFilter:
    tz = current_user.timezone
    joined_to = _local_day(request.args.get("joined_to"), tz)
    return network.PromoterFilter(
        q=(request.args.get("q") or "").strip() or None,
        status=request.args.get("status") or None,
        rank=request.args.get("rank") or None,
        distributor={"1": True, "0": False}.get(request.args.get("distributor") or ""),
        upline_code=(request.args.get("upline") or "").strip() or None,
        joined_from=_local_day(request.args.get("joined_from"), tz),
        joined_to=joined_to + timedelta(days=1) if joined_to else None,  # the whole last day
    )


def _promoter(promoter_id: int):
    try:
        return network.get_for_brand(current_user.brand_id, promoter_id)
    except NotFound:
        abort(404)


@bp.get("/promoters")
def promoters():
    before = before_arg()
    rows = list(network.search_promoters(current_user.brand_id, _filters(), before_id=before, limit=PAGE))
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    from distweb.services import dashboard

    return render(
        "manage/promoters.html",
        "manage/_promoter_rows.html",
        promoters=rows,
        figures=dashboard.promoter_figures(current_user.brand_id, [p.id for p in rows],
                                           dashboard.this_month(current_user.timezone)),
        has_more=len(rows) == PAGE,
        args=args,
        statuses=list(PromoterStatus),
        ranks=list(Rank),
        nav="promoters",
    )


# Per column: codes and phone numbers stay text (a code such as 2345E234 would become a number),
# names (the promoter's own, a brand's rank names) are quoted if they start like a formula.
PROMOTER_KINDS = (exports.IDENTIFIER, exports.TEXT, exports.IDENTIFIER, exports.TEXT, exports.TEXT,
                  exports.IDENTIFIER, exports.TEXT, exports.TEXT, exports.TEXT)


@bp.get("/promoters.csv")
def promoters_csv():
    """Every promoter matching the filters, streamed (no page limit)."""
    tz = ZoneInfo(current_user.timezone)
    from distweb.labels import PROMOTER_STATUS, rank_name

    yes, no = _("是"), _("否")

    def rows():  # the query runs once the response streams, as the rows are written
        for p in network.search_promoters(current_user.brand_id, _filters(), limit=None):
            yield [p.code, p.user.name, p.user.phone, rank_name(p.rank), str(PROMOTER_STATUS[p.status]),
                   p.upline.code if p.upline else None, p.upline.user.name if p.upline else None,
                   p.joined_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), yes if p.distributor else no]

    header = [_("邀请码"), _("姓名"), _("手机号"), _("等级"), _("状态"), _("上级邀请码"), _("上级"), _("加入时间"),
              _("分销商")]
    body = stream_with_context(exports.CsvSheet(PROMOTER_KINDS).lines(header, rows()))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=promoters.csv",
        "Cache-Control": "no-store",
    })


@bp.get("/promoters/<int:promoter_id>")
def promoter_show(promoter_id: int):
    promoter = _promoter(promoter_id)
    settings = network.get_settings(current_user.brand_id)
    from distweb.services import dashboard

    return render(
        "manage/promoter.html",
        promoter=promoter,
        figures=dashboard.promoter_figures(current_user.brand_id, [promoter.id],
                                           dashboard.this_month(current_user.timezone))[promoter.id],
        chain=network.upline_chain(promoter),
        children=network.children_of(current_user.brand_id, promoter.id),
        counts=network.team_counts(promoter.id, 3),
        audit=network.audit_for(current_user.brand_id, promoter.id),
        ranks=list(Rank),
        settings=settings,
        nav="promoters",
    )


@bp.get("/promoters/<int:promoter_id>/children")
def promoter_children(promoter_id: int):
    promoter = _promoter(promoter_id)
    return render("manage/_tree_children.html", "manage/_tree_children.html",
                  children=network.children_of(current_user.brand_id, promoter.id))


def _act(promoter_id: int, action):
    promoter = _promoter(promoter_id)
    try:
        action(promoter)
    except ServiceError as err:
        flash(str(err.message), "error")
    else:
        flash(_("已保存。"), "success")
    target = request.form.get("next") or url_for("manage.promoter_show", promoter_id=promoter.id)
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("manage.promoter_show", promoter_id=promoter.id)
    return redirect_to(target)


@bp.post("/promoters/<int:promoter_id>/status")
def promoter_status(promoter_id: int):
    return _act(promoter_id, lambda p: network.change_status(
        current_user, p, request.form.get("action", ""), request.form.get("reason")))


@bp.post("/promoters/<int:promoter_id>/move")
def promoter_move(promoter_id: int):
    return _act(promoter_id, lambda p: network.move(current_user, p, (request.form.get("upline_code") or "").strip() or None))


@bp.post("/promoters/<int:promoter_id>/rank")
def promoter_rank(promoter_id: int):
    return _act(promoter_id, lambda p: network.set_rank(current_user, p, request.form.get("rank", ""),
                                                      request.form.get("note")))


@bp.post("/promoters/<int:promoter_id>/distributor")
def promoter_distributor(promoter_id: int):
    value = request.form.get("distributor")
    if value not in ("1", "0"):
        abort(400)
    return _act(promoter_id, lambda p: network.set_distributor(current_user, p, value == "1"))


@bp.get("/approvals")
def approvals():
    rows = list(network.search_promoters(current_user.brand_id, network.PromoterFilter(status="pending"), limit=200))
    return render("manage/approvals.html", promoters=rows, nav="approvals")


@bp.post("/approvals/<int:promoter_id>")
def approval_decide(promoter_id: int):
    promoter = _promoter(promoter_id)
    action = request.form.get("action")
    if action not in ("approve", "reject"):
        abort(400)
    try:
        network.change_status(current_user, promoter, action, request.form.get("reason"))
    except ServiceError as err:
        if wants_fragment():
            return render("manage/_approval_row.html", "manage/_approval_row.html", p=promoter, error=str(err.message)), 422
        flash(str(err.message), "error")
        return redirect_to(url_for("manage.approvals"))
    if wants_fragment():
        return render("manage/_approval_row.html", "manage/_approval_row.html", p=promoter, error=None)
    flash(_("已保存。"), "success")
    return redirect_to(url_for("manage.approvals"))
