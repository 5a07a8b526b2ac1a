"""Order ingest on PostgreSQL: POST /api/v1/orders next to bare psycopg inserts of the same rows.

Run from the checkout:  .venv/bin/python bench/ingest.py [--orders 20000] [--clients 8]
                                                         [--workers 2] [--threads 4]

Builds its own throwaway PostgreSQL database (DATABASE_URL, default the machine's
postgresql://postgres@127.0.0.1:5432/test) and an embedded Redis, migrates, and creates through
the app's services the brand, a three-level commission plan (10 % / 5 % / 2 %), 20 products
(promotion + consignment, three suppliers), a three-level network of 200 promoters, their
ledger accounts and an API key. Then it measures, with the same orders and the same number of
concurrent clients for both:

  1. the API       every order is a ``POST /api/v1/orders`` (bearer key) to gunicorn
                   (``wsgi:app``, gthread, 2 workers x 4 threads by default: one worker per
                   core of the 2-core machine, enough threads to overlap database waits) on
                   loopback, from keep-alive ``http.client`` connections, one thread each;
  2. the baseline  no Flask: each client thread has its own psycopg connection and writes,
                   in one transaction per order, with plain INSERT ... RETURNING, the rows the
                   API writes for that order: orders (already paid), order_items, the buyer's
                   binding (promotion orders only), order_events 'placed' and 'paid', for
                   consignment purchase_orders + purchase_order_lines and their
                   'purchase_order' events, the commission: commission_lines priced with the
                   app's own pure rules (distweb.domain.commission) and one balanced ledger
                   transaction at the order's paid_at with its ledger_entries (those not tied to
                   a line summed per account, as ledger.Draft.entries), and the promoter's
                   notification (with its upline's on a first sale). Not mirrored: the app's
                   Redis call after commit that wakes the push job.

Every order is a new buyer (unique phone), 1-3 items, a promoter code from the network, half
promotion and half consignment, already paid. The database first holds 5,000 earlier orders
with fresh statistics (empty tables would make the planner check foreign keys with sequential
scans, and every insert would get slower as a run fills them). Each side is warmed up with 200
orders; both measured runs start from the same rows (the API's are deleted again, then VACUUM
ANALYZE and CHECKPOINT), and the rows each run wrote are compared table by table with a
digest, so the baseline is known to write exactly what the API writes. Every API response must
be a 201; failures are printed. The API run stops taking orders at --limit seconds (240 by
default, to keep the whole bench under ~6 minutes); the baseline then writes the same orders
that the API did. The exit status is 1 when an order failed, the rows differ, the API run hit
the time limit, or the target is missed.

Target: the API's throughput is at least 1/3 of the baseline's.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import itertools
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1 / 3
WARMUP_ORDERS = 200
HISTORY_ORDERS = 5_000
LIMIT_S = 240.0  # per measured run: keeps the whole bench under ~6 minutes
PRODUCTS = 20
SUPPLIERS = ("westlake-tea", "yunnan-leaf", "fujian-white")
PARTNERS, MENTORS_EACH = 4, 9  # 4 partners, 36 mentors, the rest promoters under the mentors
PASSWORD = "bench12345"
# Every table a paid order writes rows to, in the order a run's rows are deleted again.
ORDER_TABLES = ("notifications", "ledger_entries", "ledger_transactions", "commission_lines", "purchase_order_lines", "order_events",
                "purchase_orders", "order_items", "orders", "buyer_bindings")
# The brand's commission plan (saved as version 1): three levels, consignment L2/L3 funded
# by the supplier's payable (the default).
PLAN = {
    "depth": 3, "freeze_days": 7, "rounding": "half_up", "max_total_bp": 3000, "self_purchase": False,
    "consignment_funding": "supplier",
    "rules": [{"scope": {"sku": None, "category": None, "rank": None}, "level": level, "kind": "percent",
               "base": "paid", "rate_bp": rate} for level, rate in ((1, 1000), (2, 500), (3, 200))],
}


# --- set-up ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    id: int
    sku: str
    name: str
    category: str | None
    price_fen: int
    supply_cost_fen: int
    supplier_id: int


@dataclass(frozen=True)
class Promoter:
    id: int
    code: str
    chain: tuple[int | None, int | None, int | None]  # L1..L3 as the order snapshots it
    ranks: tuple[str | None, str | None, str | None]  # their ranks (rules may depend on them)
    user_id: int  # whose inbox hears of its orders
    name: str  # its user's name (its upline's first-sale notice names it)
    upline_user_id: int | None  # the upline's user (told of the promoter's first sale)


@dataclass
class Setup:
    brand_id: int
    api_key: str
    products: list[Product]
    promoters: list[Promoter]
    plan_version: int
    plan: object  # distweb.domain.commission.Plan
    accounts: dict[tuple[str, int], int]  # (account kind, owner id) -> ledger_accounts.id


@dataclass(frozen=True)
class Shape:
    """One order, the same for the API and the baseline."""

    external_id: str
    promoter: Promoter
    mode: str
    buyer_name: str
    buyer_phone: str
    items: tuple[tuple[Product, int], ...]  # (product, quantity); paid = price x quantity
    paid_at: datetime

    @property
    def total_fen(self) -> int:
        return sum(p.price_fen * q for p, q in self.items)

    def body(self) -> bytes:
        return json.dumps({
            "external_id": self.external_id,
            "promoter_code": self.promoter.code,
            "mode": self.mode,
            "currency": "CNY",
            "buyer": {"name": self.buyer_name, "phone": self.buyer_phone},
            "items": [{"sku": p.sku, "quantity": q, "unit_price_fen": p.price_fen, "paid_fen": p.price_fen * q}
                      for p, q in self.items],
            "paid_at": self.paid_at.isoformat(),
        }, ensure_ascii=False).encode()


def prepare(database_url: str, redis_url: str, promoters: int) -> Setup:
    """Migrate; create the brand, its commission plan, products, network, ledger accounts and
    an API key through the app's services."""
    from sqlalchemy import select

    from bench.support import bench_app
    from distweb.domain import commission as rules
    from distweb.extensions import db
    from distweb.models import Product as ProductRow
    from distweb.models import Promoter as PromoterRow
    from distweb.models.ledger import AccountKind
    from distweb.models.network import Rank
    from distweb.services import accounts, api_keys, catalogue, commission, ledger, network
    from distweb.services.tx import transaction

    app = bench_app(database_url, redis_url)
    with app.app_context():
        brand, _manager, _ = accounts.init_brand("基准品牌", "bench@example.com", PASSWORD)
        commission.set_depth(brand.id, 3)
        db.session.commit()

        rng = random.Random(3)
        for i in range(PRODUCTS):
            price = rng.randrange(1000, 20000, 100)
            catalogue.upsert_product(brand, f"TEA-{i + 1:03d}", catalogue.ProductInput(
                name=f"基准茶叶 {i + 1} 号 250g", price_fen=price, supply_cost_fen=price * 55 // 100,
                supplier_code=SUPPLIERS[i % len(SUPPLIERS)], category="tea", modes=("promotion", "consignment"),
            ))
        plan_row = commission.save_plan(brand.id, PLAN, note="bench ingest")

        # add_promoter hashes each password with argon2 (~0.1 s); one hash serves them all here.
        real_hash, one_hash = accounts.hash_password, accounts.hash_password(PASSWORD)
        accounts.hash_password = lambda _password: one_hash
        try:
            # Every promoter here is a distributor (分销商): half the orders are consignment.
            with transaction():
                partners = [network.add_promoter(brand, f"合伙人{i}", f"170{i:08d}", PASSWORD, None, rank=Rank.PARTNER,
                                                 distributor=True)
                            for i in range(PARTNERS)]
                mentors = [network.add_promoter(brand, f"导师{i}", f"171{i:08d}", PASSWORD, partners[i % PARTNERS],
                                                rank=Rank.MENTOR, distributor=True)
                           for i in range(PARTNERS * MENTORS_EACH)]
                for i in range(max(0, promoters - len(partners) - len(mentors))):
                    network.add_promoter(brand, f"推客{i}", f"172{i:08d}", PASSWORD, mentors[i % len(mentors)],
                                         distributor=True)
        finally:
            accounts.hash_password = real_hash
        _row, key = api_keys.create_key(brand, "bench ingest")

        products = [Product(p.id, p.sku, p.name, p.category, p.price_fen, p.supply_cost_fen, p.supplier_id)
                    for p in db.session.scalars(select(ProductRow).order_by(ProductRow.id))]
        rows = list(db.session.scalars(select(PromoterRow).order_by(PromoterRow.id)))
        rank = {p.id: p.rank.value for p in rows}
        user_of = {p.id: p.user_id for p in rows}
        network_rows = []
        for p in rows:
            chain = (p.id, p.upline_id, p.upline2_id)
            network_rows.append(Promoter(p.id, p.code, chain, tuple(rank.get(i) for i in chain), p.user_id,
                                         p.user.name, user_of.get(p.upline_id)))
        # The accounts an order posts to exist already, as in a shop that has been selling.
        wanted = [(AccountKind.BRAND_COMMISSION_EXPENSE, 0), (AccountKind.BRAND_CLEARING, 0),
                  (AccountKind.BRAND_REVENUE, 0)]
        wanted += [(AccountKind.SUPPLIER_PAYABLE, i) for i in sorted({p.supplier_id for p in products})]
        wanted += [(AccountKind.PROMOTER_FROZEN, p.id) for p in rows]
        with transaction():
            account_ids = {(kind.value, owner): ledger.account_id(brand.id, kind, owner) for kind, owner in wanted}
        setup = Setup(brand.id, key, products, network_rows, plan_row.version, rules.parse_plan(PLAN), account_ids)
        db.session.remove()
        db.engine.dispose()
    return setup


def make_orders(n: int, prefix: str, phone_base: int, products: list[Product], promoters: list[Promoter],
                seed: int) -> list[Shape]:
    rng = random.Random(seed)
    paid_at = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0) - timedelta(minutes=5)
    shapes = []
    for i in range(n):
        chosen = rng.sample(products, rng.choice((1, 1, 2, 2, 3)))
        shapes.append(Shape(
            external_id=f"{prefix}-{i + 1:06d}",
            promoter=rng.choice(promoters),
            mode="consignment" if rng.random() < 0.5 else "promotion",
            buyer_name=f"买家{i + 1}",
            buyer_phone=str(phone_base + i),
            items=tuple((p, rng.choice((1, 1, 1, 2, 3))) for p in chosen),
            paid_at=paid_at,
        ))
    return shapes


def commission_for(setup: Setup, shape: Shape, item_ids: list[int]) -> tuple[list, list]:
    """The commission lines and ledger entries of a paid order as
    ``distweb.services.commission.accrue`` writes them: priced by the app's own pure rules
    (``distweb.domain.commission``), drafted with the same accounts, signs and order as
    ``draft_accrual`` / ``_consignment_split``, then merged as ``ledger.Draft.entries`` does
    (postings not tied to a line summed per account where the account first appears, a sum
    of zero dropped; postings tied to a line kept as they are). Entries are (account kind,
    owner id, amount, index of the priced line or None); no entries, no ledger transaction."""
    from distweb.domain import commission as rules

    items = [rules.ItemLine(item_id, p.sku, p.category, q, p.price_fen * q, p.supply_cost_fen * q)
             for (p, q), item_id in zip(shape.items, item_ids, strict=True)]
    chain = [rules.Beneficiary(pid, rank) if pid else None
             for pid, rank in zip(shape.promoter.chain, shape.promoter.ranks, strict=True)]
    priced = rules.price_order(setup.plan, shape.mode, items, chain, at=shape.paid_at, stock_purchase=False)
    if not priced and shape.mode != "consignment":
        return priced, []  # nothing to pay (a consignment order always splits the buyer's money)
    postings: list[tuple[str, int, int, int | None]] = []

    def add(kind: str, owner: int, amount: int, line: int | None = None) -> None:
        if amount:
            postings.append((kind, owner, amount, line))

    def move(amount: int, source: tuple[str, int], target: tuple[str, int], source_line: int | None,
             target_line: int) -> None:
        add(*source, -amount, source_line)
        add(*target, amount, target_line)

    if shape.mode == "consignment":
        by_distributor = setup.plan.consignment_funding == "distributor"
        supplier = {item.index: p.supplier_id for (p, _), item in zip(shape.items, items, strict=True)}
        for item in items:
            mine = [(k, line) for k, line in enumerate(priced) if line.item_index == item.index]
            margin = next(((k, line) for k, line in mine if line.kind == "margin"), None)
            uplines = [(k, line) for k, line in mine if line.kind == "commission"]
            add("brand_clearing", 0, -item.paid_fen)
            add("supplier_payable", supplier[item.index], item.supply_cost_fen)
            rest = item.paid_fen - item.supply_cost_fen
            if margin is not None:
                k, line = margin
                credited = line.amount_fen + (sum(u.amount_fen for _, u in uplines) if by_distributor else 0)
                add("promoter_frozen", line.promoter_id, credited, k)
                rest -= credited
            add("brand_revenue", 0, rest)
            for k, line in uplines:
                target = ("promoter_frozen", line.promoter_id)
                if not by_distributor:
                    move(line.amount_fen, ("supplier_payable", supplier[item.index]), target, None, k)
                elif margin is not None:
                    move(line.amount_fen, ("promoter_frozen", margin[1].promoter_id), target, margin[0], k)
                else:
                    move(line.amount_fen, ("brand_revenue", 0), target, None, k)
    else:
        for k, line in enumerate(priced):
            # The promoter's leg is the line's; the brand's expense is one entry per order.
            move(line.amount_fen, ("brand_commission_expense", 0), ("promoter_frozen", line.promoter_id), None, k)
    assert sum(amount for _, _, amount, _ in postings) == 0, (shape.external_id, postings)
    merged: dict[tuple[str, int], list] = {}
    entries: list[list] = []
    for kind, owner, amount, line in postings:
        if line is not None:
            entries.append([kind, owner, amount, line])
        elif (kind, owner) in merged:
            merged[(kind, owner)][2] += amount
        else:
            merged[(kind, owner)] = [kind, owner, amount, None]
            entries.append(merged[(kind, owner)])
    return priced, [tuple(entry) for entry in entries if entry[2]]


def expected_rows(setup: Setup, shapes: list[Shape]) -> dict[str, int]:
    consignment = [s for s in shapes if s.mode == "consignment"]
    pos = sum(len({p.supplier_id for p, _ in s.items}) for s in consignment)
    money = [commission_for(setup, s, list(range(1, len(s.items) + 1))) for s in shapes]
    return {
        "orders": len(shapes),
        "order_items": sum(len(s.items) for s in shapes),
        "order_events": 2 * len(shapes) + pos,
        "purchase_orders": pos,
        "purchase_order_lines": sum(len(s.items) for s in consignment),
        "buyer_bindings": len(shapes) - len(consignment),
        "commission_lines": sum(len(priced) for priced, _ in money),
        "ledger_transactions": sum(1 for _, postings in money if postings),
        "ledger_entries": sum(len(postings) for _, postings in money),
    }


# --- the database between runs -----------------------------------------------------------

# What each table holds above the watermark after a run, without ids and clock times: the
# API's rows and the baseline's must give the same digest.
DIGESTS = {
    "orders": "SELECT md5(string_agg(concat_ws('|', external_id, mode, status, promoter_id, chain_l1_id, chain_l2_id, "
              "chain_l3_id, attribution_source, source, is_stock_purchase, buyer_name, buyer_phone, buyer_user_id, "
              "total_paid_fen, refunded_fen, paid_at, length(public_token)), ',' ORDER BY external_id)) "
              "FROM orders WHERE id > %(orders)s",
    "order_items": "SELECT md5(string_agg(concat_ws('|', o.external_id, i.product_id, i.sku, i.name, i.quantity, "
                   "i.unit_price_fen, i.paid_fen, i.supply_cost_fen, i.refunded_fen), ',' "
                   "ORDER BY o.external_id, i.sku)) FROM order_items i JOIN orders o ON o.id = i.order_id "
                   "WHERE i.id > %(order_items)s",
    "order_events": "SELECT md5(string_agg(concat_ws('|', o.external_id, e.kind, e.detail->>'source', "
                    "e.detail->>'amount_fen', e.detail->>'by', e.detail->>'supplier_id', e.detail->>'cost_fen', "
                    "(e.detail->>'purchase_order_id')::int = p.id, e.kind <> 'paid' OR e.at = o.paid_at), ',' "
                    "ORDER BY o.external_id, e.id)) FROM order_events e JOIN orders o ON o.id = e.order_id "
                    "LEFT JOIN purchase_orders p ON p.order_id = o.id "
                    "AND p.supplier_id = (e.detail->>'supplier_id')::int WHERE e.id > %(order_events)s",
    "purchase_orders": "SELECT md5(string_agg(concat_ws('|', o.external_id, p.brand_id, p.supplier_id, p.kind, p.status, "
                       "p.total_cost_fen), ',' ORDER BY o.external_id, p.supplier_id)) "
                       "FROM purchase_orders p JOIN orders o ON o.id = p.order_id WHERE p.id > %(purchase_orders)s",
    "purchase_order_lines": "SELECT md5(string_agg(concat_ws('|', o.external_id, p.supplier_id, l.sku, l.name, "
                            "l.quantity, l.cost_fen, i.sku = l.sku), ',' ORDER BY o.external_id, l.sku)) "
                            "FROM purchase_order_lines l JOIN purchase_orders p ON p.id = l.purchase_order_id "
                            "JOIN orders o ON o.id = p.order_id JOIN order_items i ON i.id = l.order_item_id "
                            "WHERE l.id > %(purchase_order_lines)s",
    # The promoter's notice of each order (and its upline's of a first sale), by order number.
    "notifications": "SELECT md5(string_agg(concat_ws('|', n.data->>'order_no', n.user_id, n.kind, "
                     "n.data->>'amount_fen', n.data->>'promoter_id', n.data->>'name', "
                     "(n.data->>'order_id')::int = o.id, n.push_pending, n.read_at), ',' "
                     "ORDER BY n.data->>'order_no', n.kind)) FROM notifications n "
                     "LEFT JOIN orders o ON o.external_id = n.data->>'order_no' WHERE n.id > %(notifications)s",
    "buyer_bindings": "SELECT md5(string_agg(concat_ws('|', buyer_key, promoter_id, expires_at), ',' "
                      "ORDER BY buyer_key)) FROM buyer_bindings WHERE id > %(buyer_bindings)s",
    "commission_lines": "SELECT md5(string_agg(concat_ws('|', o.external_id, i.sku, c.brand_id, c.promoter_id, c.level, "
                        "c.kind, c.amount_fen, c.reversed_fen, c.clawback_fen, c.status, c.plan_version, c.rule_index, "
                        "c.settled_at), ',' ORDER BY o.external_id, i.sku, c.level, c.kind)) "
                        "FROM commission_lines c JOIN orders o ON o.id = c.order_id "
                        "JOIN order_items i ON i.id = c.order_item_id WHERE c.id > %(commission_lines)s",
    "ledger_transactions": "SELECT md5(string_agg(concat_ws('|', o.external_id, t.brand_id, t.kind, t.reference, "
                           "t.memo->>'plan_version', t.occurred_at, t.occurred_at = o.paid_at), ',' "
                           "ORDER BY o.external_id, t.id)) "
                           "FROM ledger_transactions t JOIN orders o ON o.id = t.order_id "
                           "WHERE t.id > %(ledger_transactions)s",
    "ledger_entries": "SELECT md5(string_agg(concat_ws('|', o.external_id, a.kind, a.owner_id, e.amount_fen, i.sku, "
                      "c.level, c.kind), ',' ORDER BY o.external_id, e.id)) FROM ledger_entries e "
                      "JOIN ledger_transactions t ON t.id = e.transaction_id JOIN orders o ON o.id = t.order_id "
                      "JOIN ledger_accounts a ON a.id = e.account_id "
                      "LEFT JOIN commission_lines c ON c.id = e.commission_line_id "
                      "LEFT JOIN order_items i ON i.id = c.order_item_id WHERE e.id > %(ledger_entries)s",
}


def settle(database_url: str) -> dict[str, int]:
    """Fresh statistics and a checkpoint before a measured run; returns the watermark (the
    highest id in each order table) above which the run's rows will be."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {', '.join(ORDER_TABLES)}")
        conn.execute("CHECKPOINT")
        return {t: conn.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0] for t in ORDER_TABLES}


def remove_run(database_url: str, watermark: dict[str, int]) -> None:
    """Delete what a run wrote, so the next run starts from the same rows."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        for table in ORDER_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE id > %s", (watermark[table],))


def table_state(database_url: str, watermark: dict[str, int]) -> tuple[dict[str, int], dict[str, str]]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t} WHERE id > %s", (watermark[t],)).fetchone()[0]
                  for t in ORDER_TABLES}
        digests = {t: conn.execute(q, watermark).fetchone()[0] for t, q in DIGESTS.items()}
    return counts, digests


# --- running clients ---------------------------------------------------------------------


class CpuMeter:
    """CPU seconds used during a run by the app server's processes, by this database's
    PostgreSQL backends and by this process (the load generator, or the baseline's writers),
    read from /proc: unlike orders/s, CPU per order hardly changes when other processes share
    the machine."""

    def __init__(self, database_url: str, server_pid: int | None = None):
        import psycopg

        self.conn = psycopg.connect(database_url, autocommit=True)
        self.server_pid = server_pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def _cpu(self, pid: int) -> float | None:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / self.tick
        except (OSError, ValueError, IndexError):
            return None

    def _server_pids(self) -> list[int]:
        if self.server_pid is None:
            return []
        pids = [self.server_pid]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        if int(fh.read().rsplit(")", 1)[1].split()[1]) == self.server_pid:
                            pids.append(int(entry))
                except (OSError, ValueError, IndexError):
                    continue
        return pids

    def snapshot(self) -> dict[str, dict[int, float]]:
        backends = [pid for (pid,) in self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        usage = os.times()
        return {
            "app": {pid: cpu for pid in self._server_pids() if (cpu := self._cpu(pid)) is not None},
            "db": {pid: cpu for pid in backends if (cpu := self._cpu(pid)) is not None},
            "here": {0: usage.user + usage.system},
        }

    @staticmethod
    def used(before: dict, after: dict) -> dict[str, float]:
        return {part: sum(cpu - before[part].get(pid, 0.0) for pid, cpu in after[part].items()) for part in after}

    def close(self) -> None:
        self.conn.close()


@dataclass
class Result:
    completed: int
    elapsed: float
    latencies: list[float]
    failures: list[str]
    aborted: bool
    cpu: dict[str, float] | None = None  # CPU seconds by part (CpuMeter)

    @property
    def rate(self) -> float:
        return self.completed / self.elapsed if self.elapsed else 0.0

    def pct_ms(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000

    def cpu_ms(self, part: str) -> float:
        return self.cpu[part] / self.completed * 1000 if self.cpu and self.completed else float("nan")


def run_clients(n: int, clients: int, open_client, limit_s: float, meter: CpuMeter | None = None) -> Result:
    """``clients`` threads take orders 0..n-1 from one counter; ``open_client()`` returns
    (send(i) -> error text or None, close()) for a thread. Time (and CPU, with a meter) runs
    from when every client is connected to when the last order is answered; no client takes
    another order after ``limit_s``."""
    counter = itertools.count()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    started: list[float] = []
    cpu_start: list[dict] = []
    closers: list = []
    deadline = [float("inf")]

    def go() -> None:  # runs once, when every client is connected, before any is released
        if meter is not None:
            cpu_start.append(meter.snapshot())
        started.append(time.monotonic())
        deadline[0] = started[0] + limit_s

    ready = threading.Barrier(clients + 1, action=go, timeout=120)

    def client(slot: int) -> None:
        try:
            send, close = open_client()
        except Exception as exc:
            failures.append(f"client {slot} could not connect: {type(exc).__name__}: {exc}")
            ready.abort()
            raise
        closers.append(close)  # closed after the CPU is read: a backend's CPU goes with it
        ready.wait()
        mine = latencies[slot]
        # The deadline is checked before an order is taken, so the orders sent are
        # always orders 0..k-1 (a prefix the other side can repeat).
        while (i := next(counter) if time.monotonic() <= deadline[0] else n) < n:
            t0 = time.monotonic()
            try:
                error = send(i)
            except Exception as exc:  # noqa: BLE001 — counted as a failed order, the run goes on
                error = f"{type(exc).__name__}: {exc}"
            mine.append(time.monotonic() - t0)
            if error:
                failures.append(f"order #{i}: {error}")

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        for t in threads:
            t.join(timeout=10)
        for close in closers:
            close()
        return Result(0, 0.0, [], failures, True)
    for t in threads:
        t.join(timeout=max(1.0, deadline[0] + 60 - time.monotonic()))
    elapsed = time.monotonic() - started[0]
    cpu = CpuMeter.used(cpu_start[0], meter.snapshot()) if meter is not None else None
    for close in closers:
        close()
    flat = [x for per in latencies for x in per]
    return Result(len(flat), elapsed, flat, failures, len(flat) < n or any(t.is_alive() for t in threads), cpu)


def api_client(port: int, key: str, bodies: list[bytes]):
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
               "User-Agent": "distweb-bench-ingest/1"}

    def opener():
        state = {"conn": http.client.HTTPConnection("127.0.0.1", port, timeout=60)}
        state["conn"].connect()

        def send(i: int) -> str | None:
            conn = state["conn"]
            try:
                conn.request("POST", "/api/v1/orders", body=bodies[i], headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                state["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                return f"{type(exc).__name__}: {exc}"
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                state["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            if response.status != 201:
                return f"HTTP {response.status}: {data[:300].decode('utf-8', 'replace')}"
            return None

        return send, lambda: state["conn"].close()

    return opener


ORDER_SQL = (
    "INSERT INTO orders (brand_id, external_id, mode, status, is_stock_purchase, source, public_token, buyer_name, "
    "buyer_phone, buyer_address, buyer_user_id, total_paid_fen, refunded_fen, placed_at, paid_at, promoter_id, "
    "attribution_source, chain_l1_id, chain_l2_id, chain_l3_id, distributor_id) "
    "VALUES (%s, %s, %s, 'paid', false, 'api', %s, %s, %s, NULL, NULL, %s, 0, %s, %s, %s, 'api', %s, %s, %s, NULL) "
    "RETURNING id"
)
ITEM_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s, 0)"
ITEM_SQL = ("INSERT INTO order_items (order_id, product_id, sku, name, quantity, unit_price_fen, paid_fen, "
            "supply_cost_fen, refunded_fen) VALUES {} RETURNING id, product_id")
BINDING_SQL = ("INSERT INTO buyer_bindings (brand_id, buyer_key, promoter_id, bound_at, expires_at) "
               "VALUES (%s, %s, %s, %s, NULL)")
PO_ROW = "(%s, %s, %s, 'consignment', 'open', %s, %s)"
PO_SQL = ("INSERT INTO purchase_orders (brand_id, order_id, supplier_id, kind, status, total_cost_fen, created_at) "
          "VALUES {} RETURNING id, supplier_id")
LINE_ROW = "(%s, %s, %s, %s, %s, %s)"
LINE_SQL = "INSERT INTO purchase_order_lines (purchase_order_id, order_item_id, sku, name, quantity, cost_fen) VALUES {}"
EVENT_ROW = "(%s, %s, %s, %s)"
EVENT_SQL = "INSERT INTO order_events (order_id, kind, at, detail) VALUES {}"
COMMISSION_ROW = "(%s, %s, %s, %s, %s, %s, %s, 0, 0, 'frozen', %s, %s, %s)"
COMMISSION_SQL = ("INSERT INTO commission_lines (brand_id, order_id, order_item_id, promoter_id, level, kind, amount_fen, "
                  "reversed_fen, clawback_fen, status, plan_version, rule_index, created_at) VALUES {} "
                  "RETURNING id, order_item_id, level, kind")
LEDGER_TX_SQL = ("INSERT INTO ledger_transactions (brand_id, kind, order_id, reference, memo, occurred_at, created_at) "
                 "VALUES (%s, 'accrual', %s, %s, %s, %s, %s) RETURNING id")
ENTRY_ROW = "(%s, %s, %s, %s, %s)"
ENTRY_SQL = ("INSERT INTO ledger_entries (transaction_id, account_id, amount_fen, commission_line_id, created_at) "
             "VALUES {}")
# As distweb.services.notifications.order_paid: the promoter's notice, and its upline's while
# the promoter has no other paid order (its first sale), in one statement.
NOTICE_SQL = ("INSERT INTO notifications (user_id, kind, data, created_at, push_pending) "
              "VALUES (%s, 'order_paid', %s, %s, true)")
NOTICES_SQL = ("INSERT INTO notifications (user_id, kind, data, created_at, push_pending) "
               "SELECT %s::int, 'order_paid', %s::json, %s::timestamptz, true UNION ALL "
               "SELECT %s::int, 'team_first_sale', json_build_object('promoter_id', %s::int, 'name', %s::text, "
               "'order_no', %s::text), %s::timestamptz, true WHERE NOT EXISTS (SELECT 1 FROM orders "
               "WHERE promoter_id = %s::int AND paid_at IS NOT NULL AND id <> %s::int)")


def baseline_client(database_url: str, setup: Setup, secret_key: str, shapes: list[Shape]):
    """One psycopg connection per client; one transaction per order with plain INSERTs."""
    import psycopg
    from psycopg.types.json import Json

    brand_id = setup.brand_id

    def buyer_key(phone: str) -> str:  # as distweb.services.attribution.buyer_key_for_phone
        return hmac.new(secret_key.encode(), f"phone:{phone.strip()}".encode(), hashlib.sha256).hexdigest()

    def values(row: str, n: int) -> str:
        return ", ".join([row] * n)

    def opener():
        conn = psycopg.connect(database_url)
        cur = conn.cursor()

        def send(i: int) -> str | None:
            s = shapes[i]
            now = datetime.now(UTC)
            try:
                cur.execute(ORDER_SQL, (brand_id, s.external_id, s.mode, secrets.token_urlsafe(18), s.buyer_name,
                                        s.buyer_phone, s.total_fen, now, s.paid_at, s.promoter.id, *s.promoter.chain))
                order_id = cur.fetchone()[0]
                params = []
                for p, q in s.items:
                    params += [order_id, p.id, p.sku, p.name, q, p.price_fen, p.price_fen * q, p.supply_cost_fen * q]
                cur.execute(ITEM_SQL.format(values(ITEM_ROW, len(s.items))), params)
                by_product = {product_id: item_id for item_id, product_id in cur.fetchall()}
                item_ids = [by_product[p.id] for p, _ in s.items]
                if s.mode == "promotion":  # bindings credit promotion orders only (consignment: the seller's)
                    cur.execute(BINDING_SQL, (brand_id, buyer_key(s.buyer_phone), s.promoter.id, now))
                events = [order_id, "placed", now, Json({"source": "api"}),
                          order_id, "paid", s.paid_at, Json({"amount_fen": s.total_fen, "by": None})]
                if s.mode == "consignment":
                    by_supplier: dict[int, list[tuple[Product, int, int]]] = {}
                    for (p, q), item_id in zip(s.items, item_ids, strict=True):
                        by_supplier.setdefault(p.supplier_id, []).append((p, q, item_id))
                    params = []
                    for supplier_id, lines in by_supplier.items():
                        params += [brand_id, order_id, supplier_id, sum(p.supply_cost_fen * q for p, q, _ in lines), now]
                    cur.execute(PO_SQL.format(values(PO_ROW, len(by_supplier))), params)
                    po_ids = {supplier_id: po_id for po_id, supplier_id in cur.fetchall()}
                    params = []
                    for supplier_id, lines in by_supplier.items():
                        for p, q, item_id in lines:
                            params += [po_ids[supplier_id], item_id, p.sku, p.name, q, p.supply_cost_fen * q]
                        events += [order_id, "purchase_order", now,
                                   Json({"supplier_id": supplier_id, "purchase_order_id": po_ids[supplier_id],
                                         "cost_fen": sum(p.supply_cost_fen * q for p, q, _ in lines)})]
                    cur.execute(LINE_SQL.format(values(LINE_ROW, len(s.items))), params)
                cur.execute(EVENT_SQL.format(values(EVENT_ROW, len(events) // 4)), events)
                priced, postings = commission_for(setup, s, item_ids)
                line_ids: list[int | None] = []
                if priced:
                    params = []
                    for line in priced:
                        params += [brand_id, order_id, line.item_index, line.promoter_id, line.level, line.kind,
                                   line.amount_fen, setup.plan_version, line.rule_index, now]
                    cur.execute(COMMISSION_SQL.format(values(COMMISSION_ROW, len(priced))), params)
                    by_key = {(item_id, level, kind): line_id for line_id, item_id, level, kind in cur.fetchall()}
                    line_ids = [by_key[(line.item_index, line.level, line.kind)] for line in priced]
                if postings:
                    cur.execute(LEDGER_TX_SQL, (brand_id, order_id, s.external_id,
                                                Json({"plan_version": setup.plan_version}), s.paid_at, now))
                    tx_id = cur.fetchone()[0]
                    params = []
                    for kind, owner, amount, line in postings:
                        params += [tx_id, setup.accounts[(kind, owner)], amount,
                                   line_ids[line] if line is not None else None, now]
                    cur.execute(ENTRY_SQL.format(values(ENTRY_ROW, len(postings))), params)
                promoter = s.promoter
                notice = Json({"order_id": order_id, "order_no": s.external_id, "amount_fen": s.total_fen})
                if promoter.upline_user_id is None:
                    cur.execute(NOTICE_SQL, (promoter.user_id, notice, now))
                else:
                    cur.execute(NOTICES_SQL, (promoter.user_id, notice, now, promoter.upline_user_id, promoter.id,
                                              promoter.name, s.external_id, now, promoter.id, order_id))
                conn.commit()
            except psycopg.Error as exc:
                conn.rollback()
                return f"{type(exc).__name__}: {exc}"
            return None

        def close():
            cur.close()
            conn.close()

        return send, close

    return opener


# --- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_args(port: int, workers: int, threads: int) -> list[str]:
    return ["wsgi:app", "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", str(workers),
            "--threads", str(threads), "--keep-alive", "30", "--timeout", "60", "--log-level", "warning"]


def start_server(env: dict, args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "gunicorn", *args], cwd=ROOT, env=env, stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def wait_ready(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"gunicorn not ready in {timeout:.0f}s:\n{log.read_text(errors='replace')[-3000:]}")


def stop_server(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def check_sample(port: int, key: str, setup: Setup, shapes: list[Shape]) -> bool:
    """One order of each mode read back through the API: paid, attributed, purchase orders,
    the commission lines the baseline would write."""
    good = True
    for mode in ("promotion", "consignment"):
        shape = next(s for s in shapes if s.mode == mode)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/api/v1/orders/{shape.external_id}", headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        body = json.loads(response.read() or b"null")
        conn.close()
        suppliers = {p.supplier_id for p, _ in shape.items} if mode == "consignment" else set()
        problems = [] if response.status == 200 else [f"HTTP {response.status}"]
        if not problems:
            if body["status"] != "paid":
                problems.append(f"status {body['status']}")
            if body["promoter_code"] != shape.promoter.code or body["total_paid_fen"] != shape.total_fen:
                problems.append("promoter or total")
            if len(body["items"]) != len(shape.items) or len(body["purchase_orders"]) != len(suppliers):
                problems.append(f"{len(body['items'])} items, {len(body['purchase_orders'])} purchase orders")
            priced, _ = commission_for(setup, shape, list(range(len(shape.items))))
            got = sorted((c["level"], c["kind"], c["amount_fen"]) for c in body["commissions"])
            if got != sorted((line.level, line.kind, line.amount_fen) for line in priced):
                problems.append(f"commissions {got}")
        if problems:
            good = False
            print(f"  sample {shape.external_id} ({mode}) read back wrong: {', '.join(problems)}")
    return good


# --- main ----------------------------------------------------------------------------------


def check_rows(label: str, database_url: str, watermark: dict[str, int],
               expected: dict[str, int]) -> tuple[dict[str, str], dict[str, int]]:
    """(each table's digest, or nothing when a count differs from ``expected``; each table's
    count). Notifications are compared by digest only (a first sale's upline notice depends
    on the rows already there)."""
    counts, digests = table_state(database_url, watermark)
    wrong = {t: (counts[t], n) for t, n in expected.items() if counts[t] != n}
    if wrong:
        print(f"  {label}: row counts differ from the orders sent: "
              + ", ".join(f"{t} {got} (expected {want})" for t, (got, want) in wrong.items()))
    return (digests if not wrong else {}), counts


def report_failures(label: str, result: Result) -> None:
    if result.failures:
        print(f"  {label}: {len(result.failures)} failed order(s); the first ones:")
        for line in result.failures[:10]:
            print(f"    {line}")
    if result.aborted and label != "API":
        print(f"  {label}: stopped at the time limit after {result.completed:,} orders")


def summary(r: Result) -> str:
    return (f"{r.completed:,} orders in {r.elapsed:.1f} s = {r.rate:.1f} orders/s, p50 {r.pct_ms(50):.1f} ms, "
            f"p95 {r.pct_ms(95):.1f} ms, {len(r.failures)} failed")


def busy_before(label: str, seconds: float = 3.0) -> None:
    """How busy the machine is while the bench itself rests: other processes sharing the
    cores (a test suite, another bench) lower both figures, the longer API run the most."""
    def ticks() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total0, idle0 = ticks()
        time.sleep(seconds)
        total1, idle1 = ticks()
    except OSError:
        return
    busy = 100 * (1 - (idle1 - idle0) / max(1, total1 - total0))
    note = "  (other processes are using the CPUs: figures will be low and noisy)" if busy > 15 else ""
    print(f"  before the {label} run: CPU {busy:.0f}% busy at rest, load average {load_average()}{note}")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000, help="orders per measured run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (threads) for both runs")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--promoters", type=int, default=200, help="promoters in the network (three levels)")
    parser.add_argument("--history", type=int, default=HISTORY_ORDERS, help="orders in the database beforehand")
    parser.add_argument("--limit", type=float, default=LIMIT_S,
                        help="stop the API run after this many seconds (the baseline then writes the same orders)")
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    os.environ.setdefault("SECRET_KEY", "bench-ingest-secret-not-for-production")
    secret_key = os.environ["SECRET_KEY"]
    tmp = Path(tempfile.mkdtemp(prefix="distweb-bench-ingest-"))
    instance = tmp / "instance"
    instance.mkdir()
    os.environ["DISTWEB_INSTANCE"] = str(instance)

    from tests.support.services import throwaway_database, throwaway_redis

    env_redis = os.environ.pop("REDIS_URL", None)  # the embedded one keeps the machine's Redis clean
    server = None
    ok = True
    try:
        with throwaway_database(tmp) as database_url, throwaway_redis(tmp) as redis_url:
            if not database_url.startswith("postgresql"):
                print("bench/ingest.py needs PostgreSQL (set DATABASE_URL)")
                return 2
            t0 = time.monotonic()
            setup = prepare(database_url, redis_url, args.promoters)
            key, products, network_rows = setup.api_key, setup.products, setup.promoters

            def baseline(shapes):
                return baseline_client(database_url, setup, secret_key, shapes)

            # The shop's earlier orders, so that the tables and their statistics are not those
            # of an empty database (on empty tables the planner picks sequential scans for the
            # foreign-key checks and every insert gets slower as the run fills them).
            history = make_orders(args.history, "HIST", 13600000000, products, network_rows, seed=7)
            first = min(len(history), 1000)
            for part in (history[:first], history[first:]):
                if part:
                    done = run_clients(len(part), args.clients, baseline(part), args.limit)
                    report_failures("earlier orders", done)
                    ok &= not done.failures
                    settle(database_url)
            warm_api = make_orders(WARMUP_ORDERS, "WARM-API", 13800000000, products, network_rows, seed=1)
            warm_base = make_orders(WARMUP_ORDERS, "WARM-BASE", 13700000000, products, network_rows, seed=2)
            shapes = make_orders(args.orders, "ING", 13900000000, products, network_rows, seed=42)
            expected = expected_rows(setup, shapes)
            consignment = sum(s.mode == "consignment" for s in shapes)
            print(f"ingest bench: PostgreSQL, {os.cpu_count()} CPU(s), {len(products)} products "
                  f"({len(SUPPLIERS)} suppliers), {len(network_rows)} promoters in 3 levels, {args.history:,} "
                  f"earlier orders; set up in {time.monotonic() - t0:.1f} s")
            print(f"  orders: {args.orders:,} ({consignment:,} consignment, {args.orders - consignment:,} promotion; "
                  f"{expected['order_items']:,} items, {expected['purchase_orders']:,} purchase orders, "
                  f"{expected['commission_lines']:,} commission lines), each paid, "
                  f"a new buyer with a phone; {args.clients} concurrent clients for both runs; {WARMUP_ORDERS} "
                  f"warm-up orders per side, not counted")

            # Both warm-ups, then the same starting rows for both measured runs.
            env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, DISTWEB_INSTANCE=str(instance),
                       SECRET_KEY=secret_key, PYTHONUNBUFFERED="1")
            port = free_port()
            log = tmp / "gunicorn.log"
            server_args = gunicorn_args(port, args.workers, args.threads)
            server = start_server(env, server_args, log)
            wait_ready(port, server, log)
            print(f"  server: gunicorn {' '.join(server_args)}")
            warm = run_clients(len(warm_api), args.clients, api_client(port, key, [s.body() for s in warm_api]),
                               args.limit)
            report_failures("API warm-up", warm)
            ok &= not warm.failures and not warm.aborted and check_sample(port, key, setup, warm_api)
            warm = run_clients(len(warm_base), args.clients, baseline(warm_base), args.limit)
            report_failures("baseline warm-up", warm)
            ok &= not warm.failures and not warm.aborted
            watermark = settle(database_url)

            # 1. the API through gunicorn
            busy_before("API")
            bodies = [s.body() for s in shapes]
            meter = CpuMeter(database_url, server.pid)
            api = run_clients(len(shapes), args.clients, api_client(port, key, bodies), args.limit, meter)
            meter.close()
            ok &= not api.failures
            print(f"  API run: {summary(api)}")
            print(f"    CPU per order: app (gunicorn) {api.cpu_ms('app'):.1f} ms, PostgreSQL {api.cpu_ms('db'):.1f} ms, "
                  f"load generator {api.cpu_ms('here'):.1f} ms")
            report_failures("API", api)
            measured = shapes[:api.completed]
            if api.aborted:
                ok = False
                print(f"  the API run stopped at the time limit (--limit {args.limit:.0f} s) after {api.completed:,} "
                      f"of {len(shapes):,} orders; the baseline writes the same {api.completed:,} orders")
                expected = expected_rows(setup, measured)
            api_digests, _counts = check_rows("API", database_url, watermark, expected)
            stop_server(server)
            server = None
            if log.exists() and log.stat().st_size:
                print(f"  gunicorn log (tail):\n{log.read_text(errors='replace')[-1500:]}")

            # 2. the bare baseline: the same rows with psycopg, same concurrency, no Flask
            remove_run(database_url, watermark)
            if settle(database_url) != watermark:
                print("  warning: the tables did not return to the state before the API run")
            busy_before("baseline")
            meter = CpuMeter(database_url)
            base = run_clients(len(measured), args.clients, baseline(measured), max(args.limit, 600), meter)
            meter.close()
            print(f"  baseline run: {summary(base)}")
            print(f"    CPU per order: writers (psycopg threads) {base.cpu_ms('here'):.1f} ms, "
                  f"PostgreSQL {base.cpu_ms('db'):.1f} ms")
            report_failures("baseline", base)
            ok &= not base.failures and not base.aborted
            base_digests, counts = check_rows("baseline", database_url, watermark, expected)

            if api_digests and base_digests:
                differ = [t for t in ORDER_TABLES if api_digests[t] != base_digests[t]]
                if differ:
                    ok = False
                    print(f"  the baseline's rows differ from the API's in: {', '.join(differ)}")
                else:
                    print(f"  rows checked: both runs wrote the same {sum(counts.values()):,} rows "
                          f"({', '.join(f'{t} {counts[t]:,}' for t in (*expected, 'notifications'))})")
            else:
                ok = False

            print()
            print(f"  {'run':<34}{'orders':>8}{'seconds':>9}{'orders/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
                  f"{'failed':>8}")
            for label, r in ((f"API (gunicorn {args.workers}w x {args.threads}t)", api),
                             ("baseline (psycopg, no Flask)", base)):
                print(f"  {label:<34}{r.completed:>8}{r.elapsed:>9.1f}{r.rate:>10.1f}{r.pct_ms(50):>9.1f}"
                      f"{r.pct_ms(95):>9.1f}{r.pct_ms(99):>9.1f}{len(r.failures):>8}")
            ratio = api.rate / base.rate if base.rate else 0.0
            verdict = "ok" if ratio >= TARGET_RATIO else "MISSED"
            ok &= ratio >= TARGET_RATIO
            print(f"  ratio API/baseline = {ratio:.3f} (orders/s; target >= {TARGET_RATIO:.3f}): {verdict}")
            print(f"  p95 API/baseline   = {api.pct_ms(95) / base.pct_ms(95):.1f}x")
            api_cpu = api.cpu_ms("app") + api.cpu_ms("db")
            base_cpu = base.cpu_ms("here") + base.cpu_ms("db")
            print(f"  CPU per order      = API {api_cpu:.1f} ms (app + PostgreSQL) vs baseline {base_cpu:.1f} ms "
                  f"(writer + PostgreSQL): baseline/API = {base_cpu / api_cpu:.3f}; with both runs CPU-bound this "
                  f"is about the orders/s ratio on an otherwise idle machine")
            print(f"  load average after: {load_average()}")
            if not ok:
                print("  not met: see above (failures, row differences, the time limit or the target)",
                      file=sys.stderr)
    finally:
        stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)
        if env_redis:
            os.environ["REDIS_URL"] = env_redis
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
