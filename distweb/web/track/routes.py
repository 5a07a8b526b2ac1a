"""Tracked links: /r/<code>[/<target>] logs the click, sets the attribution cookie, redirects."""

from __future__ import annotations

import re

from flask import Blueprint, redirect, request, url_for

from distweb.models.network import PromoterStatus
from distweb.services import attribution, materials, network

bp = Blueprint("track", __name__, url_prefix="/r")

TARGET_RE = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def landing_for(promoter, target: str | None) -> str:
    """Where a tracked link lands: the product in the promoter's shop, or the shop."""
    if target:
        return url_for("shop.product", code=promoter.code, sku=target)
    return url_for("shop.index", code=promoter.code)


@bp.get("/<code>")
@bp.get("/<code>/<target>")
def follow(code: str, target: str | None = None):
    promoter = network.by_code(code)
    if promoter is None or promoter.status != PromoterStatus.ACTIVE:
        # A dead link still lands somewhere useful, and sets nothing.
        return redirect(url_for("core.index"))
    if target is not None and not TARGET_RE.match(target):
        target = None
    material_id = materials.material_for_click(promoter, request.args.get("m"))
    attribution.record_click(promoter, target, request.remote_addr, request.user_agent.string, material_id)
    settings = network.get_settings(promoter.brand_id)
    response = redirect(landing_for(promoter, target))
    if material_id is not None:
        # Which material brought the buyer, for counting the order it leads to.
        response.set_cookie(materials.COOKIE_NAME,
                            materials.add_touch(request.cookies.get(materials.COOKIE_NAME), promoter.id, material_id),
                            max_age=settings.attribution_window_days * 86400, httponly=True, samesite="Lax",
                            secure=request.is_secure)
    max_age = settings.attribution_window_days * 86400
    response.set_cookie(attribution.COOKIE_NAME,
                        attribution.add_touch(request.cookies.get(attribution.COOKIE_NAME), promoter.id),
                        max_age=max_age, httponly=True, samesite="Lax", secure=request.is_secure)
    # Following a tracked link is what lets this browser's checkout bind its buyer (a shop
    # visit alone does not: anyone can open a shop and type a phone number).
    response.set_cookie(attribution.LINK_COOKIE_NAME,
                        attribution.add_link_touch(request.cookies.get(attribution.LINK_COOKIE_NAME), promoter.id),
                        max_age=max_age, httponly=True, samesite="Lax", secure=request.is_secure)
    return response
