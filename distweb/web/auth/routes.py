from __future__ import annotations

from flask import Blueprint, current_app, flash, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from distweb.extensions import limiter
from distweb.models.sms import SmsPurpose
from distweb.services import accounts
from distweb.services.errors import ServiceError
from distweb.web import sms as sms_web
from distweb.web.auth.forms import LoginForm, PasswordChangeForm, PasswordResetForm
from distweb.web.core.routes import home_url_for, safe_next
from distweb.web.forms import attach_error
from distweb.web.htmx import redirect_to
from distweb.web.sessions import sign_in

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _account_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"]


def _login_account() -> str:
    """The rate-limit key of a sign-in attempt: the account it names (guessing one account's
    password from many addresses is throttled as well as many guesses from one address)."""
    return "login-account:" + accounts.normalise_login(request.form.get("login") or "")[:120]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_account_limit, key_func=_login_account, methods=["POST"],
               deduct_when=lambda response: response.status_code == 401,  # failed attempts only
               error_message=lambda: _("这个账号密码错误次数过多，已暂时锁定登录，请 15 分钟后再试。"))
def login():
    if current_user.is_authenticated:
        return redirect_to(home_url_for(current_user))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = accounts.authenticate(form.login.data, form.password.data)
        if user is not None:
            sign_in(user)
            return redirect_to(safe_next(request.args.get("next"), home_url_for(user)))
        form.password.errors.append(_("手机号/邮箱或密码不正确。"))
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout():
    accounts.end_session(session.get("_user_id"))
    logout_user()
    session.clear()
    flash(_("您已安全退出。"), "success")
    return redirect_to(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    form = PasswordChangeForm()
    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        try:
            accounts.change_password(
                current_user.record, form.current_password.data, form.new_password.data, session.get("_user_id")
            )
        except ServiceError as err:
            attach_error(form, err, "new_password", aliases={"password": "new_password"})
        else:
            flash(_("密码已修改，其他设备已退出登录。"), "success")
            return redirect_to(home_url_for(current_user))
    layout = "layouts/manager.html" if current_user.is_manager else "layouts/promoter.html"
    return render_template("auth/password.html", form=form, layout=layout), status


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@sms_web.send_limits
def reset():
    """忘记密码: a new password by the SMS code sent to the account's phone. Every browser
    signed in to the account is signed out, this one too: sign in again with the new one."""
    form = PasswordResetForm()
    status = 200
    sent = None
    if sms_web.sending():
        sent = sms_web.send_code(form, SmsPurpose.RESET)
        status = 200 if sent else 422
    elif form.validate_on_submit():
        try:
            accounts.reset_password(form.phone.data, form.code.data, form.new_password.data)
        except ServiceError as err:
            attach_error(form, err, "code", aliases={"password": "new_password"})
            status = 422
        else:
            if current_user.is_authenticated:
                logout_user()
            session.clear()
            flash(_("密码已重置，请使用新密码登录。"), "success")
            return redirect_to(url_for("auth.login"))
    elif request.method == "POST":
        status = 400
    return render_template("auth/reset.html", form=form, sent=sent), status
