from distweb.web.pwa.routes import bp

__all__ = ["bp"]
