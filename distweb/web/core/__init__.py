from distweb.web.core.routes import bp

__all__ = ["bp"]
