"""Webhook burst: signed order events at a fixed rate through the queue, then checked.

Run from the checkout:  .venv/bin/python bench/burst.py [--events 20000] [--rate 500]
                             [--kill-worker 5] [--workers 2] [--senders 32] [--seed 18]

Loopback only, bounded, stops by itself. Like bench/faults.py (whose process helpers it uses)
it builds its own throwaway database (PostgreSQL when DATABASE_URL is set, else a SQLite file)
and its own redis-server (appendonly, on a unix socket), migrates, seeds a brand with a
depth-2 commission plan, two products, a partner with promoters under it and an API key, and
starts gunicorn (2 workers x 4 threads) and ``distweb worker`` processes.

The burst: --events signed deliveries to POST /api/v1/webhooks/orders at --rate a second
(open loop: delivery i is due at i/rate seconds, whatever the answers before it), from
--senders keep-alive connections. The events are orders' chains (order.paid, order.completed,
and for one order in ten order.refunded), interleaved; 10 % of the orders have their chain
reordered (a later event goes first: a completion or refund before its order), and 30 % of the
deliveries are duplicates of an earlier one (sent again a little or a long while later). A
delivery that gets no answer or a 5xx is sent again, as a shop would, and counted.
``--kill-worker N`` SIGKILLs a worker (its parent and work horse) N times, evenly over the
burst, each time starting a new one.

It prints the acknowledgement latency (p50/p95/p99 from sending to the answer; target p95 <
50 ms at 500 events/s), how far the senders fell behind the schedule, the time from the last
acknowledgement until the queue is drained (no event queued, failed or held), and then checks:
every order sent exists exactly once, completed, with the refunds sent applied once; every
order item has its commission lines, none twice; every event sent is stored once, applied or
a duplicate (none held, failed, dead or refused); ``ledger verify`` is clean. Exit status 1 on
any failure, 5xx, or the drain not finishing within --drain-timeout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import queue
import random
import statistics
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

from bench.faults import PRODUCTS, RedisServer, Services, free_port, seed_brand  # noqa: E402
from bench.ingest import busy_before, load_average  # noqa: E402

TARGET_P95_MS = 50.0
DUPLICATES = 0.3
REORDERED = 0.1
REFUNDED = 0.1


@dataclass
class Delivery:
    envelope: dict
    raw: bytes = b""


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list = field(default_factory=list)  # seconds, send → answer, per delivery
    behind: list = field(default_factory=list)  # seconds the send started after it was due
    statuses: Counter = field(default_factory=Counter)
    resent: int = 0
    five_xx: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    last_ack: float = 0.0


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def build_stream(n: int, promoters: list[str], rng: random.Random) -> tuple[list[dict], dict, int]:
    """``n`` deliveries: orders' chains interleaved, 10 % of the chains reordered, 30 % of the
    deliveries duplicates of earlier ones. Returns (envelopes, expected per order, reordered)."""
    unique_target = round(n * (1 - DUPLICATES))
    chains: list[list[dict]] = []
    expected: dict[str, dict] = {}
    reordered = 0
    count, seq = 0, 0
    while count < unique_target:
        seq += 1
        ext = f"B-{seq}"
        items = [{"sku": sku, "quantity": rng.randint(1, 3)} for sku, _, _ in rng.sample(PRODUCTS, rng.randint(1, 2))]
        chain = [
            {"id": f"{ext}-paid", "type": "order.paid",
             "data": {"external_id": ext, "promoter_code": rng.choice(promoters), "mode": "promotion",
                      "items": items, "paid_at": now_iso()}},
            {"id": f"{ext}-done", "type": "order.completed", "data": {"external_id": ext, "completed_at": now_iso()}},
        ]
        refunds = {}
        if rng.random() < REFUNDED:
            refunds[f"{ext}-R1"] = 100
            chain.append({"id": f"{ext}-refund", "type": "order.refunded",
                          "data": {"external_id": ext, "refund_id": f"{ext}-R1",
                                   "items": [{"sku": items[0]["sku"], "amount_fen": 100}]}})
        chain = chain[:unique_target - count]
        if len(chain) > 1 and rng.random() < REORDERED:  # a later event goes first
            chain.insert(0, chain.pop(rng.randrange(1, len(chain))))
            reordered += 1
        count += len(chain)
        chains.append(chain)
        kinds = {e["type"] for e in chain}
        expected[ext] = {"paid": "order.paid" in kinds, "completed": "order.completed" in kinds,
                         "refunds": {r: fen for r, fen in refunds.items() if "order.refunded" in kinds},
                         "events": [e["id"] for e in chain]}
    # Interleave: at each step one of the next few open chains sends its next event.
    stream: list[dict] = []
    open_chains: list[list[dict]] = []
    pending = list(chains)
    pending.reverse()
    while pending or open_chains:
        while pending and len(open_chains) < 40:
            open_chains.append(list(pending.pop()))
        i = rng.randrange(len(open_chains))
        stream.append(open_chains[i].pop(0))
        if not open_chains[i]:
            open_chains.pop(i)
    # Duplicates: each a copy of an earlier delivery, sent again soon or long after.
    for _ in range(n - len(stream)):
        j = rng.randrange(len(stream))
        ahead = rng.randint(1, 50) if rng.random() < 0.5 else rng.randint(50, 5000)
        stream.insert(min(len(stream), j + ahead), stream[j])
    return stream, expected, reordered


class Sender:
    """Keep-alive connections, one per thread; a delivery with no answer or a 5xx is sent
    again (the same body, signed anew)."""

    def __init__(self, port: int, key: str, secret: str, tally: Tally):
        self.port, self.key, self.secret, self.tally = port, key, secret, tally
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return conn

    def send(self, raw: bytes) -> None:
        from distweb.services.webhooks import sign

        for attempt in range(30):
            headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json",
                       "X-Distweb-Signature": sign(self.secret, int(time.time()), raw)}
            started = time.perf_counter()
            try:
                conn = self._conn()
                conn.request("POST", "/api/v1/webhooks/orders", body=raw, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                self.local.conn = None
                with self.tally.lock:
                    self.tally.resent += 1
                time.sleep(0.1 * (attempt + 1))
                continue
            took = time.perf_counter() - started
            with self.tally.lock:
                self.tally.statuses[response.status] += 1
                if response.status >= 500:
                    self.tally.five_xx.append(f"{response.status}: {body[:200]!r}")
                    self.tally.resent += 1
                else:
                    self.tally.latencies.append(took)
                    self.tally.last_ack = time.monotonic()
                    if response.status not in (200, 202):
                        self.tally.refused.append(f"{response.status}: {body[:200]!r}")
            if response.status < 500:
                return
            time.sleep(0.1 * (attempt + 1))
        with self.tally.lock:
            self.tally.refused.append("no answer after 30 attempts")


def send_share(p: int, processes: int, bodies: list[bytes], t0: float, interval: float, port: int, key: str,
               secret: str, threads: int, answered, results) -> None:
    """One sender process: deliveries p, p + processes, ... each at its due time (t0 + i x
    interval), from ``threads`` keep-alive connections; its figures go to ``results``.
    Several processes, so the client's own interpreter lock does not add to the latency."""
    tally = Tally()
    sender = Sender(port, key, secret, tally)
    indices = iter(range(p, len(bodies), processes))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                i = next(indices, None)
            if i is None:
                return
            wait = t0 + i * interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            else:
                with tally.lock:
                    tally.behind.append(-wait)
            sender.send(bodies[i])
            with answered.get_lock():
                answered.value += 1

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    results.put({"latencies": tally.latencies, "behind": tally.behind, "statuses": dict(tally.statuses),
                 "resent": tally.resent, "five_xx": tally.five_xx[:20], "refused": tally.refused[:20],
                 "last_ack": tally.last_ack})


class BurstServices(Services):
    """bench/faults.py's processes, the workers at a lower CPU priority (``nice``): on one
    shared 2-core machine the web processes answering the burst come first, as they would on
    a machine of their own."""

    def __init__(self, *args, nice: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.nice = nice

    def start_worker(self):
        prefix = ["nice", "-n", str(self.nice)] if self.nice else []
        proc = self._spawn([*prefix, sys.executable, "-m", "distweb", "worker"], "worker")
        self.workers.append(proc)
        return proc


class Burst:
    def __init__(self, args, tmp: Path, database_url: str):
        self.args, self.tmp, self.database_url = args, tmp, database_url
        self.rng = random.Random(args.seed)
        self.redis = RedisServer(tmp)
        self.tally = Tally()
        self.kills = 0
        self.problems: list[str] = []

    def setup(self) -> None:
        from bench.support import bench_app

        self.redis.start()
        self.app = bench_app(self.database_url, self.redis.url)
        with self.app.app_context():
            self._seed()
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": self.redis.url,
               "DISTWEB_INSTANCE": str(self.tmp / "instance"), "SECRET_KEY": "burst", "PYTHONUNBUFFERED": "1"}
        self.services = BurstServices(self.tmp, env, self.port, workers=self.args.workers, nice=self.args.worker_nice)
        self.services.start_web()
        self.services.start_workers()

    def _seed(self) -> None:
        self.brand_id, self.key, self.secret, promoters = seed_brand("爆发品牌", "burst")
        self.promoters = [code for _, code in promoters]

    # the burst

    def run(self) -> int:
        a = self.args
        stream, self.expected, self.reordered = build_stream(a.events, self.promoters, self.rng)
        bodies = [json.dumps(e).encode() for e in stream]
        self._wait_workers()
        busy_before("burst")
        ctx = multiprocessing.get_context("fork")
        answered = ctx.Value("q", 0)
        results = ctx.Queue()
        t0 = time.monotonic() + 1.0
        processes = [ctx.Process(target=send_share, daemon=True,
                                 args=(p, a.sender_processes, bodies, t0, 1.0 / a.rate, self.port, self.key, self.secret,
                                       max(1, a.senders // a.sender_processes), answered, results))
                     for p in range(a.sender_processes)]
        for proc in processes:
            proc.start()
        kill_at = [(k + 1) * len(bodies) // (a.kill_worker + 1) for k in range(a.kill_worker)]
        shares = []
        while len(shares) < len(processes):
            try:
                shares.append(results.get(timeout=0.05))
            except queue.Empty:
                pass
            if kill_at and answered.value >= kill_at[0]:
                kill_at.pop(0)
                self._kill_a_worker(answered.value)
            self.services.keep_alive()
        for proc in processes:
            proc.join()
        for share in shares:
            self.tally.latencies += share["latencies"]
            self.tally.behind += share["behind"]
            self.tally.statuses.update(share["statuses"])
            self.tally.resent += share["resent"]
            self.tally.five_xx += share["five_xx"]
            self.tally.refused += share["refused"]
            self.tally.last_ack = max(self.tally.last_ack, share["last_ack"])
        sent_for = self.tally.last_ack - t0
        drained, depth_left = self._wait_drained(a.drain_timeout)
        drain = time.monotonic() - self.tally.last_ack
        self._check()
        return self.report(sent_for, drain if drained else None, depth_left)

    def _wait_workers(self) -> None:
        from rq import Worker

        from distweb.queues import get_queue

        with self.app.app_context():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if len(Worker.all(queue=get_queue("webhooks"))) >= self.args.workers:
                    return
                time.sleep(0.2)
        raise RuntimeError("the workers did not start; see worker.log")

    def _kill_a_worker(self, answered: int) -> None:
        """SIGKILL the worker running a drain if one does (else any), parent and work horse."""
        from rq import Worker

        from distweb.queues import get_queue

        ours = {p.pid for p in self.services.workers}
        target, busy = None, []
        deadline = time.monotonic() + 5  # a worker in the middle of a drain, if one comes soon
        with self.app.app_context():
            while not busy and time.monotonic() < deadline:
                try:
                    busy = [w.pid for w in Worker.all(queue=get_queue("webhooks"))
                            if w.get_current_job_id() and w.pid in ours]
                except Exception:  # noqa: BLE001 — any worker then
                    break
                if not busy:
                    time.sleep(0.05)
        candidates = busy or sorted(ours)
        if candidates:
            target = self.rng.choice(candidates)
            self.services.kill_worker(target)
            self.kills += 1
            print(f"  killed worker {target} ({'during a drain' if target in busy else 'idle'}) "
                  f"at {answered:,} deliveries", flush=True)

    def _wait_drained(self, timeout: float) -> tuple[bool, int]:
        from sqlalchemy import func, select

        from distweb.extensions import db
        from distweb.models import WebhookEvent
        from distweb.models.fulfilment import WebhookStatus

        waiting = (WebhookStatus.QUEUED, WebhookStatus.FAILED, WebhookStatus.HELD)
        deadline = time.monotonic() + timeout
        left = -1
        with self.app.app_context():
            while time.monotonic() < deadline:
                self.services.keep_alive()
                left = db.session.scalar(select(func.count()).select_from(WebhookEvent).where(
                    WebhookEvent.status.in_(waiting)))
                db.session.rollback()
                if left == 0:
                    return True, 0
                time.sleep(0.1)
            db.session.remove()
        return False, left

    # checks

    def _check(self) -> None:
        from sqlalchemy import func, select

        from distweb.extensions import db
        from distweb.models import CommissionLine, Order, OrderItem, Refund, WebhookEvent
        from distweb.models.order import OrderStatus
        from distweb.services.verify import verify

        out = self.problems
        exp = self.expected
        with self.app.app_context():
            orders = Counter(db.session.scalars(select(Order.external_id).where(Order.brand_id == self.brand_id)))
            status = dict(db.session.execute(select(Order.external_id, Order.status)
                                             .where(Order.brand_id == self.brand_id)).all())
            missing = [e for e, x in exp.items() if x["paid"] and e not in orders]
            if missing:
                out.append(f"orders missing: {len(missing)} {missing[:5]}")
            twice = [e for e, n in orders.items() if n > 1]
            if twice:
                out.append(f"orders twice: {len(twice)} {twice[:5]}")
            extra = [e for e in orders if e not in exp or not exp[e]["paid"]]
            if extra:
                out.append(f"orders never sent paid: {extra[:5]}")
            not_done = [e for e, x in exp.items() if x["paid"] and x["completed"] and e in status
                        and status[e] not in (OrderStatus.COMPLETED, OrderStatus.REFUNDED)]
            if not_done:
                out.append(f"completions not applied: {len(not_done)} {not_done[:5]}")
            refunds = Counter(db.session.scalars(select(Refund.refund_id).join(Order, Order.id == Refund.order_id)
                                                 .where(Order.brand_id == self.brand_id)))
            wanted = {r for x in exp.values() if x["paid"] for r in x["refunds"]}
            if wanted - set(refunds):
                out.append(f"refunds not applied: {len(wanted - set(refunds))}")
            if any(n > 1 for n in refunds.values()):
                out.append("refunds applied twice")
            items_without = db.session.scalars(
                select(OrderItem.id).join(Order, Order.id == OrderItem.order_id).where(
                    Order.brand_id == self.brand_id,
                    ~select(CommissionLine.id).where(CommissionLine.order_item_id == OrderItem.id).exists())).all()
            if items_without:
                out.append(f"order items without commission lines: {len(items_without)}")
            line_twice = db.session.execute(
                select(CommissionLine.order_item_id, CommissionLine.level, CommissionLine.kind, func.count())
                .group_by(CommissionLine.order_item_id, CommissionLine.level, CommissionLine.kind)
                .having(func.count() > 1)).all()
            if line_twice:
                out.append(f"commission lines twice: {len(line_twice)} {line_twice[:3]}")
            stored = Counter(db.session.scalars(select(WebhookEvent.event_id).where(
                WebhookEvent.brand_id == self.brand_id)))
            sent = {e for x in exp.values() for e in x["events"]}
            if sent - set(stored):
                out.append(f"events never stored: {len(sent - set(stored))}")
            self.event_states = Counter(s.value for s in db.session.scalars(select(WebhookEvent.status).where(
                WebhookEvent.brand_id == self.brand_id)))
            bad = {s: n for s, n in self.event_states.items() if s not in ("applied", "duplicate")}
            if bad:
                out.append(f"events not applied: {bad}")
            report = verify(self.brand_id, reprice_limit=200)
            if report.violations:
                out.append(f"ledger verify: {len(report.violations)} violation(s) {report.violations[:3]}")
            self.order_count = len(orders)
            db.session.remove()

    def report(self, sent_for: float, drain: float | None, depth_left: int) -> int:
        a, t = self.args, self.tally
        db_name = "PostgreSQL" if self.database_url.startswith("postgresql") else "SQLite"
        lat = sorted(t.latencies)

        def pct(p: float) -> float:
            return 1000 * lat[min(len(lat) - 1, int(p / 100 * len(lat)))] if lat else float("nan")

        delivered = t.statuses.total()
        print(f"\nwebhook burst on {db_name}, {a.workers} worker(s) at nice {a.worker_nice}, gunicorn 2 x 4, "
              f"{a.senders} sender connections in {a.sender_processes} processes")
        print(f"  deliveries        {a.events:,} at {a.rate}/s ({sum(1 for _ in self.expected):,} orders, "
              f"{round(a.events * DUPLICATES):,} duplicates, {self.reordered} orders reordered)")
        print(f"  sent in           {sent_for:.1f} s = {delivered / sent_for:.0f} answers/s "
              f"(answers {dict(sorted(t.statuses.items()))}, resent {t.resent})")
        behind = sorted(t.behind)
        if behind:
            print(f"  behind schedule   {len(behind):,} sends, p95 {1000 * behind[int(0.95 * (len(behind) - 1))]:.0f} ms, "
                  f"max {1000 * behind[-1]:.0f} ms")
        else:
            print("  behind schedule   never")
        print(f"  ack latency       p50 {pct(50):.1f} ms, p95 {pct(95):.1f} ms, p99 {pct(99):.1f} ms, "
              f"mean {1000 * statistics.fmean(lat):.1f} ms (target p95 < {TARGET_P95_MS:.0f} ms)")
        if drain is None:
            print(f"  drain             NOT drained within {a.drain_timeout:.0f} s ({depth_left} events waiting)")
        else:
            print(f"  drain             {drain:.1f} s after the last acknowledgement")
        print(f"  worker kills      {self.kills}")
        print(f"  orders            {self.order_count:,}; events {dict(sorted(self.event_states.items()))}")
        print(f"  5xx               {len(t.five_xx)}; refused {len(t.refused)}")
        print(f"  load average      {load_average()}")
        for line in self.problems + t.five_xx[:5] + t.refused[:5]:
            print(f"  ! {line}")
        print("  checks            " + ("every order once, one set of commission lines, ledger verify clean"
                                       if not self.problems else "FAILED"))
        slow = pct(95) >= TARGET_P95_MS
        if slow:
            print(f"  ! ack p95 {pct(95):.1f} ms is not under {TARGET_P95_MS:.0f} ms")
        return 1 if (self.problems or t.five_xx or t.refused or drain is None) else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="deliveries in all, duplicates included")
    parser.add_argument("--rate", type=float, default=500, help="deliveries a second (open loop)")
    parser.add_argument("--kill-worker", type=int, default=0, metavar="N",
                        help="SIGKILL a worker N times, evenly over the burst")
    parser.add_argument("--workers", type=int, default=2, help="distweb worker processes")
    parser.add_argument("--worker-nice", type=int, default=10, help="the workers' nice value (0: as the web)")
    parser.add_argument("--senders", type=int, default=32, help="concurrent sender connections in all")
    parser.add_argument("--sender-processes", type=int, default=4, help="client processes the connections are spread over")
    parser.add_argument("--drain-timeout", type=float, default=1800, help="seconds to wait for the queue to drain")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args(argv)
    from tests.support.services import throwaway_database

    tmp = Path(tempfile.mkdtemp(prefix="distweb-bench-burst-"))
    os.environ["DISTWEB_INSTANCE"] = str(tmp / "instance")
    os.environ.setdefault("SECRET_KEY", "burst")
    with ExitStack() as stack:
        url = stack.enter_context(throwaway_database(tmp))
        burst = Burst(args, tmp, url)
        stack.callback(burst.redis.stop)
        try:
            burst.setup()
            stack.callback(burst.services.stop)
            print(f"services up (logs in {tmp}); {args.events:,} deliveries at {args.rate:.0f}/s"
                  f"{f', {args.kill_worker} worker kills' if args.kill_worker else ''}", flush=True)
            return burst.run()
        except BaseException:
            print(f"(logs kept in {tmp})", file=sys.stderr)
            raise


if __name__ == "__main__":
    sys.exit(main())
