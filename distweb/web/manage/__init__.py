from distweb.web.manage import catalogue, commission, materials, network, orders, payouts, settings  # noqa: F401 — registers their routes on bp
from distweb.web.manage.routes import bp

__all__ = ["bp"]
