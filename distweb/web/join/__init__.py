from distweb.web.join.routes import bp

__all__ = ["bp"]
