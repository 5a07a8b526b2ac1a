"""The real app plus one trivial route, for bench/pages.py: ``gunicorn bench.bench_wsgi:app``.

The hello route goes through the same app, so it pays for the same request hooks (security
headers, session, Babel, the limiter) as every page; only the view itself is trivial. It
exists only here, never in the shipped app.
"""

from distweb import create_app

app = create_app()


def _hello():
    return "hello"


app.add_url_rule("/bench/hello", "bench_hello", _hello)
