from distweb.web.promoter import materials, team_stats  # noqa: F401 — registers their routes on bp
from distweb.web.promoter.routes import bp

__all__ = ["bp"]
