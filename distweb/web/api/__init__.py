from distweb.web.api import dashboard, openapi, orders, payouts, plan, promoters, webhooks  # noqa: F401 — registers routes on bp
from distweb.web.api.base import bp

__all__ = ["bp"]
