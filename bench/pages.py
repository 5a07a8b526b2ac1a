"""How fast is a real page compared with the cheapest possible route of the same app?

Run from the checkout:  .venv/bin/python bench/pages.py [--duration 12] [--rounds 3] [--workers 1]

It sets up its own throwaway database (SQLite, or a fresh PostgreSQL database when
DATABASE_URL is set) and Redis (the embedded one, or an empty index of REDIS_URL), migrates,
loads the demo data, serves ``bench.bench_wsgi:app`` with gunicorn and measures, on loopback
and with the same server settings for both (1 worker x 4 threads by default; see --workers):

  1. ``/promoter/``    the promoter home, signed in (cookie from a real login POST with the
                       CSRF token from the login page's <meta name="csrf-token">);
  2. ``/bench/hello``  a view that returns "hello" inside the same app.

The load generator is ``wrk`` when installed (``apt-get install wrk``), otherwise a
multi-threaded keep-alive Python client. It measures twice: with the page cache (the default;
target home >= 1/2 of hello) and with DISTWEB_PAGE_CACHE=0 (target >= 1/4).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USER_AGENT = "Mozilla/5.0 (Linux; Android 14) distweb-bench/1"  # login and load use the same one
TARGET_RATIO = 1 / 2  # with the page cache (the default)
TARGET_RATIO_UNCACHED = 1 / 4  # DISTWEB_PAGE_CACHE=0
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')

WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format(
    "BENCH requests=%d duration_us=%d status_errors=%d socket_errors=%d p50_us=%d p95_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


# --- set-up ------------------------------------------------------------------------------


def prepare_database(database_url: str, redis_url: str, instance: Path) -> str:
    """Migrate and load the demo; returns the demo promoter's name."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from distweb import create_app
    from distweb.config import normalise_database_url, redis_url_for_limits
    from distweb.extensions import db
    from distweb.models import User
    from distweb.services import demo

    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "DISTWEB_UPLOADS": str(instance / "uploads"),
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
            "REDIS_URL": redis_url,
            "RATELIMIT_STORAGE_URI": redis_url_for_limits(redis_url),
        }
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "distweb" / "migrations"))
        demo.load_demo()
        name = db.session.scalars(select(User.name).where(User.phone == demo.FIRST_PROMOTER_PHONE)).one()
        db.session.remove()
        db.engine.dispose()
    return name


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict, port: int, workers: int, threads: int, log: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "bench.bench_wsgi:app", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--threads", str(threads), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_ready(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            status, _, _ = request(port, "GET", "/healthz")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"server not ready in {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


# --- HTTP ----------------------------------------------------------------------------------


def request(port, method, path, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"User-Agent": USER_AGENT, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.msg, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def cookies_from(msg, jar: dict) -> dict:
    for header in msg.get_all("Set-Cookie") or []:
        for name, morsel in SimpleCookie(header).items():
            jar[name] = morsel.value
    return jar


def cookie_header(jar: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def login(port: int, username: str, password: str) -> str:
    """A real sign-in, as a browser does it; returns the Cookie header of the session."""
    status, msg, html = request(port, "GET", "/auth/login")
    assert status == 200, f"login page: HTTP {status}"
    match = CSRF_META.search(html)
    assert match, "login page has no <meta name=csrf-token>"
    jar = cookies_from(msg, {})
    body = urllib.parse.urlencode({"csrf_token": match.group(1), "login": username, "password": password})
    status, msg, _ = request(
        port, "POST", "/auth/login", body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie_header(jar)},
    )
    assert status == 302 and msg["Location"].endswith("/promoter/"), f"login failed: HTTP {status}"
    return cookie_header(cookies_from(msg, jar))


# --- load generators -----------------------------------------------------------------------


def run_wrk(port, path, headers, duration, connections, threads, script: Path) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(script)]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run(cmd + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    fields = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    return {
        "rps": fields["requests"] / (fields["duration_us"] / 1e6),
        "requests": fields["requests"],
        "errors": fields["status_errors"] + fields["socket_errors"],
        "p50_ms": fields["p50_us"] / 1000,
        "p95_ms": fields["p95_us"] / 1000,
        "p99_ms": fields["p99_us"] / 1000,
    }


def run_python(port, path, headers, duration, connections, _threads=None, _script=None) -> dict:
    """Keep-alive connections, one thread each, for ``duration`` seconds."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    deadline = time.monotonic() + duration
    send = {"User-Agent": USER_AGENT, **headers}

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while (start := time.monotonic()) < deadline:
            try:
                conn.request("GET", path, headers=send)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors[i] += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            latencies[i].append(time.monotonic() - start)
        conn.close()

    began = time.monotonic()
    workers = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    elapsed = time.monotonic() - began
    flat = sorted(x for per in latencies for x in per)

    def pct(p):
        return flat[min(len(flat) - 1, int(len(flat) * p / 100))] * 1000 if flat else float("nan")

    return {"rps": len(flat) / elapsed, "requests": len(flat), "errors": sum(errors),
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99)}


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=12, help="seconds measured per route, in total")
    parser.add_argument("--rounds", type=int, default=3, help="alternate the routes this many times")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per route")
    parser.add_argument("--connections", type=int, default=16)
    # One worker by default: with several, gunicorn's workers race to accept() and wrk opens
    # all its keep-alive connections at once, so a run often lands every connection on one
    # worker and the figure halves at random. One worker measures the per-request cost the
    # ratio is about, and leaves the second core to wrk.
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (both routes)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()

    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
    if args.client == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    generator = run_wrk if use_wrk else run_python

    tmp = Path(tempfile.mkdtemp(prefix="distweb-bench-"))
    instance = tmp / "instance"
    instance.mkdir()
    os.environ["DISTWEB_INSTANCE"] = str(instance)  # before the app reads its settings
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
    script = tmp / "report.lua"
    script.write_text(WRK_REPORT)

    from tests.support.services import throwaway_database, throwaway_redis

    server = None
    try:
        with throwaway_database(tmp) as database_url, throwaway_redis(tmp) as redis_url:

            promoter_name = prepare_database(database_url, redis_url, instance)
            env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url,
                       DISTWEB_INSTANCE=str(instance), PYTHONUNBUFFERED="1")
            database = "postgresql" if database_url.startswith("postgres") else "sqlite"
            print(f"distweb bench: gunicorn {args.workers} worker(s) x {args.threads} thread(s), "
                  f"{os.cpu_count()} CPU(s), {database}, load: {'wrk' if use_wrk else 'python client'} "
                  f"{args.connections} connections, {args.warmup}s warm-up, then {args.rounds} round(s) "
                  f"alternating the routes, {args.duration}s per route in total")
            verdicts = []
            for label, page_cache, target in (("page cache on", "1", TARGET_RATIO),
                                              ("page cache off", "0", TARGET_RATIO_UNCACHED)):
                port = free_port()
                log = tmp / f"gunicorn-{page_cache}.log"
                server = start_server(dict(env, DISTWEB_PAGE_CACHE=page_cache), port, args.workers, args.threads,
                                      log)
                wait_ready(port, server, log)
                print(f"\n{label} (DISTWEB_PAGE_CACHE={page_cache}):")
                ratio = measure(port, promoter_name, args, generator, script)
                verdict = "OK" if ratio >= target else "BELOW TARGET"
                print(f"  ratio home/hello = {ratio:.2f} (target >= {target:.2f}): {verdict}")
                verdicts.append((label, ratio, target, verdict))
                stop(server)
                server = None
            print("\nsummary: " + "; ".join(f"{label} {ratio:.2f} (>= {target:.2f}) {verdict}"
                                             for label, ratio, target, verdict in verdicts))
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(tmp, ignore_errors=True)


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def measure(port: int, promoter_name: str, args, generator, script: Path) -> float:
    """Alternate the promoter home and hello; print each round; the median ratio."""
    from distweb.services import demo

    cookie = login(port, demo.FIRST_PROMOTER_PHONE, demo.DEMO_PASSWORD)
    routes = [
        ("promoter home", "/promoter/", {"Cookie": cookie}, promoter_name),
        ("hello", "/bench/hello", {}, "hello"),
    ]
    # Each route answers what a user would see before anything is timed.
    for name, path, headers, expected in routes:
        status, _, body = request(port, "GET", path, headers=headers)
        assert status == 200 and expected in body, f"{name}: HTTP {status}, {expected!r} missing"
    print(f"  load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for _, path, headers, _ in routes:
        generator(port, path, headers, args.warmup, args.connections, 1, script)
    per_round = max(1, round(args.duration / args.rounds))
    rounds: dict[str, list[dict]] = {name: [] for name, *_ in routes}
    for n in range(args.rounds):
        for name, path, headers, _ in routes:
            r = generator(port, path, headers, per_round, args.connections, 1, script)
            rounds[name].append(r)
            print(f"  round {n + 1}  {name:<14} {r['rps']:8.1f} req/s   p50 {r['p50_ms']:6.1f} ms   "
                  f"p95 {r['p95_ms']:6.1f} ms   ({r['requests']} requests, {r['errors']} errors)")
    print(f"  load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    median = statistics.median
    print("  median over the rounds:")
    for name, path, _, _ in routes:
        rs = rounds[name]
        print(f"    {name:<14} {path:<14} {median(r['rps'] for r in rs):8.1f} req/s   "
              f"p50 {median(r['p50_ms'] for r in rs):6.1f} ms   p95 {median(r['p95_ms'] for r in rs):6.1f} ms   "
              f"({sum(r['requests'] for r in rs)} requests, {sum(r['errors'] for r in rs)} errors)")
    ratios = [h["rps"] / w["rps"] for h, w in zip(rounds["promoter home"], rounds["hello"], strict=True)]
    print(f"  per round: {', '.join(f'{x:.2f}' for x in ratios)}")
    if any(r["errors"] for rs in rounds.values() for r in rs):
        print("  warning: some requests failed; see the counts above", file=sys.stderr)
    return median(ratios)


if __name__ == "__main__":
    main()
