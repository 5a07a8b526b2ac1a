"""Brand, programme, withdrawal-rule and API-key settings."""

from __future__ import annotations

from flask import current_app, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from distweb.services import api_keys, branding, commission, network, withdrawal_rules
from distweb.services.errors import ServiceError
from distweb.web.forms import attach_error
from distweb.web.htmx import redirect_to, render
from distweb.web.manage.forms import ApiKeyForm, BrandForm, ProgrammeForm, WithdrawalRulesForm
from distweb.web.manage.routes import bp


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


@bp.route("/settings/programme", methods=["GET", "POST"])
def programme_settings():
    settings = network.get_settings(current_user.brand_id)
    depth = commission.plan_depth(current_user.brand_id)
    form = ProgrammeForm.from_settings(settings, depth) if request.method == "GET" else ProgrammeForm()
    status = 200
    if form.validate_on_submit():
        try:
            network.update_settings(current_user, form.to_input())
        except ServiceError as err:
            attach_error(form, err, "commission_depth", aliases=ProgrammeForm.RULE_FIELDS)
            status = 422
        else:
            flash(_("推广计划设置已保存。"), "success")
            return redirect_to(url_for("manage.programme_settings"))
    elif request.method == "POST":
        status = 400
    return render("manage/programme.html", form=form, nav="programme"), status


@bp.route("/settings/withdrawals", methods=["GET", "POST"])
def withdrawal_settings():
    """提现规则: the same rules as ``/api/v1/withdrawal-rules``, typed in yuan and percent."""
    if request.method == "GET":
        form = WithdrawalRulesForm.from_rules(withdrawal_rules.get(current_user.brand_id))
    else:
        form = WithdrawalRulesForm()
    status = 200
    if form.validate_on_submit():
        try:
            withdrawal_rules.save(current_user.brand_id, form.to_rules(), actor=current_user)
        except ServiceError as err:
            attach_error(form, err, "min_amount", aliases=WithdrawalRulesForm.RULE_FIELDS)
            status = 422
        else:
            flash(_("提现规则已保存。"), "success")
            return redirect_to(url_for("manage.withdrawal_settings"))
    elif request.method == "POST":
        status = 400
    return render("manage/withdrawal_rules.html", form=form, nav="withdrawal_rules"), status


@bp.route("/settings/api-keys", methods=["GET", "POST"])
def api_key_settings():
    form = ApiKeyForm()
    new_key = None
    status = 200
    if form.validate_on_submit():
        try:
            _row, new_key = api_keys.create_key(current_user.brand, form.name.data)
        except ServiceError as err:
            attach_error(form, err, "name")
            status = 422
        else:
            form = ApiKeyForm(formdata=None)
    elif request.method == "POST":
        status = 400
    return render_template("manage/api_keys.html", form=form, keys=api_keys.list_keys(current_user.brand_id),
                           new_key=new_key, nav="api"), status


@bp.post("/settings/api-keys/<int:key_id>/revoke")
def api_key_revoke(key_id: int):
    try:
        api_keys.revoke_key(current_user.brand, key_id)
    except ServiceError as err:
        flash(str(err.message), "error")
    else:
        flash(_("密钥已吊销。"), "success")
    return redirect_to(url_for("manage.api_key_settings"))


@bp.get("/settings/launch")
def launch_templates():
    """行业模板: the industry presets, each with what it sets."""
    from distweb.services import launch_templates as presets

    return render("manage/launch_templates.html", presets=list(presets.PRESETS.values()),
                  first_run=presets.is_first_run(current_user.brand_id), nav="launch")


@bp.route("/settings/launch/<key>", methods=["GET", "POST"])
def launch_template(key: str):
    """What applying a preset changes (GET), then applying it (POST, with the form's CSRF token)."""
    from flask import abort

    from distweb.services import launch_templates as presets
    from distweb.services.errors import NotFound

    try:
        if request.method == "POST":
            done = presets.apply(current_user, key)
            flash(_("已应用行业模板「%(name)s」。佣金方案、晋升条件、提现规则和素材都可以随时修改。",
                    name=str(done.preset.name)), "success")
            return redirect_to(url_for("manage.launch_templates"))
        preview = presets.preview(current_user.brand_id, key)
    except NotFound:
        abort(404)
    except ServiceError as err:  # the catalogue refuses the plan (e.g. a product priced to break the cap)
        flash(str(err.message), "error")
        return redirect_to(url_for("manage.launch_template", key=key))
    return render("manage/launch_template.html", preview=preview, nav="launch")


@bp.get("/settings/brand/logos")
def logo_templates():
    """Logo 模板: each template drawn with the brand's short name and colour."""
    from distweb.services import logos

    return render("manage/logo_templates.html", templates=logos.TEMPLATES, brand=current_user.brand,
                  nav="settings")


@bp.get("/settings/brand/logos/<key>.svg")
def logo_template_svg(key: str):
    from flask import Response, abort

    from distweb.services import logos
    from distweb.services.errors import NotFound

    brand = current_user.brand
    try:
        body = logos.svg(key, brand.short_name, brand.theme_color)
    except NotFound:
        abort(404)
    response = Response(body, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'none'; script-src 'none'"
    response.cache_control.private = True
    response.cache_control.max_age = 0
    return response


@bp.post("/settings/brand/logos/<key>")
def logo_template_use(key: str):
    from flask import abort

    from distweb.services import logos
    from distweb.services.errors import NotFound

    try:
        logos.use_template(current_user.brand, key, current_app.config["DISTWEB_UPLOADS"])
    except NotFound:
        abort(404)
    flash(_("Logo 已更新：页面、桌面图标、海报和对账单都会用上它。"), "success")
    return redirect_to(url_for("manage.brand_settings"))


@bp.post("/settings/brand/logo/remove")
def logo_remove():
    from distweb.services import logos

    logos.remove(current_user.brand, current_app.config["DISTWEB_UPLOADS"])
    flash(_("Logo 已移除，恢复为默认标志。"), "success")
    return redirect_to(url_for("manage.brand_settings"))


@bp.route("/settings/payments", methods=["GET", "POST"])
def payment_settings():
    """在线支付: WeChat Pay and Alipay settings. Secrets are stored encrypted and never shown
    again (the page marks which are set); a brand with neither keeps the manual flow."""
    from distweb.services import online_pay
    from distweb.web.manage.forms import AlipayForm, WeChatPayForm

    stored = online_pay.configs(current_user.brand_id)
    posted = request.form.get("provider") if request.method == "POST" else None
    from distweb.web.manage.forms import PaymentOptionsForm

    saved_options = online_pay.options(current_user.brand_id)
    if posted == "options":
        options_form = PaymentOptionsForm(prefix="options")
    else:
        options_form = PaymentOptionsForm(prefix="options", formdata=None, data={
            "close_minutes": str(saved_options.close_minutes) if saved_options and saved_options.close_minutes else "",
            "commission_split": bool(saved_options and saved_options.commission_split)})
    forms = {}
    for name, cls in (("wechat", WeChatPayForm), ("alipay", AlipayForm)):
        config = stored.get(name)
        if posted == name:
            form = cls(prefix=name)
        else:
            form = cls(prefix=name, formdata=None, data={**(config.settings if config else {}),
                                                         "enabled": bool(config and config.enabled)})
        forms[name] = form
    status = 200
    if posted == "options":
        if options_form.validate_on_submit():
            text = (options_form.close_minutes.data or "").strip()
            try:
                minutes = int(text) if text else None
            except ValueError:
                minutes = -1  # not a number: the service's range message
            try:
                online_pay.save_options(current_user.brand_id, minutes, options_form.commission_split.data,
                                        actor=current_user)
            except ServiceError as err:
                attach_error(options_form, err, "close_minutes")
                status = 422
            else:
                flash(_("支付设置已保存。"), "success")
                return redirect_to(url_for("manage.payment_settings"))
        else:
            status = 400
    elif posted in forms:
        form = forms[posted]
        if form.validate_on_submit():
            try:
                online_pay.save_config(current_user.brand_id, posted, form.enabled.data, form.settings(),
                                       form.secrets(), actor=current_user)
            except ServiceError as err:
                attach_error(form, err, "enabled")
                status = 422
            else:
                flash(_("支付设置已保存。"), "success")
                return redirect_to(url_for("manage.payment_settings"))
        else:
            status = 400
    elif request.method == "POST":
        status = 400
    for form in forms.values():  # a secret typed in is never sent back to the page
        for name in form.SECRET_FIELDS:
            getattr(form, name).data = ""
    from distweb.services import catalogue, profit_sharing
    from distweb.services.payment_env import variable

    env = {name: online_pay.env_config(current_user.brand_id, name, stored) for name in forms}
    env_names = {name: sorted(variable(name, key) for key in (found["settings"] | found["secret"]))
                 for name, found in env.items() if found}
    return render("manage/payments.html", forms=forms, stored=stored, notify_base=request.url_root.rstrip("/"),
                  options_form=options_form, default_close=current_app.config["PAYMENT_CLOSE_MINUTES"],
                  env_names=env_names, env_settings={name: found["settings"] for name, found in env.items() if found},
                  suppliers=catalogue.suppliers(current_user.brand_id),
                  receivers=profit_sharing.receivers(current_user.brand_id), nav="payments"), status


@bp.post("/settings/payments/receivers")
def split_receivers():
    """分账接收方: each supplier's WeChat Pay and Alipay receiver for its consignment shares."""
    from distweb.services import catalogue, profit_sharing

    try:
        for supplier in catalogue.suppliers(current_user.brand_id):
            for provider in ("wechat", "alipay"):
                profit_sharing.save_receiver(current_user.brand_id, supplier.id, provider,
                                             request.form.get(f"{provider}_{supplier.id}"),
                                             request.form.get(f"{provider}_name_{supplier.id}"))
    except ServiceError as err:
        flash(str(err.message), "error")
    else:
        flash(_("分账接收方已保存。"), "success")
    return redirect_to(url_for("manage.payment_settings"))


@bp.post("/payments/splits/<int:split_id>/retry")
def split_retry(split_id: int):
    from distweb.services import profit_sharing

    try:
        row = profit_sharing.retry(current_user.brand_id, split_id)
    except ServiceError as err:
        flash(str(err.message), "error")
    else:
        flash(_("分账成功。") if row.status == "succeeded" else _("已重新提交分账。"), "success")
    return redirect_to(url_for("manage.reconciliation_reports"))


@bp.route("/payments/reconciliation", methods=["GET", "POST"])
def reconciliation_reports():
    """对账: each provider's daily bill against distweb's records, every difference listed.
    The worker makes yesterday's each morning; a manager may run a day again."""
    from datetime import date, datetime

    from distweb.services import online_pay, reconciliation

    if request.method == "POST":
        provider = request.form.get("provider") or ""
        try:
            day = date.fromisoformat((request.form.get("day") or "").strip())
        except ValueError:
            flash(_("请选择日期。"), "error")
        else:
            today = datetime.now(reconciliation.BILL_TIME).date()
            if provider not in online_pay.enabled(current_user.brand_id) or day >= today:
                flash(_("只能核对已开通的支付方式在今天之前的账单。"), "error")
            else:
                report = reconciliation.reconcile(current_user.brand_id, provider, day)
                flash(_("对账完成。") if report.status != "failed" else _("账单下载失败：%(reason)s",
                                                                        reason=report.error or ""),
                      "success" if report.status != "failed" else "error")
        return redirect_to(url_for("manage.reconciliation_reports"))
    from distweb.services import catalogue, profit_sharing, split_returns

    splits = profit_sharing.for_brand(current_user.brand_id)
    returns = split_returns.for_brand(current_user.brand_id)
    promoter_ids = {int(part["promoter_id"]) for row in [*splits, *returns] for part in row.receivers or []
                    if part.get("kind") == "promoter"}
    return render("manage/reconciliation.html", reports=reconciliation.recent(current_user.brand_id),
                  splits=splits, returns=returns, manual_reasons=profit_sharing.MANUAL_REASONS,
                  return_reasons=split_returns.MANUAL_REASONS, void_reasons=split_returns.VOID_REASONS,
                  promoter_names=profit_sharing.promoter_names(current_user.brand_id, promoter_ids),
                  supplier_names={s.id: s.name for s in catalogue.suppliers(current_user.brand_id)},
                  providers=online_pay.enabled(current_user.brand_id), labels=online_pay.PROVIDER_LABELS,
                  nav="payments")
