"""Python function calls per request of the promoter home and of hello: the steady figure
behind bench/pages.py (whose requests/s move with whatever else the machine is doing).

Run from the checkout:  .venv/bin/python bench/page_calls.py [--requests 200] [--top 40]

Same set-up as bench/pages.py (throwaway database and Redis, migrations, the demo, a real
login POST), but the app is called in-process as a WSGI callable, the way gunicorn calls it,
under cProfile. ``--top N`` prints the N functions with the most cumulative time of the home.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pages import CSRF_META, USER_AGENT, prepare_database  # noqa: E402


def call(app, path, method="GET", headers=None, body=b""):
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(path=path, method=method, headers={"User-Agent": USER_AGENT, **(headers or {})},
                             data=body, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    environ = builder.get_environ()
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers

    chunks = app(environ, start_response)
    try:
        data = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return captured["status"], captured["headers"], data.decode()


def cookies(headers, jar):
    from http.cookies import SimpleCookie

    for name, value in headers:
        if name.lower() == "set-cookie":
            for key, morsel in SimpleCookie(value).items():
                jar[key] = morsel.value
    return jar


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--callers", default="", help="print the callers of functions matching this")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="distweb-calls-"))
    instance = tmp / "instance"
    instance.mkdir()
    os.environ["DISTWEB_INSTANCE"] = str(instance)
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
    from tests.support.services import throwaway_database, throwaway_redis

    try:
        with throwaway_database(tmp) as database_url, throwaway_redis(tmp) as redis_url:
            import urllib.parse

            from distweb.services import demo

            prepare_database(database_url, redis_url, instance)
            os.environ.update(DATABASE_URL=database_url, REDIS_URL=redis_url)
            from bench.bench_wsgi import app

            status, headers, html = call(app, "/auth/login")
            jar = cookies(headers, {})
            token = CSRF_META.search(html).group(1)
            body = urllib.parse.urlencode({"csrf_token": token, "login": demo.FIRST_PROMOTER_PHONE,
                                           "password": demo.DEMO_PASSWORD}).encode()
            cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
            status, headers, _ = call(app, "/auth/login", "POST", {
                "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, body)
            assert status.startswith("302"), status
            cookie = "; ".join(f"{k}={v}" for k, v in cookies(headers, jar).items())

            routes = [("promoter home", "/promoter/", {"Cookie": cookie}), ("hello", "/bench/hello", {})]
            results = {}
            for name, path, hdrs in routes:
                for _ in range(20):  # warm caches, compile templates
                    status, _, _ = call(app, path, headers=hdrs)
                    assert status.startswith("200"), (name, status)
                gc_time = [0.0, 0, [0, 0, 0]]

                def gc_clock(phase, info, gc_time=gc_time):
                    if phase == "start":
                        gc_time[1] = time.perf_counter()
                    else:
                        gc_time[0] += time.perf_counter() - gc_time[1]
                        gc_time[2][info["generation"]] += 1

                gc.callbacks.append(gc_clock)
                began = time.perf_counter()
                for _ in range(args.requests):
                    call(app, path, headers=hdrs)
                gc.callbacks.remove(gc_clock)
                gc_ms = gc_time[0] / args.requests * 1000
                plain_ms = (time.perf_counter() - began) / args.requests * 1000
                profiler = cProfile.Profile()
                began = time.perf_counter()
                profiler.enable()
                for _ in range(args.requests):
                    call(app, path, headers=hdrs)
                profiler.disable()
                elapsed = time.perf_counter() - began
                stats = pstats.Stats(profiler)
                results[name] = (stats.total_calls / args.requests, elapsed / args.requests * 1000, stats, plain_ms, gc_ms, gc_time[2])
            database = "postgresql" if database_url.startswith("postgres") else "sqlite"
            print(f"distweb page calls ({database}, {args.requests} requests each, in-process WSGI, "
                  f"EnvironBuilder included)")
            for name, (calls, ms, _, plain_ms, gc_ms, gcs) in results.items():
                print(f"  {name:<14} {calls:8.0f} calls/request   {plain_ms:6.2f} ms/request "
                      f"({ms:6.2f} under cProfile; of which garbage collection {gc_ms:5.2f} ms, "
                      f"collections per generation {gcs})")
            home, hello = results["promoter home"][0], results["hello"][0]
            print(f"  call ratio hello/home = {hello / home:.3f}")
            if args.top:
                out = io.StringIO()
                results["promoter home"][2].stream = out
                results["promoter home"][2].sort_stats(args.sort).print_stats(args.top)
                print(out.getvalue())
            if args.callers:
                out = io.StringIO()
                results["promoter home"][2].stream = out
                results["promoter home"][2].sort_stats("ncalls").print_callers(args.callers)
                print(out.getvalue())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
