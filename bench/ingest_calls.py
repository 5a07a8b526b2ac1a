"""Python calls, CPU and SQL statements per ``POST /api/v1/orders``: the steady figures
behind bench/ingest.py (whose orders/s move with whatever else the machine is doing).

Run from the checkout:  .venv/bin/python bench/ingest_calls.py [--orders 400] [--top 40]

Same set-up as bench/ingest.py (throwaway PostgreSQL database and embedded Redis, the brand,
plan, products, network and API key made by its ``prepare``), but the app, built as
``wsgi.py`` builds it, is called in-process as a WSGI callable, one order after another.
It prints, per order: CPU milliseconds (in this process, without and with cProfile, and in
the PostgreSQL backends serving it), Python function calls, SQL statements, and the round
trips of one order of each mode; ``--top N`` prints the N functions with the most cumulative
time (wall time, database waits included; ``--cpu``: CPU time only).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import os
import pstats
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import make_orders, prepare  # noqa: E402
from bench.page_calls import call  # noqa: E402
from bench.support import bench_instance  # noqa: E402


def _backends(database_url: str) -> list[int]:
    """The PostgreSQL backends serving the app (every connection to the bench's database but
    the one asking)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]


def _cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (those still running)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError, IndexError):
            continue
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=400, help="orders per measured pass")
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--callers", default="", help="print the callers of functions matching this")
    parser.add_argument("--sql", action="store_true", help="print each distinct statement of one order")
    parser.add_argument("--cpu", action="store_true",
                        help="profile CPU time (time.process_time) instead of wall time, so waits on the database "
                             "cost nothing")
    args = parser.parse_args()

    tmp = bench_instance("ingest-calls", postgres=True)
    (tmp / "instance").mkdir()
    from tests.support.services import throwaway_database, throwaway_redis

    env_redis = os.environ.pop("REDIS_URL", None)
    try:
        with throwaway_database(tmp) as database_url, throwaway_redis(tmp) as redis_url:
            setup = prepare(database_url, redis_url, 200)
            os.environ.update(DATABASE_URL=database_url, REDIS_URL=redis_url)
            from sqlalchemy import event

            from distweb import create_app
            from distweb.extensions import db

            app = create_app()
            statements: list[str] = []
            with app.app_context():
                engine = db.engine

            @event.listens_for(engine, "before_cursor_execute")
            def _count(conn, cursor, statement, parameters, context, executemany):
                statements.append(statement)

            shapes = make_orders(120 + 2 * args.orders, "CALLS", 13900000000, setup.products, setup.promoters, 42)
            headers = {"Authorization": f"Bearer {setup.api_key}", "Content-Type": "application/json"}
            sent = iter(shapes)

            def post() -> str:
                """Send the next order; returns its mode."""
                shape = next(sent)
                status, _, data = call(app, "/api/v1/orders", "POST", headers, shape.body())
                assert status.startswith("201"), (status, data[:300])
                return shape.mode

            for _ in range(100):  # warm up: imports, compiled statements, caches
                post()
            # Every round trip of one order as SQLAlchemy sends it, transaction commands included
            # (an executemany is one: psycopg pipelines it), from the engine's documented events.
            trips: list[str] = []

            def on_statement(conn, cursor, statement, parameters, context, executemany):
                shown = " ".join(str(statement).split())
                trips.append(f"executemany ({len(parameters)} rows) {shown[:78]}" if executemany
                             else f"execute {shown[:90]}")

            tracers = [("before_cursor_execute", on_statement)] + [
                (name, lambda conn, *_a, name=name: trips.append(f"command {name.upper()}"))
                for name in ("begin", "commit", "rollback")]
            for name, fn in tracers:
                event.listen(engine, name, fn)
            traced: dict[str, list[str]] = {}  # the first order of each mode, as sent
            for _ in range(19):
                trips.clear()
                traced.setdefault(post(), list(trips))
                if len(traced) == 2:
                    break
            for name, fn in tracers:
                event.remove(engine, name, fn)
            statements.clear()
            backends = _backends(database_url)
            db_cpu = _cpu_of(backends)
            began, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.orders):
                post()
            wall_ms = (time.perf_counter() - began) / args.orders * 1000
            cpu_ms = (time.process_time() - cpu) / args.orders * 1000
            db_cpu_ms = (_cpu_of(backends) - db_cpu) / args.orders * 1000
            kinds = collections.Counter(s.split(None, 1)[0].upper() for s in statements)
            distinct = collections.Counter(statements)
            n_statements = len(statements)
            profiler = cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()
            began = time.perf_counter()
            profiler.enable()
            for _ in range(args.orders):
                post()
            profiler.disable()
            prof_ms = (time.perf_counter() - began) / args.orders * 1000
            stats = pstats.Stats(profiler)
            print(f"POST /api/v1/orders on PostgreSQL, in-process WSGI, {args.orders} orders "
                  f"(EnvironBuilder included)")
            print(f"  {stats.total_calls / args.orders:8.0f} calls/order   CPU {cpu_ms:5.2f} ms/order "
                  f"(wall {wall_ms:5.2f} ms; {prof_ms:5.2f} ms under cProfile)")
            print(f"  PostgreSQL CPU {db_cpu_ms:5.2f} ms/order (the app's backends, from /proc)")
            print(f"  {n_statements / args.orders:5.2f} SQL statements/order: "
                  + ", ".join(f"{k} {n / args.orders:.2f}" for k, n in kinds.most_common()))
            for mode, trips in sorted(traced.items()):
                print(f"  round trips of one {mode} order ({len(trips)}):")
                for trip in trips:
                    print(f"    {trip}")
            if args.sql:
                for statement, n in distinct.most_common():
                    print(f"  --- {n / args.orders:.2f}/order\n{statement}")
            by_area: collections.Counter = collections.Counter()
            calls_by_area: collections.Counter = collections.Counter()
            for (filename, _line, _name), (_cc, nc, tt, _ct, _callers) in stats.stats.items():
                parts = filename.replace("\\", "/").split("/")
                if "site-packages" in parts:
                    area = "/".join(parts[parts.index("site-packages") + 1:][:2])
                elif "distweb" in parts:
                    area = "/".join(parts[parts.index("distweb"):][:3])
                else:
                    area = "other"
                by_area[area] += tt
                calls_by_area[area] += nc
            print(f"  own {'CPU' if args.cpu else 'wall'} time under cProfile by area (ms/order, calls/order):")
            for area, tt in by_area.most_common(25):
                print(f"    {area:<40} {tt / args.orders * 1000:6.2f} {calls_by_area[area] / args.orders:7.0f}")
            if args.top:
                out = io.StringIO()
                stats.stream = out
                stats.sort_stats(args.sort).print_stats(args.top)
                print(out.getvalue())
            if args.callers:
                out = io.StringIO()
                stats.stream = out
                stats.sort_stats("ncalls").print_callers(args.callers)
                print(out.getvalue())
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if env_redis:
            os.environ["REDIS_URL"] = env_redis


if __name__ == "__main__":
    main()
