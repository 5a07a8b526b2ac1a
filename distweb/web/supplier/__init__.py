from distweb.web.supplier.routes import bp

__all__ = ["bp"]
