from distweb.web.manage.routes import bp

__all__ = ["bp"]
