"""素材 tab: the material feed, one-tap sharing, posters; and the push settings under 我的."""

from __future__ import annotations

from flask import flash, jsonify, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from distweb.labels import NOTIFICATION_KIND
from distweb.services import materials as material_service
from distweb.services import posters, push
from distweb.services.errors import ServiceError
from distweb.web.errors import error_response
from distweb.web.htmx import redirect_to, render
from distweb.web.promoter.routes import _promoter, bp


def material_cards(promoter, rows):
    """What a card needs beyond the material: the filled copy, the link, the estimate and
    this promoter's own figures for it."""
    estimate = material_service.earning_estimator(promoter)
    figures = {s.material.id: s for s in material_service.stats(promoter.brand_id, promoter.id, [m.id for m in rows])}
    cards = []
    for material in rows:
        link = material_service.share_link(promoter, material)
        product = material.product if material.product is not None and material.product.active else None
        cards.append({
            "material": material,
            "link": link,
            "text": material_service.fill(material.body, promoter, link, product),
            "product": product,
            "earning": estimate(product),
            "figures": figures.get(material.id),
        })
    return cards


@bp.get("/materials")
def materials():
    promoter = _promoter()
    tag = (request.args.get("tag") or "").strip()[:30] or None
    product_id = request.args.get("product", type=int)
    if product_id is not None and not 0 < product_id < 2**31:
        product_id = None
    rows = material_service.feed(promoter.brand_id, tag=tag, product_id=product_id, cursor=request.args.get("after"))
    return render(
        "promoter/materials.html",
        "promoter/_material_cards.html",
        cards=material_cards(promoter, rows),
        next_cursor=material_service.encode_cursor(rows[-1]) if len(rows) == material_service.PAGE_SIZE else None,
        tags=material_service.brand_tags(promoter.brand_id),
        tag=tag,
        product_id=product_id,
        tab="materials",
    )


@bp.get("/materials/<int:material_id>")
def material_show(material_id: int):
    """One material's card (from the home page's picks and the 'new pinned material' notice)."""
    promoter = _promoter()
    try:
        material = material_service.for_promoter(promoter, material_id)
    except ServiceError as err:
        return error_response(err.status, str(err.message), err.code)
    return render("promoter/material.html", card=material_cards(promoter, [material])[0], tab="materials")


@bp.post("/materials/<int:material_id>/shared")
def material_shared(material_id: int):
    """The share script reports a tap here (channel: web_share, copy, wechat, poster)."""
    try:
        material_service.record_share(_promoter(), material_id, request.form.get("channel"))
    except ServiceError as err:
        return jsonify(error={"code": err.code, "message": str(err.message)}), err.status
    return "", 204


@bp.get("/materials/<int:material_id>/poster.png")
def material_poster(material_id: int):
    promoter = _promoter()
    try:
        material = material_service.for_promoter(promoter, material_id)
    except ServiceError as err:
        return error_response(err.status, str(err.message), err.code)
    path = posters.poster_file(promoter, material, current_user.brand)
    if request.args.get("save"):
        material_service.record_share(promoter, material.id, "poster")
    response = send_file(path, mimetype="image/png", download_name=f"poster-{material.id}.png",
                         as_attachment=bool(request.args.get("save")), max_age=0, conditional=True, etag=True)
    response.headers["Cache-Control"] = "private, no-cache"  # revalidate: the ETag changes with the poster
    return response


# ---------------------------------------------------------------- notifications (我的 → 消息设置)


@bp.route("/notifications", methods=["GET", "POST"])
def notification_settings():
    if request.method == "POST":
        off = {kind for kind in push.PUSH_KINDS if not request.form.get(f"push_{kind}")}
        push.save_push_off(current_user.id, off)
        flash(_("通知设置已保存。"), "success")
        return redirect_to(url_for("promoter.notification_settings"))
    return render("promoter/notifications.html", kinds=[(k, NOTIFICATION_KIND[k]) for k in push.PUSH_KINDS],
                  off=push.push_off(current_user.id), devices=push.subscription_count(current_user.id),
                  vapid_key=push.public_key(), tab="me")


@bp.post("/push/subscribe")
def push_subscribe():
    try:
        push.subscribe(current_user, request.get_json(silent=True), request.user_agent.string)
    except ServiceError as err:
        return jsonify(error={"code": err.code, "message": str(err.message)}), 400
    return jsonify(ok=True, message=_("已开启推送通知。"))


@bp.post("/push/unsubscribe")
def push_unsubscribe():
    data = request.get_json(silent=True) or {}
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    push.unsubscribe(current_user, endpoint if isinstance(endpoint, str) else None)
    return jsonify(ok=True, message=_("已关闭推送通知。"))
