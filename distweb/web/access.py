"""Who may see what: role guards for blueprints."""

from __future__ import annotations

from flask import abort, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from distweb.models.user import Role


def require_role(blueprint, role: Role) -> None:
    """Every route of ``blueprint`` needs a signed-in user of ``role``."""

    @blueprint.before_request
    @login_required
    def _guard():
        if current_user.role != role:
            abort(403)


# What a suspended promoter may still do besides reading: ask for a statement of its own
# money, and manage how it is notified.
SUSPENDED_MAY_POST = frozenset({"promoter.statements_page", "promoter.notification_settings", "promoter.push_subscribe",
                                "promoter.push_unsubscribe"})


def read_only_when_suspended(blueprint) -> None:
    """A suspended promoter signs in read-only (orders, wallet, statements; the layout says
    why): any other change is refused with a 403 that says so."""

    @blueprint.before_request
    def _read_only():
        if (request.method not in ("GET", "HEAD", "OPTIONS") and request.endpoint not in SUSPENDED_MAY_POST
                and current_user.is_authenticated and current_user.is_suspended_promoter):
            from distweb.web.errors import error_response

            return error_response(403, _("账号已暂停，只能查看订单、钱包和对账单。"), "account_suspended")
        return None
