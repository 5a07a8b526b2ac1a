"""GET /api/v1/dashboard: the brand's dashboard figures (docs/API.md "Dashboard")."""

from __future__ import annotations

from flask import g, request

from distweb.services import dashboard
from distweb.web.api.base import bp


@bp.get("/dashboard")
def dashboard_show():
    period = dashboard.parse_period(request.args.get("from"), request.args.get("to"), g.brand.timezone)
    return dashboard.summary(g.brand.id, period)
