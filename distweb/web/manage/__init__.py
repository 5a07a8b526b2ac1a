# Importing the modules registers their routes on bp.
from distweb.web.manage import (  # noqa: F401
    catalogue,
    commission,
    dashboard,
    imports,
    materials,
    network,
    orders,
    payouts,
    settings,
)
from distweb.web.manage.routes import bp

__all__ = ["bp"]
