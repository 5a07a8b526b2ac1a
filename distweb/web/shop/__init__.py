from distweb.web.shop.routes import bp

__all__ = ["bp"]
