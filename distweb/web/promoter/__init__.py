from distweb.web.promoter.routes import bp

__all__ = ["bp"]
