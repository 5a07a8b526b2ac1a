from distweb.web.media.routes import bp

__all__ = ["bp"]
