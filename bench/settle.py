"""A settlement run over 1,000,000 frozen commission lines on PostgreSQL, next to a bare baseline.

Run from the checkout:  .venv/bin/python bench/settle.py [--lines 1000000] [--promoters 50000]
                                                           [--accounts missing|existing]

Builds its own throwaway PostgreSQL database (DATABASE_URL, default the machine's
postgresql://postgres@127.0.0.1:5432/test) and an embedded Redis, migrates, sets up a brand,
two products and a depth-3 plan through services.commission.save_plan (freeze_days 7,
version 1). Then, not timed, it bulk-loads with COPY a three-level network (``--promoters``
users and promoters: 1 % partners > 9 % mentors > 90 % promoters), completed promotion
orders (two items each, completed 30 days ago) and their L1..L3 commission lines, frozen,
``--lines`` of them in all, plus 5 % more lines on orders completed 3 days ago (still inside
the freeze window, so never settled), and the matching accrual ledger (one transaction per
order, brand expense -> promoter frozen, written with INSERT ... SELECT). The promoters'
promoter_available accounts are left for the run to create (``--accounts missing``, a brand's
first run, the default) or written too (``--accounts existing``, as after earlier runs). Timed:

  A. the app        services.settlement.execute_run(start_run(brand, as_of=now).id) in an app
                    context, in-process (start_run only queues a job on the embedded Redis;
                    no worker runs): batches of settlement.BATCH lines, one transaction each,
                    then the "commission unfrozen" notifications;
  B. bare baseline  the same state change in plain SQL on one connection, one commit: the
                    missing promoter_available accounts (INSERT ... SELECT ... ON CONFLICT),
                    one ledger transaction, and one statement that UPDATEs the eligible lines
                    (same eligibility: frozen, order completed/refunded, completed before
                    settlement.freeze_cutoff(as_of, freeze_days of the line's plan version, the
                    brand's zone), calendar days) and INSERTs two ledger entries per
                    line (frozen -kept, available +kept) from the UPDATE's RETURNING.

Between A and B the run is undone (lines back to frozen, settlement transactions, entries and
available accounts deleted) and the touched tables are rewritten (VACUUM FULL) so that B starts
from the same physical state as A did. B must settle exactly A's lines and leave the same
account balances. Target: A takes no more than 2x as long as B.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 2.0
RATES_BP = {1: 1000, 2: 500, 3: 200}  # L1 10 %, L2 5 %, L3 2 % of the paid amount
PLAN = {
    "depth": 3, "freeze_days": 7, "rounding": "half_up", "max_total_bp": 3000, "self_purchase": False,
    "consignment_funding": "supplier",
    "rules": [{"scope": {"sku": None, "category": None, "rank": None}, "level": level, "kind": "percent",
               "base": "paid", "rate_bp": rate} for level, rate in RATES_BP.items()],
}
PRODUCTS = [("TEA-001", "明前龙井 250g", "tea", 12800), ("GIFT-01", "年节礼盒", "gift", 19900)]
ITEMS_PER_ORDER = 2
INELIGIBLE_SHARE = 0.05  # extra lines still inside the freeze window
# The tables the run writes: rewritten before A and again before B, so both start alike.
TOUCHED = ("commission_lines", "ledger_entries", "ledger_transactions", "ledger_accounts", "settlement_runs",
           "notifications")


def ts(value: datetime) -> str:
    return value.isoformat()


# --- set-up (not timed) --------------------------------------------------------------------


def load_network(cur, brand_id: int, total: int, password_hash: str) -> list[tuple[int, int, int]]:
    """users + promoters by COPY; returns the (L1, L2, L3) chain of every bottom-tier promoter."""
    partners = max(1, total // 100)
    mentors = min(total - partners, partners * 9)
    rng = random.Random(7)
    joined = "2026-01-05T08:00:00+00:00"
    first_user = cur.execute("SELECT coalesce(max(id), 0) + 1 FROM users").fetchone()[0]
    with cur.copy("COPY users (id, brand_id, role, name, phone, password_hash, is_enabled, created_at, "
                  "password_changed_at) FROM STDIN") as copy:
        for i in range(total):
            copy.write_row((first_user + i, brand_id, "promoter", f"推客{i}", f"17{i:09d}", password_hash, True,
                            joined, joined))
    upline: dict[int, int] = {}
    chains: list[tuple[int, int, int]] = []
    with cur.copy("COPY promoters (id, brand_id, user_id, code, upline_id, upline2_id, upline3_id, rank, status, "
                  "joined_at) FROM STDIN") as copy:
        for i in range(total):
            pid = i + 1
            if pid <= partners:
                row = (None, None, "partner")
            elif pid <= partners + mentors:
                row = (rng.randint(1, partners), None, "mentor")
                upline[pid] = row[0]
            else:
                mentor = rng.randint(partners + 1, partners + mentors)
                row = (mentor, upline[mentor], "promoter")
                chains.append((pid, mentor, upline[mentor]))
            copy.write_row((pid, brand_id, first_user + i, f"S{pid:07d}", row[0], row[1], None, row[2], "active",
                            joined))
    cur.execute("SELECT setval('users_id_seq', %s)", (first_user + total,))
    cur.execute("SELECT setval('promoters_id_seq', %s)", (total,))
    return chains


def load_orders(cur, brand_id: int, lines: int, chains: list[tuple[int, int, int]],
                products: list[tuple[int, str, str, int]], now: datetime) -> dict[str, int]:
    """Completed orders, their items and frozen L1..L3 lines by COPY: ``lines`` settleable
    (completed 30 days ago), then INELIGIBLE_SHARE more completed 3 days ago."""
    rng = random.Random(20261128)
    eligible_at = now - timedelta(days=30)
    recent_at = now - timedelta(days=3)
    extra = int(lines * INELIGIBLE_SHARE)
    orders, items, line_rows = [], [], []  # line_rows: (order_id, item_id, promoter, level, amount, created)
    order_id = item_id = 0
    n = 0
    for goal, completed in ((lines, eligible_at), (lines + extra, recent_at)):
        while n < goal:
            order_id += 1
            chain = rng.choice(chains)
            paid_at = completed - timedelta(days=5, minutes=rng.randint(0, 600))
            total = 0
            for product_id, sku, name, price in rng.sample(products, ITEMS_PER_ORDER):
                if n >= goal:
                    break
                item_id += 1
                quantity = rng.randint(1, 2)
                paid = price * quantity - (rng.randint(1, price // 10) if rng.random() < 0.3 else 0)
                total += paid
                items.append((item_id, order_id, product_id, sku, name, quantity, price, paid, 0))
                for level, promoter in enumerate(chain, start=1):
                    if n >= goal:
                        break
                    line_rows.append((order_id, item_id, promoter, level, (paid * RATES_BP[level] + 5000) // 10000,
                                      paid_at))
                    n += 1
            orders.append((order_id, brand_id, f"S-{order_id:08d}", "promotion", "completed", "api", False, chain[0],
                           chain[0], chain[1], chain[2], "api", total, ts(paid_at - timedelta(minutes=5)), ts(paid_at),
                           ts(completed)))
    with cur.copy("COPY orders (id, brand_id, external_id, mode, status, source, is_stock_purchase, promoter_id, "
                  "chain_l1_id, chain_l2_id, chain_l3_id, attribution_source, total_paid_fen, placed_at, paid_at, "
                  "completed_at) FROM STDIN") as copy:
        for row in orders:
            copy.write_row(row)
    with cur.copy("COPY order_items (id, order_id, product_id, sku, name, quantity, unit_price_fen, paid_fen, "
                  "supply_cost_fen) FROM STDIN") as copy:
        for row in items:
            copy.write_row(row)
    with cur.copy("COPY commission_lines (id, brand_id, order_id, order_item_id, promoter_id, level, kind, amount_fen, "
                  "reversed_fen, clawback_fen, status, plan_version, rule_index, created_at) FROM STDIN") as copy:
        for i, (oid, iid, promoter, level, amount, created) in enumerate(line_rows, start=1):
            copy.write_row((i, brand_id, oid, iid, promoter, level, "commission", amount, 0, 0, "frozen", 1, level - 1,
                            ts(created)))
    cur.execute("SELECT setval('orders_id_seq', %s)", (order_id,))
    cur.execute("SELECT setval('order_items_id_seq', %s)", (item_id,))
    cur.execute("SELECT setval('commission_lines_id_seq', %s)", (len(line_rows),))
    return {"orders": order_id, "items": item_id, "lines": len(line_rows), "eligible": lines, "ineligible": extra}


ACCRUAL_SQL = """
INSERT INTO ledger_accounts (brand_id, kind, owner_id)
SELECT %(brand)s, 'brand_commission_expense', 0
UNION ALL
SELECT DISTINCT %(brand)s, 'promoter_frozen', promoter_id FROM commission_lines WHERE brand_id = %(brand)s
ON CONFLICT (brand_id, kind, owner_id) DO NOTHING;

INSERT INTO ledger_transactions (brand_id, kind, order_id, reference, memo, created_at, occurred_at)
SELECT o.brand_id, 'accrual', o.id, o.external_id, json_build_object('plan_version', 1), o.paid_at, o.paid_at
FROM orders o WHERE o.brand_id = %(brand)s ORDER BY o.id;

INSERT INTO ledger_entries (transaction_id, account_id, amount_fen, commission_line_id, created_at)
SELECT t.id, e.account_id, e.amount_fen, l.id, t.created_at
FROM commission_lines l
JOIN ledger_transactions t ON t.order_id = l.order_id AND t.kind = 'accrual'
JOIN ledger_accounts frozen
  ON frozen.brand_id = l.brand_id AND frozen.kind = 'promoter_frozen' AND frozen.owner_id = l.promoter_id
CROSS JOIN (SELECT id FROM ledger_accounts WHERE brand_id = %(brand)s AND kind = 'brand_commission_expense'
            AND owner_id = 0) AS expense
CROSS JOIN LATERAL (VALUES (expense.id, -l.amount_fen), (frozen.id, l.amount_fen)) AS e (account_id, amount_fen)
WHERE l.brand_id = %(brand)s
ORDER BY l.id;
"""

# --accounts existing: every promoter already has an available account (earlier runs made them)
AVAILABLE_ACCOUNTS_SQL = """
INSERT INTO ledger_accounts (brand_id, kind, owner_id)
SELECT brand_id, 'promoter_available', owner_id FROM ledger_accounts
WHERE brand_id = %(brand)s AND kind = 'promoter_frozen' ORDER BY owner_id
ON CONFLICT (brand_id, kind, owner_id) DO NOTHING
"""


def vacuum(database_url: str, full: bool) -> float:
    """Rewrite (FULL) and analyse the tables the run touches; freeze and analyse the rest."""
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        if full:
            for table in TOUCHED:
                conn.execute(f"VACUUM FULL {table}")
        conn.execute("VACUUM (FREEZE, ANALYZE)")
        conn.execute("CHECKPOINT")
    return time.perf_counter() - t0


# --- A: the app ----------------------------------------------------------------------------


def run_app(brand_id: int) -> dict:
    from distweb.extensions import db
    from distweb.models.base import utcnow
    from distweb.services import settlement

    marks: list[float] = []
    notify_s = [0.0]
    original_notify = settlement._notify_unfrozen

    def timed_notify(run):  # execute_run looks the name up at call time
        t0 = time.perf_counter()
        original_notify(run)
        notify_s[0] += time.perf_counter() - t0

    settlement._notify_unfrozen = timed_notify
    try:
        run_id = settlement.start_run(brand_id, as_of=utcnow()).id
        db.session.expunge_all()
        started = time.perf_counter()
        marks.append(started)
        run = settlement.execute_run(run_id, progress=lambda _pct, _msg: marks.append(time.perf_counter()))
        elapsed = time.perf_counter() - started
    finally:
        settlement._notify_unfrozen = original_notify
    batches = [b - a for a, b in zip(marks, marks[1:], strict=False)]
    return {"run_id": run.id, "count": run.settled_count, "fen": run.settled_fen, "status": str(run.status),
            "seconds": elapsed, "notify_s": notify_s[0], "batches": batches, "batch_size": settlement.BATCH}


# --- B: the bare baseline ------------------------------------------------------------------


def freeze_cutoffs(conn, brand_id: int, as_of: datetime) -> tuple[str, dict]:
    """The eligibility condition (per plan version's freeze_days, calendar days in the
    brand's time zone: completed before the app's cutoff) as SQL + parameters."""
    from distweb.services.commission import DEFAULT_PLAN  # the unversioned default plan's window
    from distweb.services.settlement import freeze_cutoff

    tz = conn.execute("SELECT timezone FROM brands WHERE id = %s", (brand_id,)).fetchone()[0]

    days = {None: int(DEFAULT_PLAN["freeze_days"])}
    for version, freeze in conn.execute("SELECT version, (body::jsonb ->> 'freeze_days')::int FROM commission_plans "
                                        "WHERE brand_id = %s", (brand_id,)):
        days[version] = 7 if freeze is None else freeze
    clauses, params = [], {}
    for i, (version, freeze) in enumerate(days.items()):
        params[f"cut{i}"] = freeze_cutoff(as_of, freeze, tz)
        if version is None:
            clauses.append(f"(l.plan_version IS NULL AND o.completed_at < %(cut{i})s)")
        else:
            params[f"ver{i}"] = version
            clauses.append(f"(l.plan_version = %(ver{i})s AND o.completed_at < %(cut{i})s)")
    return " OR ".join(clauses), params


ELIGIBLE = """l.brand_id = %(brand)s AND l.status = 'frozen' AND o.id = l.order_id
  AND o.status IN ('completed', 'refunded') AND o.completed_at IS NOT NULL AND ({cutoffs})"""

BARE_ACCOUNTS_SQL = """
INSERT INTO ledger_accounts (brand_id, kind, owner_id)
SELECT DISTINCT %(brand)s, k.kind, l.promoter_id
FROM commission_lines l JOIN orders o ON o.id = l.order_id
CROSS JOIN (VALUES ('promoter_frozen'), ('promoter_available')) AS k (kind)
WHERE {eligible}
ON CONFLICT (brand_id, kind, owner_id) DO NOTHING
"""

BARE_TX_SQL = """
INSERT INTO ledger_transactions (brand_id, kind, reference, memo, created_at, occurred_at)
VALUES (%(brand)s, 'settlement', 'run:' || %(run)s::text,
        json_build_object('run', %(run)s::int, 'as_of', %(as_of_iso)s::text), %(now)s, %(as_of)s)
RETURNING id
"""

BARE_SETTLE_SQL = """
WITH moved AS (
    UPDATE commission_lines l SET status = 'available', settled_at = %(now)s, settlement_run_id = %(run)s
    FROM orders o
    WHERE {eligible}
    RETURNING l.id, l.brand_id, l.promoter_id, l.amount_fen - l.reversed_fen AS kept
), totals AS (
    UPDATE settlement_runs SET settled_count = (SELECT count(*) FROM moved),
                               settled_fen = (SELECT coalesce(sum(kept), 0) FROM moved),
                               status = 'succeeded', started_at = %(now)s, finished_at = clock_timestamp()
    WHERE id = %(run)s
)
INSERT INTO ledger_entries (transaction_id, account_id, amount_fen, commission_line_id, created_at)
SELECT %(tx)s, a.id, e.amount_fen, m.id, %(now)s
FROM moved m
CROSS JOIN LATERAL (VALUES ('promoter_frozen', -m.kept), ('promoter_available', m.kept)) AS e (kind, amount_fen)
JOIN ledger_accounts a ON a.brand_id = m.brand_id AND a.kind = e.kind AND a.owner_id = m.promoter_id
WHERE m.kept > 0
"""


def run_bare(database_url: str, brand_id: int) -> dict:
    import psycopg

    as_of = datetime.now(UTC)
    with psycopg.connect(database_url) as conn:
        run_id = conn.execute("INSERT INTO settlement_runs (brand_id, as_of, status, trigger, settled_count, settled_fen, "
                              "created_at) VALUES (%s, %s, 'running', 'manual', 0, 0, now()) RETURNING id",
                              (brand_id, as_of)).fetchone()[0]
        cutoffs, params = freeze_cutoffs(conn, brand_id, as_of)
        conn.commit()
        eligible = ELIGIBLE.format(cutoffs=cutoffs)
        params.update(brand=brand_id, run=run_id, as_of=as_of, as_of_iso=as_of.isoformat())
        started = time.perf_counter()
        now = datetime.now(UTC)
        params["now"] = now
        with conn.cursor() as cur:
            cur.execute(BARE_ACCOUNTS_SQL.format(eligible=eligible), params)
            params["tx"] = cur.execute(BARE_TX_SQL, params).fetchone()[0]
            cur.execute(BARE_SETTLE_SQL.format(eligible=eligible), params)
            entries = cur.rowcount
        conn.commit()
        elapsed = time.perf_counter() - started
        count, fen = conn.execute("SELECT settled_count, settled_fen FROM settlement_runs WHERE id = %s",
                                  (run_id,)).fetchone()
    return {"run_id": run_id, "count": count, "fen": fen, "entries": entries, "seconds": elapsed}


# --- state between the runs ----------------------------------------------------------------

BALANCES_SQL = """
SELECT a.kind, count(DISTINCT a.id) AS accounts, count(e.id) AS entries, coalesce(sum(e.amount_fen), 0) AS balance
FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id
WHERE a.kind IN ('promoter_frozen', 'promoter_available')
GROUP BY a.kind ORDER BY a.kind
"""

KEEP_A_SQL = """
DROP TABLE IF EXISTS bench_a_balances, bench_a_lines;
CREATE TABLE bench_a_balances AS
    SELECT a.kind, a.owner_id, sum(e.amount_fen) AS balance, count(*) AS entries
    FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id GROUP BY a.kind, a.owner_id;
CREATE TABLE bench_a_lines AS SELECT id FROM commission_lines WHERE settlement_run_id = %(run)s;
ANALYZE bench_a_balances;
ANALYZE bench_a_lines;
"""

COMPARE_SQL = {
    "lines settled only by A": """SELECT count(*) FROM (SELECT id FROM bench_a_lines
        EXCEPT SELECT id FROM commission_lines WHERE settlement_run_id = %(run)s) d""",
    "lines settled only by B": """SELECT count(*) FROM (SELECT id FROM commission_lines WHERE settlement_run_id = %(run)s
        EXCEPT SELECT id FROM bench_a_lines) d""",
    "account balances that differ": """SELECT count(*) FROM bench_a_balances a
        FULL JOIN (SELECT a.kind, a.owner_id, sum(e.amount_fen) AS balance, count(*) AS entries
                   FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id GROUP BY a.kind, a.owner_id) b
          ON a.kind = b.kind AND a.owner_id = b.owner_id
        WHERE a.balance IS DISTINCT FROM b.balance OR a.entries IS DISTINCT FROM b.entries""",
    "unbalanced transactions": """SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries
        GROUP BY transaction_id HAVING sum(amount_fen) <> 0) t""",
}

UNDO_SQL = """
DELETE FROM ledger_entries WHERE transaction_id IN (SELECT id FROM ledger_transactions WHERE kind = 'settlement');
DELETE FROM ledger_transactions WHERE kind = 'settlement';
DELETE FROM notifications WHERE kind = 'commission_unfrozen';
UPDATE commission_lines SET status = 'frozen', settled_at = NULL, settlement_run_id = NULL
WHERE settlement_run_id IS NOT NULL;
"""


def undo_a(database_url: str, run_id: int, keep_accounts: bool) -> None:
    import psycopg

    with psycopg.connect(database_url) as conn:
        for statement in KEEP_A_SQL.split(";")[:-1]:
            conn.execute(statement, {"run": run_id})
        conn.execute(UNDO_SQL)
        if not keep_accounts:  # B must create them, as A did
            conn.execute("DELETE FROM ledger_accounts WHERE kind = 'promoter_available'")
        conn.commit()


# --- main ----------------------------------------------------------------------------------


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}" if seconds > 0 else "-"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000, help="settleable frozen lines (default 1,000,000)")
    parser.add_argument("--promoters", type=int, default=50_000, help="promoters in the network (default 50,000)")
    parser.add_argument("--accounts", choices=("missing", "existing"), default="missing",
                        help="promoters' available accounts: created by the run (missing, a brand's first run; "
                             "default) or there already (existing, as after earlier runs)")
    args = parser.parse_args()
    if args.promoters < 100:
        parser.error("--promoters must be at least 100")
    begun = time.perf_counter()

    from bench.support import bench_app, bench_instance

    tmp = bench_instance("settle", postgres=True)

    import psycopg
    from sqlalchemy import select

    from distweb.extensions import db
    from distweb.models import Product
    from distweb.services import accounts, catalogue, commission
    from tests.support.services import throwaway_database, throwaway_redis

    env_redis = os.environ.pop("REDIS_URL", None)  # the embedded one keeps the machine's Redis clean
    ok = True
    try:
        with throwaway_database(tmp) as database_url, throwaway_redis(tmp) as redis_url:
            if not database_url.startswith("postgresql"):
                print("bench/settle.py needs PostgreSQL (set DATABASE_URL)")
                return 2
            app = bench_app(database_url, redis_url)
            t0 = time.perf_counter()
            with app.app_context():
                brand, _manager, _ = accounts.init_brand("基准品牌", "bench@example.com", "bench12345")
                for sku, name, category, price in PRODUCTS:
                    catalogue.upsert_product(brand, sku, catalogue.ProductInput(name=name, price_fen=price,
                                                                                category=category))
                plan = commission.save_plan(brand.id, PLAN, note="bench/settle.py")
                assert plan.version == 1 and plan.body["freeze_days"] == 7, plan.body
                brand_id = brand.id
                products = [(p.id, p.sku, p.name, p.price_fen) for p in db.session.scalars(
                    select(Product).where(Product.brand_id == brand_id).order_by(Product.id))]
                password_hash = accounts.hash_password("bench12345")
                db.session.remove()
            now = datetime.now(UTC).replace(microsecond=0)
            with psycopg.connect(database_url) as conn, conn.cursor() as cur:
                # set-up only: skip the foreign-key triggers while loading (the data is made consistent)
                cur.execute("SET session_replication_role = replica")
                chains = load_network(cur, brand_id, args.promoters, password_hash)
                loaded = load_orders(cur, brand_id, args.lines, chains, products, now)
                copy_s = time.perf_counter() - t0
                t1 = time.perf_counter()
                for statement in ACCRUAL_SQL.split(";")[:-1]:  # parameters: one statement at a time
                    cur.execute(statement, {"brand": brand_id})
                if args.accounts == "existing":
                    cur.execute(AVAILABLE_ACCOUNTS_SQL, {"brand": brand_id})
                autovacuum = cur.execute("SHOW autovacuum").fetchone()[0]
                conn.commit()
                accrual_s = time.perf_counter() - t1
            vacuum_s = vacuum(database_url, full=True)
            setup_s = time.perf_counter() - t0
            print(f"set-up: {args.promoters:,} promoters, {loaded['orders']:,} completed orders, {loaded['items']:,} "
                  f"items, {loaded['lines']:,} frozen lines ({loaded['eligible']:,} settleable, completed 30 days "
                  f"ago; {loaded['ineligible']:,} inside the 7-day freeze), {loaded['orders']:,} accrual "
                  f"transactions / {2 * loaded['lines']:,} entries")
            print(f"        {setup_s:.1f} s (migrate + COPY {copy_s:.1f} s, accrual ledger {accrual_s:.1f} s, "
                  f"VACUUM FULL/ANALYZE {vacuum_s:.1f} s)")
            print(f"        promoters' available accounts: {args.accounts} before the run; autovacuum {autovacuum}"
                  + (" (statistics are not refreshed while A runs: the tables' statistics stay as ANALYZE left "
                     "them before it)" if autovacuum == "off" else ""))

            # A: the app
            with app.app_context():
                a = run_app(brand_id)
                db.session.remove()
                db.engine.dispose()
            batches = a["batches"]
            print()
            print(f"A  settlement.execute_run: {a['count']:,} lines settled ({a['fen']:,} fen), status {a['status']}, "
                  f"{a['seconds']:.2f} s, {rate(a['count'], a['seconds'])} lines/s")
            if batches:
                head, tail = batches[:5], batches[-6:-1] or batches[-1:]
                print(f"   {len(batches)} batches of up to {a['batch_size']:,}: first 5 avg "
                      f"{statistics.mean(head) * 1000:.0f} ms, last 5 full avg {statistics.mean(tail) * 1000:.0f} ms, "
                      f"slowest {max(batches) * 1000:.0f} ms; notifications {a['notify_s']:.2f} s")
            print(f"   load average during A (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
            with psycopg.connect(database_url) as conn:
                a_balances = conn.execute(BALANCES_SQL).fetchall()
            ok &= a["count"] == args.lines and a["status"].endswith("succeeded")

            t1 = time.perf_counter()
            undo_a(database_url, a["run_id"], keep_accounts=args.accounts == "existing")
            undo_s = time.perf_counter() - t1
            restore_vacuum_s = vacuum(database_url, full=True)
            print(f"   undone and rewritten for B in {undo_s + restore_vacuum_s:.1f} s "
                  f"(undo {undo_s:.1f} s, VACUUM FULL/ANALYZE {restore_vacuum_s:.1f} s)")

            # B: the bare baseline
            b = run_bare(database_url, brand_id)
            print(f"B  bare set-based SQL:     {b['count']:,} lines settled ({b['fen']:,} fen), {b['entries']:,} "
                  f"entries, {b['seconds']:.2f} s, {rate(b['count'], b['seconds'])} lines/s")
            print(f"   load average during B (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
            with psycopg.connect(database_url) as conn:
                b_balances = conn.execute(BALANCES_SQL).fetchall()
                differences = {label: conn.execute(sql, {"run": b["run_id"]}).fetchone()[0]
                               for label, sql in COMPARE_SQL.items()}

            print()
            print(f"{'':<32}{'A: execute_run':>20}{'B: bare SQL':>20}")
            print(f"{'lines settled':<32}{a['count']:>20,}{b['count']:>20,}")
            print(f"{'fen settled':<32}{a['fen']:>20,}{b['fen']:>20,}")
            for (kind, na, ea, sa), (_k, nb, eb, sb) in zip(a_balances, b_balances, strict=False):
                print(f"{kind + ' accts/entries':<32}{f'{na:,} / {ea:,}':>20}{f'{nb:,} / {eb:,}':>20}")
                print(f"{kind + ' balance':<32}{int(sa):>20,}{int(sb):>20,}")
            print(f"{'seconds':<32}{a['seconds']:>20.2f}{b['seconds']:>20.2f}")
            print(f"{'lines/s':<32}{rate(a['count'], a['seconds']):>20}{rate(b['count'], b['seconds']):>20}")
            same = (a["count"], a["fen"]) == (b["count"], b["fen"]) and a_balances == b_balances \
                and not any(differences.values())
            for label, n in differences.items():
                print(f"{label:<32}{n:>40,}")
            ok &= same
            ratio = a["seconds"] / b["seconds"] if b["seconds"] else float("inf")
            settle_only = (a["seconds"] - a["notify_s"]) / b["seconds"] if b["seconds"] else float("inf")
            print()
            print(f"ratio A/B: {ratio:.2f}x (target <= {TARGET_RATIO:g}x)  {'ok' if ratio <= TARGET_RATIO else 'MISSED'}"
                  f"   [without A's notifications: {settle_only:.2f}x]")
            print(f"results {'identical' if same else 'DIFFERENT'}; total run time {time.perf_counter() - begun:.0f} s")
            ok &= ratio <= TARGET_RATIO
    finally:
        if env_redis:
            os.environ["REDIS_URL"] = env_redis
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
