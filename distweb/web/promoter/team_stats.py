"""A mentor's or partner's team figures on the phone: this month and last (the team tab)."""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from distweb.models.network import Rank
from distweb.services import dashboard
from distweb.web.htmx import render
from distweb.web.promoter.routes import _promoter, bp

LEADER_RANKS = (Rank.MENTOR, Rank.PARTNER)


@bp.get("/team/stats")
def team_stats():
    promoter = _promoter()
    if promoter.rank not in LEADER_RANKS:
        abort(403)
    tz = current_user.timezone
    this_month, last_month = dashboard.this_month(tz), dashboard.last_month(tz)
    return render(
        "promoter/team_stats.html",
        promoter=promoter,
        months=[(this_month, dashboard.team_summary(promoter.brand_id, promoter.id, this_month)),
                (last_month, dashboard.team_summary(promoter.brand_id, promoter.id, last_month))],
        bp_text=dashboard.bp_text,
        tab="team",
    )
