from distweb.web.pay.routes import bp

__all__ = ["bp"]
