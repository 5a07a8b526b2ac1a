"""100,000 order items priced and posted by the commission engine, next to a bare baseline.

Run from the checkout:  .venv/bin/python bench/commission.py [--items 100000] [--batch 500] [--profile]

Builds its own throwaway PostgreSQL database (DATABASE_URL, default the machine's
postgresql://postgres@127.0.0.1:5432/test) and an embedded Redis, migrates, sets up a brand,
a few products, a three-level promoter network (partners > mentors > promoters, through
services.network.add_promoter) and a depth-3 commission plan (L1 10 %, L2 5 %, L3 2 % of
the paid amount, half-up). Then, not timed, it bulk-loads paid promotion orders (COPY)
with ``--items`` order items between them, their L1..L3 chains snapshotted, no commission
yet. Timed:

  A. the engine     services.commission.accrue(orders) for every batch of ``--batch`` orders,
                    loaded with their items (selectinload), one service transaction
                    (services.tx.transaction) per batch: commission_lines plus a balanced
                    ledger transaction per order, written with a fixed number of statements
                    per batch (the one accrual path: on_paid is accrue of one order;
                    ``--per-order`` times on_paid order by order instead);
  B. bare baseline  the same commission_lines, ledger accounts, transactions and entries
                    written with three set-based INSERT ... SELECT statements (the
                    percentages and the half-up rounding done in SQL), one commit.

A's output is checked with services.verify.verify(reprice_limit=200) (not timed; skip it with
--no-verify, it reads every line one query at a time), kept aside, and the tables are emptied
(TRUNCATE) before B; B must then write exactly A's lines (line by line), the same ledger
transactions and the same account balances. Target: A takes no more than 3x as long as B.

Both parts start with the output tables never analysed (a fresh install; the bench machine
runs PostgreSQL with autovacuum off, so the script analyses what it loads and, before
verify, what A wrote). --profile runs A under cProfile and adds, per SQL statement shape,
how often A sent it and the time it took, and the table scans PostgreSQL did; use it with a
few thousand items (e.g. --items 5000).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 3.0

PLAN = {
    "depth": 3, "freeze_days": 7, "rounding": "half_up", "max_total_bp": 3000, "self_purchase": False,
    "consignment_funding": "supplier",
    "rules": [
        {"scope": {"sku": None, "category": None, "rank": None}, "level": 1, "kind": "percent", "base": "paid",
         "rate_bp": 1000},
        {"scope": {"sku": None, "category": None, "rank": None}, "level": 2, "kind": "percent", "base": "paid",
         "rate_bp": 500},
        {"scope": {"sku": None, "category": None, "rank": None}, "level": 3, "kind": "percent", "base": "paid",
         "rate_bp": 200},
    ],
}

# sku, name, category, price_fen
PRODUCTS = [
    ("TEA-001", "明前龙井 250g", "tea", 12800),
    ("TEA-002", "正山小种 200g", "tea", 8950),
    ("CUP-001", "白瓷盖碗", "ware", 4599),
    ("CUP-002", "公道杯", "ware", 3350),
    ("GIFT-01", "年节礼盒", "gift", 39900),
    ("SNK-001", "茶点 12 枚", "snack", 2790),
]

# partners, mentors per partner, promoters per mentor
NETWORK = (3, 3, 4)


# --- set-up (not timed) --------------------------------------------------------------------


def build_network(brand) -> dict[str, list[tuple[int, int | None, int | None]]]:
    """A three-level tree through the service; returns (L1, L2, L3) chains per tier."""
    from distweb.models.network import Rank
    from distweb.services import network
    from distweb.services.tx import transaction

    phone = iter(range(13900000001, 13999999999))
    chains: dict[str, list[tuple[int, int | None, int | None]]] = {"partner": [], "mentor": [], "promoter": []}
    with transaction():
        for a in range(NETWORK[0]):
            partner = network.add_promoter(brand, f"合伙人{a}", str(next(phone)), "bench12345", None,
                                           rank=Rank.PARTNER, check_strength=False)
            chains["partner"].append((partner.id, None, None))
            for b in range(NETWORK[1]):
                mentor = network.add_promoter(brand, f"导师{a}-{b}", str(next(phone)), "bench12345", partner,
                                              rank=Rank.MENTOR, check_strength=False)
                chains["mentor"].append((mentor.id, partner.id, None))
                for c in range(NETWORK[2]):
                    promoter = network.add_promoter(brand, f"推客{a}-{b}-{c}", str(next(phone)), "bench12345",
                                                    mentor, check_strength=False)
                    assert (promoter.upline_id, promoter.upline2_id) == (mentor.id, partner.id)
                    chains["promoter"].append((promoter.id, mentor.id, partner.id))
    return chains


def load_orders(conn, brand_id: int, items: int, products: list[tuple[int, str, str, int]],
                chains: dict[str, list[tuple[int, int | None, int | None]]]) -> int:
    """COPY paid promotion orders holding ``items`` order items in all (1-4 distinct SKUs an
    order, 1-3 units a line, some lines discounted to odd amounts so that the rounding is
    exercised); 80 % sold by promoters (three paying levels), 15 % by mentors (two), 5 % by
    partners (one). Returns the number of orders."""
    rng = random.Random(20260517)
    paid_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    order_rows, item_rows = [], []
    order_id, item_id = 0, 0
    while item_id < items:
        order_id += 1
        tier = rng.choices(("promoter", "mentor", "partner"), weights=(80, 15, 5))[0]
        l1, l2, l3 = rng.choice(chains[tier])
        total = 0
        for product_id, sku, name, price in rng.sample(products, min(rng.randint(1, 4), items - item_id)):
            item_id += 1
            quantity = rng.randint(1, 3)
            paid = price * quantity - (rng.randint(1, price // 10) if rng.random() < 0.3 else 0)
            total += paid
            item_rows.append((item_id, order_id, product_id, sku, name, quantity, price, paid, 0))
        placed = paid_at - timedelta(minutes=rng.randint(1, 600))
        order_rows.append((order_id, brand_id, f"B-{order_id:07d}", "promotion", "paid", "api", False, l1, l1, l2, l3,
                           "api", total, placed, paid_at))
    with conn.cursor() as cur:
        with cur.copy("COPY orders (id, brand_id, external_id, mode, status, source, is_stock_purchase, promoter_id, "
                      "chain_l1_id, chain_l2_id, chain_l3_id, attribution_source, total_paid_fen, placed_at, paid_at) "
                      "FROM STDIN") as copy:
            for row in order_rows:
                copy.write_row(row)
        with cur.copy("COPY order_items (id, order_id, product_id, sku, name, quantity, unit_price_fen, paid_fen, "
                      "supply_cost_fen) FROM STDIN") as copy:
            for row in item_rows:
                copy.write_row(row)
        cur.execute("SELECT setval('orders_id_seq', %s)", (order_id,))
        cur.execute("SELECT setval('order_items_id_seq', %s)", (item_id,))
    conn.commit()
    return order_id


OUTPUT_TABLES = ("commission_lines", "ledger_accounts", "ledger_transactions", "ledger_entries")
INPUT_TABLES = ("orders", "order_items", "products", "promoters", "users", "commission_plans")


def analyze_inputs(database_url: str) -> None:
    """Statistics for the loaded tables only. The empty output tables are left unanalysed
    (as a fresh install's are): ANALYZE on an empty table records "0 rows", and the plans a
    long-lived connection caches from that (the foreign-key checks' among them) stay
    sequential scans while the table grows to hundreds of thousands of rows."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in INPUT_TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")


# --- A: the engine -------------------------------------------------------------------------


def run_engine(brand_id: int, batch: int, per_order: bool = False) -> tuple[int, float]:
    """commission.accrue for every paid order, a batch of orders per service transaction
    (``per_order``: on_paid, accrue's batch of one, order by order)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from distweb.extensions import db
    from distweb.models import Order
    from distweb.models.order import OrderStatus
    from distweb.services import commission
    from distweb.services.tx import transaction

    orders_done = 0
    last_id = 0
    started = time.perf_counter()
    while True:
        with transaction():
            orders = list(db.session.scalars(
                select(Order).options(selectinload(Order.items))
                .where(Order.brand_id == brand_id, Order.status == OrderStatus.PAID, Order.id > last_id)
                .order_by(Order.id).limit(batch)
            ))
            if per_order:
                for order in orders:
                    commission.on_paid(order)
            else:
                commission.accrue(orders)
        if not orders:
            break
        orders_done += len(orders)
        last_id = orders[-1].id
        db.session.expunge_all()  # committed and expired: let the batch go
    return orders_done, time.perf_counter() - started


# --- B: the bare baseline ------------------------------------------------------------------


def percent_rules(plan) -> list[tuple[int, int, int]]:
    """(level, rate_bp, rule_index) of the plan; the SQL baseline mirrors only what this
    plan can do (global percent-of-paid rules, a max share the lines can never reach)."""
    rules = []
    for rule in plan.rules:
        assert rule.kind == "percent" and rule.base == "paid" and not (rule.sku or rule.category or rule.rank), rule
        assert rule.cap_fen is None and rule.effective_from is None and rule.effective_to is None, rule
        rules.append((rule.level, rule.rate_bp, rule.index))
    assert plan.rounding == "half_up"
    # each line is rounded up by at most half a fen, so the order total can never pass the
    # guard rail (max_total_bp) that would make the engine re-allocate
    assert sum(rate for _l, rate, _i in rules) + 1 < plan.max_total_bp, "baseline assumes the cap never binds"
    return rules


LINES_SQL = """
INSERT INTO commission_lines (brand_id, order_id, order_item_id, promoter_id, level, kind, amount_fen,
                              reversed_fen, clawback_fen, status, plan_version, rule_index, created_at)
SELECT o.brand_id, o.id, i.id, c.promoter_id, c.level, 'commission', amount.fen,
       0, 0, 'frozen', %(version)s, r.rule_index, now()
FROM orders o
JOIN order_items i ON i.order_id = o.id
CROSS JOIN LATERAL (VALUES (1, o.chain_l1_id), (2, o.chain_l2_id), (3, o.chain_l3_id)) AS c (level, promoter_id)
JOIN (SELECT * FROM unnest(%(levels)s::int[], %(rates)s::int[], %(indexes)s::int[])) AS r (level, rate_bp, rule_index)
  ON r.level = c.level
-- paid x rate / 10,000 rounded half up (the amounts are never negative)
CROSS JOIN LATERAL (SELECT (i.paid_fen::bigint * r.rate_bp + 5000) / 10000 AS fen) AS amount
WHERE o.brand_id = %(brand)s AND o.status = 'paid' AND o.mode = 'promotion'
  AND c.promoter_id IS NOT NULL AND amount.fen > 0
"""

ACCOUNTS_SQL = """
INSERT INTO ledger_accounts (brand_id, kind, owner_id)
SELECT %(brand)s, 'brand_commission_expense', 0
UNION ALL
SELECT DISTINCT %(brand)s, 'promoter_frozen', promoter_id FROM commission_lines WHERE brand_id = %(brand)s
ON CONFLICT (brand_id, kind, owner_id) DO NOTHING
"""

POSTINGS_SQL = """
WITH tx AS (
    INSERT INTO ledger_transactions (brand_id, kind, order_id, reference, memo, created_at, occurred_at)
    SELECT o.brand_id, 'accrual', o.id, o.external_id, json_build_object('plan_version', %(version)s), now(),
           o.paid_at
    FROM orders o
    WHERE o.brand_id = %(brand)s AND EXISTS (SELECT 1 FROM commission_lines l WHERE l.order_id = o.id)
    RETURNING id, order_id
), expense AS (
    SELECT id FROM ledger_accounts WHERE brand_id = %(brand)s AND kind = 'brand_commission_expense' AND owner_id = 0
)
INSERT INTO ledger_entries (transaction_id, account_id, amount_fen, commission_line_id, created_at)
SELECT tx.id, frozen.id, l.amount_fen, l.id, now()
FROM tx
JOIN commission_lines l ON l.order_id = tx.order_id
JOIN ledger_accounts frozen
  ON frozen.brand_id = l.brand_id AND frozen.kind = 'promoter_frozen' AND frozen.owner_id = l.promoter_id
UNION ALL
SELECT tx.id, expense.id, -sum(l.amount_fen), NULL, now()
FROM tx JOIN commission_lines l ON l.order_id = tx.order_id CROSS JOIN expense
GROUP BY tx.id, expense.id
"""


def run_bare(database_url: str, brand_id: int, version: int, rules: list[tuple[int, int, int]]) -> float:
    import psycopg

    params = {"brand": brand_id, "version": version, "levels": [r[0] for r in rules],
              "rates": [r[1] for r in rules], "indexes": [r[2] for r in rules]}
    with psycopg.connect(database_url) as conn:
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(LINES_SQL, params)
            cur.execute(ACCOUNTS_SQL, params)
            cur.execute(POSTINGS_SQL, params)
        conn.commit()
        return time.perf_counter() - started


# --- checking ------------------------------------------------------------------------------


def written(conn) -> dict:
    """What is in the commission and ledger tables now."""
    out = {"per_level": {}}
    for level, n, total in conn.execute(
        "SELECT level, count(*), sum(amount_fen) FROM commission_lines GROUP BY level ORDER BY level"
    ):
        out["per_level"][level] = (n, int(total))
    out["lines"] = sum(n for n, _ in out["per_level"].values())
    out["transactions"] = conn.execute("SELECT count(*) FROM ledger_transactions").fetchone()[0]
    out["entries"] = conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0]
    out["unbalanced"] = conn.execute(
        "SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries GROUP BY transaction_id "
        "HAVING sum(amount_fen) <> 0) t"
    ).fetchone()[0]
    return out


KEEP_A_SQL = """
CREATE TABLE bench_a_lines AS
    SELECT order_id, order_item_id, promoter_id, level, kind, amount_fen, plan_version, rule_index
    FROM commission_lines;
CREATE TABLE bench_a_balances AS
    SELECT a.kind, a.owner_id, sum(e.amount_fen) AS balance, count(*) AS entries
    FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id GROUP BY a.kind, a.owner_id;
CREATE TABLE bench_a_orders AS
    SELECT t.order_id, t.kind, t.reference, t.memo::jsonb AS memo, count(e.id) AS entries, sum(abs(e.amount_fen)) AS moved
    FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
    GROUP BY t.order_id, t.kind, t.reference, t.memo::jsonb;
"""

COMPARE_SQL = {
    "lines only in A": """SELECT count(*) FROM (
        SELECT order_id, order_item_id, promoter_id, level, kind, amount_fen, plan_version, rule_index FROM bench_a_lines
        EXCEPT ALL
        SELECT order_id, order_item_id, promoter_id, level, kind, amount_fen, plan_version, rule_index
        FROM commission_lines) d""",
    "lines only in B": """SELECT count(*) FROM (
        SELECT order_id, order_item_id, promoter_id, level, kind, amount_fen, plan_version, rule_index
        FROM commission_lines
        EXCEPT ALL
        SELECT order_id, order_item_id, promoter_id, level, kind, amount_fen, plan_version, rule_index
        FROM bench_a_lines) d""",
    "account balances that differ": """SELECT count(*) FROM bench_a_balances a
        FULL JOIN (SELECT a.kind, a.owner_id, sum(e.amount_fen) AS balance, count(*) AS entries
                   FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id GROUP BY a.kind, a.owner_id) b
          ON a.kind = b.kind AND a.owner_id = b.owner_id
        WHERE a.balance IS DISTINCT FROM b.balance OR a.entries IS DISTINCT FROM b.entries""",
    "order transactions that differ": """SELECT count(*) FROM bench_a_orders a
        FULL JOIN (SELECT t.order_id, t.kind, t.reference, t.memo::jsonb AS memo, count(e.id) AS entries,
                          sum(abs(e.amount_fen)) AS moved
                   FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
                   GROUP BY t.order_id, t.kind, t.reference, t.memo::jsonb) b ON a.order_id = b.order_id
        WHERE (a.kind, a.reference, a.memo, a.entries, a.moved) IS DISTINCT FROM (b.kind, b.reference, b.memo, b.entries, b.moved)""",
}


def keep_a_and_empty(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url) as conn:
        conn.execute(KEEP_A_SQL)
        # the ledger accounts stay: B creates any that are missing, as A did
        # (TRUNCATE also resets their statistics to "never analysed", as they were before A)
        conn.execute("TRUNCATE ledger_entries, ledger_transactions, commission_lines RESTART IDENTITY")
        conn.commit()


# --- main ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000, help="order items to price (default 100,000)")
    parser.add_argument("--batch", type=int, default=500, help="orders per service transaction in A")
    parser.add_argument("--profile", action="store_true",
                        help="run A under cProfile and print the top costs and the SQL it sends (slower)")
    parser.add_argument("--no-verify", action="store_true", help="skip services.verify.verify after A")
    parser.add_argument("--per-order", action="store_true", help="A calls on_paid order by order (not the target)")
    args = parser.parse_args()

    from bench.support import bench_app, bench_instance

    tmp = bench_instance("commission", postgres=True)

    import psycopg
    from sqlalchemy import event, select

    from distweb.extensions import db
    from distweb.models import Product
    from distweb.services import accounts, catalogue, commission, ledger
    from distweb.services import verify as ledger_verify
    from tests.support.services import throwaway_database, throwaway_redis

    env_redis = os.environ.pop("REDIS_URL", None)  # the embedded one keeps the machine's Redis clean
    ok = True
    with throwaway_database(tmp) as database_url, throwaway_redis(tmp) as redis_url:
        if not database_url.startswith("postgresql"):
            print("bench/commission.py needs PostgreSQL (set DATABASE_URL)")
            return 2
        app = bench_app(database_url, redis_url)
        started = time.perf_counter()
        with app.app_context():
            brand, _manager, _ = accounts.init_brand("基准品牌", "bench@example.com", "bench12345")
            for sku, name, category, price in PRODUCTS:
                catalogue.upsert_product(brand, sku, catalogue.ProductInput(name=name, price_fen=price,
                                                                            category=category))
            chains = build_network(brand)
            plan_row = commission.save_plan(brand.id, PLAN, note="bench/commission.py")
            version, plan = commission.current_plan(brand.id)
            assert version == plan_row.version
            rules = percent_rules(plan)
            brand_id = brand.id
            products = [(p.id, p.sku, p.name, p.price_fen) for p in db.session.scalars(
                select(Product).where(Product.brand_id == brand_id).order_by(Product.id))]
            db.session.remove()
        with psycopg.connect(database_url) as conn:
            orders = load_orders(conn, brand_id, args.items, products, chains)
            autovacuum = conn.execute("SHOW autovacuum").fetchone()[0]
        analyze_inputs(database_url)
        print(f"set-up: {len(products)} products, {sum(len(c) for c in chains.values())} promoters "
              f"({', '.join(f'{len(c)} {tier}s' for tier, c in chains.items())}), plan v{version} "
              f"(depth {plan.depth}: {', '.join(f'L{lv} {rate / 100:g} %' for lv, rate, _ in rules)}, "
              f"{plan.rounding}); {orders:,} paid orders with {args.items:,} items; "
              f"{time.perf_counter() - started:.1f} s; PostgreSQL autovacuum {autovacuum}", flush=True)

        # A: the engine
        statements: Counter = Counter()
        statement_s: Counter = Counter()
        count = {"n": 0}

        def on_execute(_conn, _cursor, statement, _parameters, context, _executemany):
            count["n"] += 1
            if args.profile:
                context._bench_started = time.perf_counter()

        def after_execute(_conn, _cursor, statement, _parameters, context, _executemany):
            shape = " ".join(statement.split())[:110]
            statements[shape] += 1
            statement_s[shape] += time.perf_counter() - context._bench_started

        with app.app_context():
            engine = db.engine
            event.listen(engine, "before_cursor_execute", on_execute)
            if args.profile:
                event.listen(engine, "after_cursor_execute", after_execute)
            ledger.reset_cache()
            profiler = cProfile.Profile() if args.profile else None
            if profiler:
                profiler.enable()
            cpu0 = time.process_time()
            done, engine_s = run_engine(brand_id, args.batch, args.per_order)
            engine_cpu_s = time.process_time() - cpu0
            load_a = os.getloadavg()[1]  # 5-minute load average: how busy the machine was meanwhile
            if profiler:
                profiler.disable()
            event.remove(engine, "before_cursor_execute", on_execute)
            if args.profile:
                event.remove(engine, "after_cursor_execute", after_execute)
            assert done == orders, (done, orders)
            how = "on_paid, order by order" if args.per_order else f"accrue, {args.batch} orders a batch"
            print(f"A: {done:,} orders through {how} in {engine_s:.1f} s", flush=True)
            with psycopg.connect(database_url, autocommit=True) as conn:
                # statistics for what A wrote, before verify reads it (with autovacuum off, as on
                # the bench machine, nothing else would ever analyse these tables)
                for table in OUTPUT_TABLES:
                    conn.execute(f"ANALYZE {table}")
                a = written(conn)
                scans = conn.execute(
                    "SELECT relname, seq_scan, seq_tup_read, idx_scan, n_live_tup FROM pg_stat_user_tables "
                    "WHERE relname IN ('orders', 'order_items', 'products', 'promoters', 'commission_plans', "
                    "'commission_lines', 'ledger_accounts', 'ledger_transactions', 'ledger_entries') "
                    "ORDER BY seq_tup_read DESC").fetchall() if args.profile else []
            report = None
            verify_s = 0.0
            if not args.no_verify:
                t0 = time.perf_counter()
                report = ledger_verify.verify(brand_id, reprice_limit=200)
                verify_s = time.perf_counter() - t0
                print(f"verify: {verify_s:.1f} s", flush=True)
                db.session.rollback()
            db.session.remove()
            engine.dispose()

        keep_a_and_empty(database_url)
        analyze_inputs(database_url)

        # B: the bare baseline
        bare_s = run_bare(database_url, brand_id, version, rules)
        load_b = os.getloadavg()[0]
        with psycopg.connect(database_url) as conn:
            b = written(conn)
            differences = {label: conn.execute(sql).fetchone()[0] for label, sql in COMPARE_SQL.items()}

        # report
        print()
        print(f"{'':<26}{'A: the engine':>24}{'B: set-based SQL':>24}")
        for level in sorted(set(a["per_level"]) | set(b["per_level"])):
            (na, ta), (nb, tb) = a["per_level"].get(level, (0, 0)), b["per_level"].get(level, (0, 0))
            print(f"{f'L{level} lines / amount_fen':<26}{f'{na:,} / {ta:,}':>24}{f'{nb:,} / {tb:,}':>24}"
                  f"  {'same' if (na, ta) == (nb, tb) else 'DIFFERENT'}")
        total_a = sum(t for _, t in a["per_level"].values())
        total_b = sum(t for _, t in b["per_level"].values())
        lines_a, lines_b = f"{a['lines']:,} / {total_a:,}", f"{b['lines']:,} / {total_b:,}"
        print(f"{'all lines / amount_fen':<26}{lines_a:>24}{lines_b:>24}  {'same' if total_a == total_b else 'DIFFERENT'}")
        print(f"{'ledger transactions':<26}{a['transactions']:>24,}{b['transactions']:>24,}")
        print(f"{'ledger entries':<26}{a['entries']:>24,}{b['entries']:>24,}")
        print(f"{'unbalanced transactions':<26}{a['unbalanced']:>24,}{b['unbalanced']:>24,}")
        print(f"{'items':<26}{args.items:>24,}{args.items:>24,}")
        print(f"{'seconds':<26}{engine_s:>24.2f}{bare_s:>24.2f}")
        print(f"{'  of which this process':<26}{f'{engine_cpu_s:.2f} cpu':>24}{'(in the server)':>24}")
        print(f"{'load average meanwhile':<26}{load_a:>24.1f}{load_b:>24.1f}")
        print(f"{'lines/s':<26}{a['lines'] / engine_s:>24,.0f}{b['lines'] / bare_s:>24,.0f}")
        print(f"{'items/s':<26}{args.items / engine_s:>24,.0f}{args.items / bare_s:>24,.0f}")
        sent = f"{count['n']:,} ({count['n'] / orders:.1f}/order)"
        print(f"{'SQL statements':<26}{sent:>24}{3:>24}")
        same = (a["per_level"] == b["per_level"] and (a["transactions"], a["entries"]) == (b["transactions"], b["entries"])
                and not any(differences.values()) and a["unbalanced"] == b["unbalanced"] == 0)
        print()
        for label, n in differences.items():
            print(f"A vs B, {label}: {n}")
        print(f"A and B wrote the same lines and money: {'yes' if same else 'NO'}")
        if report is not None:
            print(f"ledger verify after A (reprice_limit=200): {'ok' if report.ok else 'FAILED'} — "
                  f"{report.transactions:,} transactions, {report.entries:,} entries, {report.lines:,} lines, "
                  f"{report.orders_repriced} orders repriced; {verify_s:.1f} s")
            for violation in report.violations[:10]:
                print(f"  {violation}")
        ratio = engine_s / bare_s
        print(f"ratio A/B: {ratio:.1f}x (target <= {TARGET_RATIO:g}x)  {'ok' if ratio <= TARGET_RATIO else 'MISSED'}")
        ok = same and ratio <= TARGET_RATIO and (report is None or report.ok)

        if profiler:
            print("\nTable scans during set-up and A (pg_stat_user_tables):")
            print(f"{'table':<22}{'seq_scan':>10}{'seq_tup_read':>14}{'idx_scan':>10}{'rows':>10}")
            for name, seq, seq_read, idx, live in scans:
                print(f"{name:<22}{seq:>10,}{seq_read:>14,}{idx or 0:>10,}{live:>10,}")
            print("\nSQL sent by A (count, total seconds, ms each, statement shape), by time:")
            for statement, spent in statement_s.most_common(15):
                n = statements[statement]
                print(f"{n:>8,} {spent:>7.2f} s {spent / n * 1000:>6.2f} ms  {statement}")
            for title, key, restrict in (
                ("top 25 by tottime", "tottime", (25,)),
                ("top 25 by cumulative time", "cumulative", (25,)),
                ("the engine's own functions (services/commission.py, services/ledger.py, domain/commission.py)",
                 "cumulative", (r"services/commission\.py|services/ledger\.py|domain/commission\.py", 30)),
            ):
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(*restrict)
                print(f"\ncProfile of A, {title}:")
                text = out.getvalue().replace(str(ROOT) + "/", "").replace(str(Path(sys.prefix)) + "/", "")
                print("\n".join(line for line in text.splitlines()[6:] if line.strip()))
    if env_redis:
        os.environ["REDIS_URL"] = env_redis
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
