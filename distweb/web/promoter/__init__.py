from distweb.web.promoter import materials  # noqa: F401 — registers its routes on bp
from distweb.web.promoter.routes import bp

__all__ = ["bp"]
