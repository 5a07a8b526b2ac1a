"""The brand manager's desktop console."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from distweb.models.user import Role
from distweb.services import branding, jobs, reports
from distweb.services.errors import NotFound, ServiceError
from distweb.web.access import require_role
from distweb.web.forms import attach_error
from distweb.web.htmx import redirect_to, render
from distweb.web.manage.forms import BrandForm

bp = Blueprint("manage", __name__, url_prefix="/manage")
require_role(bp, Role.MANAGER)


@bp.get("/")
def index():
    brand = current_user.brand
    return render(
        "manage/index.html",
        month=reports.brand_overview(brand.id, reports.month_start(brand.timezone)),
        today=reports.brand_overview(brand.id, reports.day_start(brand.timezone)),
        recent_orders=reports.brand_orders(brand.id, limit=10),
        nav="index",
    )


@bp.get("/promoters")
def promoters():
    before = request.args.get("before", type=int)
    rows = reports.brand_promoters(current_user.brand_id, before_id=before)
    return render(
        "manage/promoters.html",
        "manage/_promoter_rows.html",
        promoters=rows,
        has_more=len(rows) == reports.PAGE_SIZE,
        nav="promoters",
    )


@bp.get("/orders")
def orders():
    before = request.args.get("before", type=int)
    rows = reports.brand_orders(current_user.brand_id, before_id=before)
    return render(
        "manage/orders.html",
        "manage/_order_rows.html",
        orders=rows,
        has_more=len(rows) == reports.PAGE_SIZE,
        nav="orders",
    )


@bp.get("/products")
def products():
    return render("manage/products.html", products=reports.brand_products(current_user.brand_id), nav="products")


@bp.route("/settings/brand", methods=["GET", "POST"])
def brand_settings():
    brand = current_user.brand
    form = BrandForm(obj=brand)
    status = 200
    if form.validate_on_submit():
        upload = form.logo.data
        try:
            logo = branding.decode_logo(upload.read()) if upload and getattr(upload, "filename", "") else None
            branding.update_brand(
                brand, form.name.data, form.short_name.data, form.theme_color.data,
                logo=logo, uploads_dir=current_app.config["DISTWEB_UPLOADS"],
            )
        except ServiceError as err:
            attach_error(form, err, "name")
            status = 422
        else:
            flash(_("品牌设置已保存。"), "success")
            return redirect_to(url_for("manage.brand_settings"))
    elif request.method == "POST":
        status = 400
    return render("manage/brand.html", form=form, brand=brand, nav="settings"), status


@bp.get("/jobs")
def job_list():
    return render("manage/jobs.html", jobs=jobs.recent_jobs(current_user.brand_id), nav="jobs")


@bp.post("/jobs")
def job_create():
    job = jobs.create_job("diagnostics", brand_id=current_user.brand_id, created_by_id=current_user.id)
    flash(_("任务已加入队列。"), "success")
    return redirect_to(url_for("manage.job_show", job_id=job.id))


@bp.get("/jobs/<int:job_id>")
def job_show(job_id: int):
    try:
        job = jobs.get_job(job_id, current_user.brand_id)
    except NotFound:
        abort(404)
    return render("manage/job.html", "manage/_job_status.html", job=job, nav="jobs")
