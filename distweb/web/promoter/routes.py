"""The promoter's phone app: five tabs (首页 / 素材 / 订单 / 钱包 / 我的)."""

from __future__ import annotations

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, g, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from distweb.extensions import db
from distweb.models import Order
from distweb.models.base import utcnow
from distweb.models.order import OrderStatus
from distweb.models.user import Role
from distweb.services import commission, network, reports, versions
from distweb.services import orders as orders_service
from distweb.services import wallet as wallet_service
from distweb.services.errors import NotFound, ServiceError
from distweb.web.access import read_only_when_suspended, require_role
from distweb.web.forms import before_arg
from distweb.web.fragments import cached_page
from distweb.web.htmx import redirect_to, render
from distweb.web.join.routes import invite_url
from distweb.web.sessions import signed_in_user

log = logging.getLogger(__name__)
bp = Blueprint("promoter", __name__, url_prefix="/promoter")
require_role(bp, Role.PROMOTER)
read_only_when_suspended(bp)


def _promoter():
    promoter = current_user.promoter
    if promoter is None:  # a promoter login without a network row is a data error
        abort(403)
    return promoter


@bp.get("/")
def index():
    user = signed_in_user()
    promoter_id = user.promoter_id
    if promoter_id is None:  # a promoter login without a network row is a data error
        abort(403)
    data_versions = versions.current(promoter_id, user.brand_id)
    from distweb.services import materials

    suspended_reason = (user.promoter_status_reason or "") if user.is_suspended_promoter else None
    # The picks live now (their launch windows are checked on every read).
    picks = materials.top_picks(user.brand_id, brand_version=data_versions[1])

    def values() -> dict:
        figures = reports.promoter_home(promoter_id, user.timezone, user.brand_id, user.id, data_versions)
        g.unread_count = figures.unread_notifications  # the bell's count came with the figures
        return {"figures": figures, "picks": picks, "invite_url": invite_url(user.promoter_code),
                "name": user.name, "code": user.promoter_code, "suspended_reason": suspended_reason,
                "team": user.leads_team}

    # What the page shows is decided by these: its figures by the data versions and the
    # brand's day (reports.promoter_home), then the picks and the user.
    identity = (data_versions, reports.brand_day(user.timezone), picks, user.id, user.name, user.promoter_code,
                suspended_reason, user.leads_team)
    return cached_page("promoter/index.html", user.login_token, identity, values)


@bp.get("/orders")
def orders():
    promoter = _promoter()
    depth = commission.plan_depth(promoter.brand_id)
    level = request.args.get("level", 1, type=int)
    if level not in range(1, depth + 1):
        level = 1
    tz = current_user.timezone
    args = {k: v for k, v in request.args.items() if v and k != "before"}
    since = _local_day(args.get("from"), tz)
    until = _local_day(args.get("to"), tz)
    rows = reports.promoter_order_page(
        promoter.id, level, args.get("status"), since, until + timedelta(days=1) if until else None,
        before_id=before_arg(),
    )
    return render(
        "promoter/orders.html",
        "promoter/_order_rows.html",
        orders=rows,
        has_more=len(rows) == reports.PAGE_SIZE,
        level=level,
        depth=depth,
        args=args,
        statuses=[s for s in OrderStatus],
        tab="orders",
    )


@bp.get("/orders/<int:order_id>")
def order_show(order_id: int):
    promoter = _promoter()
    order = db.session.get(Order, order_id)
    level = orders_service.promoter_can_see(promoter, order) if order else None
    if level is None:
        abort(404)  # never confirm that someone else's order exists
    return render("promoter/order.html", order=orders_service.load_full(order), level=level, tab="orders")


@bp.get("/stock")
def stock():
    promoter = _promoter()
    return render("promoter/stock.html", levels=orders_service.stock_for(promoter.id),
                  movements=orders_service.stock_movements(promoter.id), tab="me")


def _local_day(value, tz):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        return None


@bp.get("/wallet")
def wallet():
    promoter = _promoter()
    tz = current_user.timezone
    month = request.args.get("month") or ""
    since = until = None
    if month:
        start = _local_day(f"{month}-01", tz)
        if start is not None:
            since = start
            until = (start + timedelta(days=32)).replace(day=1)
        else:
            month = ""
    groups = wallet_service.order_groups(promoter.id, tz, since, until, before_order_id=before_arg())
    return render(
        "promoter/wallet.html",
        "promoter/_wallet_groups.html",
        balances=wallet_service.balances(promoter.id),
        groups=groups,
        has_more=len(groups) == wallet_service.GROUP_PAGE_SIZE,
        month=month,
        tab="wallet",
    )


@bp.get("/me")
def me():
    return render("promoter/me.html", promoter=_promoter(), tab="me")


@bp.post("/me/avatar")
def avatar():
    """A new profile picture (it goes on the promoter's posters)."""
    from pathlib import Path

    from flask import current_app

    from distweb.models import User
    from distweb.services import images

    upload = request.files.get("avatar")
    user = db.session.get(User, current_user.id)
    try:
        images.save_avatar(user, upload.read(images.MAX_AVATAR_BYTES + 1) if upload else b"",
                           Path(current_app.config["DISTWEB_UPLOADS"]))
    except ServiceError as err:
        flash(str(err.message), "error")
    else:
        flash(_("头像已更新，海报会用上新头像。"), "success")
    return redirect_to(url_for("promoter.me"))


@bp.get("/team")
def team():
    promoter = _promoter()
    settings = network.get_settings(promoter.brand_id)
    depth = commission.plan_depth(promoter.brand_id)
    level = request.args.get("level", 1, type=int)
    if level not in range(1, depth + 1):
        level = 1
    query = (request.args.get("q") or "").strip()[:40]
    before = before_arg()
    members = network.team_page(
        promoter.id, level, reports.month_start(current_user.timezone), query=query or None, before_id=before
    )
    return render(
        "promoter/team.html",
        "promoter/_team_rows.html",
        promoter=promoter,
        level=level,
        depth=depth,
        counts=network.team_counts(promoter.id, depth),
        members=members,
        query=query,
        has_more=len(members) == 20,
        settings=settings,
        tab="me",
    )


@bp.get("/welcome")
def welcome():
    """After sign-up: install the app, share a first material, and how the brand pays (its
    real plan and withdrawal rules)."""
    from distweb.services import materials, onboarding

    promoter = _promoter()
    return render(
        "promoter/welcome.html",
        promoter=promoter,
        earning=onboarding.earning(promoter.brand_id, promoter.rank.value),
        picks=materials.top_picks(promoter.brand_id, limit=1),
        tab="home",
    )


@bp.get("/customers")
def customers():
    """我的客户: the buyers bound to me, searchable by phone digits, newest first."""
    from distweb.services import customers as customers_service

    promoter = _promoter()
    query = (request.args.get("q") or "").strip()[:20]
    rows = customers_service.page(promoter.id, query=query or None, before_id=before_arg())
    return render(
        "promoter/customers.html",
        "promoter/_customer_rows.html",
        customers=rows,
        total=customers_service.count(promoter.id),
        query=query,
        has_more=len(rows) == customers_service.PAGE_SIZE,
        tab="me",
    )


@bp.get("/invite")
def invite():
    promoter = _promoter()
    return render(
        "promoter/invite.html",
        promoter=promoter,
        invite_url=invite_url(promoter.code),
        stats=network.invite_stats(promoter.id, current_user.timezone),
        tab="me",
    )


@bp.route("/statements", methods=["GET", "POST"])
def statements_page():
    from distweb.services import statements

    promoter = _promoter()
    if request.method == "POST":
        try:
            statements.request(promoter, (request.form.get("period") or "").strip())
        except ServiceError as err:
            flash(str(err.message), "error")
        return redirect_to(url_for("promoter.statements_page"))
    rows = statements.for_promoter(promoter.id)
    pending = any(s.status.value in ("queued", "running") for s in rows)
    return render("promoter/statements.html", "promoter/_statement_rows.html", statements=rows, pending=pending,
                  this_month=utcnow().astimezone(ZoneInfo(current_user.timezone)).strftime("%Y-%m"), tab="me")


@bp.get("/statements/<int:statement_id>.pdf")
def statement_pdf(statement_id: int):
    from distweb.services import statements

    promoter = _promoter()
    try:
        statement = statements.get_for_promoter(promoter.id, statement_id)
    except NotFound:
        abort(404)  # another promoter's statement does not exist, as far as this one knows
    path = statements.file_path(statement)
    if statement.status.value != "succeeded" or not path.exists():
        abort(404)
    return send_file(path, mimetype="application/pdf", as_attachment=True,
                     download_name=f"statement-{statement.period}.pdf", max_age=0)


@bp.route("/withdraw", methods=["GET", "POST"])
def withdraw():
    """提现: amount, method and the saved account; the amount is held at once."""
    from distweb.money import parse_yuan
    from distweb.services import withdrawals

    promoter = _promoter()
    account = withdrawals.payout_account(promoter.id)
    rules = withdrawals.rules_for(promoter.brand_id)
    error = None
    status = 200
    if request.method == "POST":
        try:
            if account is None:
                raise ServiceError("account_required", _("请先设置收款账户。"), "account")
            try:
                amount = parse_yuan(request.form.get("amount", ""))
            except ValueError:
                raise ServiceError("invalid_amount", _("请输入金额，最多两位小数。"), "amount") from None
            withdrawals.request(promoter.id, withdrawals.Request(amount, account.method, account.account_name,
                                                                 account.account_no))
        except ServiceError as err:
            error, status = str(err.message), 422
        else:
            flash(_("提现申请已提交，金额已冻结等待处理。"), "success")
            return redirect_to(url_for("promoter.withdraw"))
    from distweb.services import provider_payouts

    return render("promoter/withdraw.html", balances=wallet_service.balances(promoter.id), account=account,
                  rules=rules, history=provider_payouts.payee_views(promoter.id, withdrawals.for_promoter(promoter.id)),
                  error=error, tab="wallet"), status


@bp.route("/payout-account", methods=["GET", "POST"])
def payout_account():
    from distweb.services import withdrawals

    promoter = _promoter()
    error = None
    status = 200
    if request.method == "POST":
        try:
            withdrawals.save_payout_account(current_user, promoter.id, request.form.get("password", ""),
                                            request.form.get("method", ""), request.form.get("account_name", ""),
                                            request.form.get("account_no", ""))
        except ServiceError as err:
            error, status = str(err.message), 422
        else:
            flash(_("收款账户已保存。"), "success")
            return redirect_to(url_for("promoter.withdraw"))
    return _payout_account_page(promoter, error, None, status)


def _payout_account_page(promoter, error, wechat_error, status):
    from distweb.services import online_pay, withdrawals

    return render("promoter/payout_account.html", account=withdrawals.payout_account(promoter.id), error=error,
                  wechat_error=wechat_error, wechat_enabled="wechat" in online_pay.enabled(promoter.brand_id),
                  in_wechat=online_pay.browser_kind(request.headers.get("User-Agent")) == "wechat",
                  tab="wallet"), status


WECHAT_BIND_KEY = "wx_bind"
WECHAT_BIND_SECONDS = 600


@bp.post("/payout-account/wechat")
def wechat_bind():
    """绑定微信收款: inside WeChat, the password again and the payee's real name, then WeChat's
    OAuth (snsapi_base, no prompt) names the openid under the brand's AppID; ``state`` ties
    the way back to this session."""
    import secrets
    import time

    from flask import session

    from distweb.services import online_pay, withdrawals
    from distweb.services.payment_providers import ProviderError

    promoter = _promoter()
    try:
        if online_pay.browser_kind(request.headers.get("User-Agent")) != "wechat":
            raise ServiceError("not_in_wechat", _("请在微信中打开本页再绑定。"))
        provider = online_pay.provider_for(promoter.brand_id, "wechat")
        name = withdrawals.check_wechat_binding(current_user, request.form.get("password", ""),
                                                request.form.get("account_name", ""))
    except NotFound:
        return _payout_account_page(promoter, None, _("本品牌暂未开通微信打款。"), 422)
    except ProviderError:
        return _payout_account_page(promoter, None, _("本品牌的微信支付设置不完整，请联系品牌方。"), 422)
    except ServiceError as err:
        return _payout_account_page(promoter, None, str(err.message), 422)
    state = secrets.token_urlsafe(16)
    session[WECHAT_BIND_KEY] = {"state": state, "name": name, "promoter": promoter.id, "at": int(time.time())}
    # Not a redirect: the CSP's form-action 'self' would stop a form post redirected to
    # WeChat; this page goes there itself (static/js/go.js), or with a tap on its link.
    return render("promoter/wechat_bind_go.html", target=provider.oauth_url(
        url_for("promoter.wechat_bind_back", _external=True), state), tab="wallet")


@bp.get("/payout-account/wechat/back")
def wechat_bind_back():
    """WeChat comes back with a one-time code (and our state): exchanged for the openid,
    which becomes the account 商家转账 pays."""
    import time

    from flask import redirect, session

    from distweb.services import online_pay, withdrawals
    from distweb.services.payment_providers import ProviderError

    promoter = _promoter()
    pending = session.pop(WECHAT_BIND_KEY, None)
    code = (request.args.get("code") or "")[:128]
    if (not isinstance(pending, dict) or pending.get("promoter") != promoter.id or not code
            or pending.get("state") != request.args.get("state")
            or time.time() - int(pending.get("at") or 0) > WECHAT_BIND_SECONDS):
        flash(_("微信授权已失效，请重新绑定。"), "error")
        return redirect(url_for("promoter.payout_account"))
    try:
        openid = online_pay.provider_for(promoter.brand_id, "wechat").openid_for_code(code)
        withdrawals.bind_wechat(promoter.id, pending.get("name", ""), openid)
    except (ServiceError, ProviderError):
        flash(_("微信授权失败，请重新绑定。"), "error")
        return redirect(url_for("promoter.payout_account"))
    flash(_("微信收款账户已绑定。"), "success")
    return redirect(url_for("promoter.payout_account"))


@bp.get("/withdrawals/<int:withdrawal_id>")
def withdrawal_show(withdrawal_id: int):
    """One withdrawal on the payee's phone: while WeChat 商家转账 waits for the payee (用户确认
    模式), the 确认收款 button opens WeChat's confirm page (requestMerchantTransfer); the
    page follows the payout until the provider's notification settles it."""
    from distweb.services import online_pay, provider_payouts

    promoter = _promoter()
    try:
        view = provider_payouts.payee_view(promoter.id, withdrawal_id)
    except NotFound:
        abort(404)
    from distweb.services.payment_providers import ProviderError

    in_wechat = online_pay.browser_kind(request.headers.get("User-Agent")) == "wechat"
    try:
        params = provider_payouts.confirm_params(view)
    except (ServiceError, ProviderError):  # the brand's WeChat settings are gone: nothing to confirm with
        params = None
    wx_config = None
    if params and in_wechat:
        # WeChat lets a page call requestMerchantTransfer only after its wx.config.
        from distweb.services import wechat_jssdk

        try:
            wx_config = wechat_jssdk.page_config(promoter.brand_id, request.url, ("requestMerchantTransfer",))
        except (ServiceError, ProviderError) as err:
            log.warning("no wx.config for withdrawal %s: %s", withdrawal_id, err)
    return render("promoter/withdrawal.html", view=view, params=params, in_wechat=in_wechat, wx_config=wx_config,
                  tab="wallet")


@bp.get("/withdrawals/<int:withdrawal_id>/status")
def withdrawal_status(withdrawal_id: int):
    from flask import make_response

    from distweb.services import provider_payouts

    promoter = _promoter()
    try:
        view = provider_payouts.payee_view(promoter.id, withdrawal_id)
    except NotFound:
        abort(404)
    response = make_response({"state": view.state, "reason": str(view.reason) if view.reason else None})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/inbox")
def inbox():
    from distweb.services import notifications

    rows = notifications.inbox(current_user.id)
    response = render("promoter/inbox.html", notifications=rows, tab="me")
    notifications.mark_all_read(current_user.id)
    return response


@bp.app_context_processor
def unread_badge():
    """The bell's unread count in the promoter shell (one indexed count per page)."""
    user = signed_in_user()
    if not user.is_authenticated or not user.is_promoter:
        return {}
    from distweb.services import notifications

    # The home page reads it with its figures (the same transaction): no second query.
    count = g.get("unread_count")
    if count is None:
        count = notifications.unread_count(user.id)
    return {"unread_count": count}
