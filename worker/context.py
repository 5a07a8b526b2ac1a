"""Job functions may run under ``distweb worker`` (app context already pushed) or under a
plain ``rq worker`` (no app yet); this decorator makes both work."""

from __future__ import annotations

import functools

from flask import has_app_context

_app = None


def with_app_context(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        global _app
        if has_app_context():
            return func(*args, **kwargs)
        if _app is None:
            from distweb import create_app

            _app = create_app()
        with _app.app_context():
            try:
                return func(*args, **kwargs)
            finally:
                from distweb.extensions import db

                db.session.remove()

    return wrapper
