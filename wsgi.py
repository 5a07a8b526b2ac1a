"""The gunicorn / flask entry point: ``gunicorn wsgi:app``."""

from distweb import create_app

app = create_app()
