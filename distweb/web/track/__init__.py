from distweb.web.track.routes import bp

__all__ = ["bp"]
