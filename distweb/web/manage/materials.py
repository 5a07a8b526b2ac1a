"""The material library (素材库): create, edit, images, drag to reorder, preview, figures."""

from __future__ import annotations

from flask import abort, flash, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from distweb.extensions import db
from distweb.models import Material, Promoter
from distweb.models.base import utcnow
from distweb.models.network import PromoterStatus
from distweb.services import materials, reports
from distweb.services.errors import NotFound, ServiceError
from distweb.web.forms import attach_error
from distweb.web.htmx import redirect_to, render
from distweb.web.manage.forms import MaterialForm
from distweb.web.manage.routes import bp


def _material(material_id: int) -> Material:
    try:
        return materials.get_for_brand(current_user.brand_id, material_id)
    except NotFound:
        abort(404)


@bp.get("/materials")
def materials_library():
    rows = materials.stats(current_user.brand_id)
    return render("manage/materials.html", rows=rows, now=utcnow(), nav="materials")


def _product_choices(form: MaterialForm) -> None:
    form.product_sku.choices = [SelectChoice("", _("（不关联商品）"))] + [
        SelectChoice(p.sku, f"{p.name} ({p.sku})") for p in reports.brand_products(current_user.brand_id)
    ]


def _fill_form(form: MaterialForm, material: Material) -> None:
    tz = current_user.timezone
    form.title.data, form.body.data = material.title, material.body
    form.product_sku.data = material.product.sku if material.product else ""
    form.video_url.data, form.tags.data = material.video_url, ", ".join(material.tags)
    form.active_from.set_value(material.active_from, tz)
    form.active_to.set_value(material.active_to, tz)
    form.pinned.data = material.pinned


@bp.route("/materials/new", methods=["GET", "POST"], defaults={"material_id": None})
@bp.route("/materials/<int:material_id>", methods=["GET", "POST"])
def material_edit(material_id: int | None):
    material = _material(material_id) if material_id is not None else None
    form = MaterialForm()
    _product_choices(form)
    if request.method == "GET" and material is not None:
        _fill_form(form, material)
    status = 200
    if form.validate_on_submit():
        data = materials.MaterialInput(
            title=form.title.data, body=form.body.data or "", product_sku=form.product_sku.data or None,
            video_url=form.video_url.data, tags=materials.parse_tags(form.tags.data),
            active_from=form.active_from.value, active_to=form.active_to.value, pinned=form.pinned.data,
        )
        try:
            saved = materials.save_material(current_user.brand_id, data, current_user.id, material)
        except ServiceError as err:
            attach_error(form, err, "title")
            status = 422
        else:
            flash(_("素材已保存。") if material else _("素材已创建，现在可以上传图片。"), "success")
            return redirect_to(url_for("manage.material_edit", material_id=saved.id))
    elif request.method == "POST":
        status = 400
    figures, channels = materials.by_promoter(current_user.brand_id, material.id) if material else ([], [])
    return render("manage/material_form.html", form=form, material=material, preview=_preview(material),
                  max_images=materials.MAX_IMAGES, figures=figures, channels=channels, nav="materials"), status


def _preview(material: Material | None) -> dict | None:
    """The card as a promoter sees it, for the brand's first active promoter (or a stand-in)."""
    if material is None:
        return None
    promoter = db.session.scalars(select(Promoter).where(
        Promoter.brand_id == current_user.brand_id, Promoter.status == PromoterStatus.ACTIVE)
        .order_by(Promoter.id).limit(1)).first()
    if promoter is None:
        return {"card": None}
    from distweb.web.promoter.materials import material_cards

    card = material_cards(promoter, [material])[0]
    card["figures"] = None
    return {"card": card, "promoter": promoter}


@bp.post("/materials/<int:material_id>/delete")
def material_delete(material_id: int):
    try:
        materials.delete_material(current_user.brand_id, material_id)
    except NotFound:
        abort(404)
    flash(_("素材已删除，已分享出去的链接仍然计入原推客。"), "success")
    return redirect_to(url_for("manage.materials_library"))


def _ids(name: str) -> list[int]:
    values = request.form.getlist(name)
    if not values or len(values) > 1000 or not all(v.isdigit() and len(v) < 10 for v in values):
        abort(400)
    return [int(v) for v in values]


@bp.post("/materials/reorder")
def materials_reorder():
    """The drag-and-drop script posts the new order of the rows it shows (ids[])."""
    try:
        materials.reorder(current_user.brand_id, _ids("ids"))
    except NotFound:
        return jsonify(error={"code": "material_not_found", "message": _("找不到这条素材。")}), 404
    return jsonify(ok=True, message=_("顺序已保存。"))


@bp.post("/materials/<int:material_id>/images")
def material_images_add(material_id: int):
    material = _material(material_id)
    uploads = [f.read(materials.MAX_IMAGE_BYTES + 1) for f in request.files.getlist("images") if f and f.filename]
    try:
        added = materials.add_images(current_user.brand_id, material.id, uploads)
    except ServiceError as err:
        flash(str(err.message), "error")
    else:
        flash(_("已上传 %(n)s 张图片。", n=len(added)), "success")
    return redirect_to(url_for("manage.material_edit", material_id=material.id))


@bp.post("/materials/<int:material_id>/images/<int:image_id>/delete")
def material_image_delete(material_id: int, image_id: int):
    try:
        materials.remove_image(current_user.brand_id, material_id, image_id)
    except NotFound:
        abort(404)
    flash(_("图片已删除。"), "success")
    return redirect_to(url_for("manage.material_edit", material_id=material_id))


@bp.post("/materials/<int:material_id>/images/reorder")
def material_images_reorder(material_id: int):
    try:
        materials.reorder_images(current_user.brand_id, material_id, _ids("ids"))
    except ServiceError as err:
        return jsonify(error={"code": err.code, "message": str(err.message)}), err.status
    return jsonify(ok=True, message=_("顺序已保存。"))
