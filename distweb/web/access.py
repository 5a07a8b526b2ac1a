"""Who may see what: role guards for blueprints."""

from __future__ import annotations

from flask import abort
from flask_login import current_user, login_required

from distweb.models.user import Role


def require_role(blueprint, role: Role) -> None:
    """Every route of ``blueprint`` needs a signed-in user of ``role``."""

    @blueprint.before_request
    @login_required
    def _guard():
        if current_user.role != role:
            abort(403)
