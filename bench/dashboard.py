"""The data dashboard over a brand with many orders: how long its figures take, warm.

Run from the checkout:  .venv/bin/python bench/dashboard.py [--orders 1000000] [--promoters 100000]
                                                           [--products 2000] [--db sqlite|postgresql|both]
                                                           [--repeat 10] [--reuse NAME [--rebuild-rollups]]

Builds its own throwaway database (SQLite in a temporary folder; PostgreSQL: a new database
on DATABASE_URL, default the machine's postgresql://postgres@127.0.0.1:5432/test) and an
embedded Redis, migrates, sets up a brand, then — not timed — fills it with set-based
INSERT … SELECT statements over a generated series (generate_series on PostgreSQL, a
recursive CTE on SQLite), nothing row by row in Python:

  promoters  ``--promoters`` in three levels (1 % partners > 9 % mentors > 90 % promoters),
             joined evenly over the two years before now
  products   ``--products``, a quarter of which never sell
  orders     ``--orders`` paid evenly over the two years before now, one item each, L1 and L2
             commission lines (10 % / 5 %); 3 % cancelled an hour after payment (lines
             reversed), 5 % a quarter refunded two days after payment (lines a quarter reversed)
  ledger     one accrual transaction per order (brand expense → promoter frozen per line)
  rollups    the dashboard's day and month sums, rebuilt from those rows (``rollups.rebuild``,
             what ``distweb dashboard rebuild-rollups`` runs), timed and printed on their own

Then ANALYZE, and timed (wall clock, in-process, after one warm-up call of each):

  API   GET /api/v1/dashboard?from=…&to=… (bearer key) for the last 30 and 365 days
  page  GET /manage/?range=custom&from=…&to=… (the manager's dashboard: both periods' cards,
        top 10s, latest orders) and GET /manage/dashboard/trend.json (the charts' data)
  parts each figure's own statement(s), once, to show where the time goes

``--repeat`` timed calls of the API and the page per range; prints p50 and p95 (nearest
rank). Targets (issue 16): p95 < 200 ms on PostgreSQL at 1,000,000 orders and on SQLite at
100,000. ``--db both`` runs SQLite first and then PostgreSQL with the same numbers.

``--reuse NAME`` keeps the generated brand between runs to iterate quickly: the database is
``distweb_bench_NAME_<size>`` on PostgreSQL (a file ``distweb-bench-NAME-<size>.sqlite3`` in the
temporary folder on SQLite), filled on the first run and not dropped; later runs with the same
name and size migrate it (new migrations apply) and time it without filling it again.
``--rebuild-rollups`` rebuilds its rollups too (after a change to how they are kept). Drop it
with ``dropdb distweb_bench_NAME_<size>`` / remove the file when done.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPAN_DAYS = 730
BASE_PASSWORD = "bench12345"


def series(dialect: str, n: int) -> tuple[str, str]:
    """(prefix, FROM clause) yielding i = 1..n as ``s.i``."""
    if dialect == "postgresql":
        return "", f"generate_series(CAST(1 AS BIGINT), {int(n)}) AS s(i)"
    return (f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {int(n)}) ", "s")


def at(dialect: str, base: str, seconds: str) -> str:
    """SQL for the UTC timestamp ``base`` + ``seconds`` (an integer SQL expression), stored form."""
    if dialect == "postgresql":
        return f"(TIMESTAMPTZ '{base}+00' + ({seconds}) * INTERVAL '1 second')"
    return f"strftime('%Y-%m-%d %H:%M:%f000', '{base}', '+' || ({seconds}) || ' seconds')"


def fill(conn, dialect: str, brand_id: int, first_user: int, promoters: int, products: int, orders: int,
         password_hash: str, start: datetime) -> dict:
    from sqlalchemy import text

    base = start.strftime("%Y-%m-%d %H:%M:%S")
    span = SPAN_DAYS * 86400
    partners = max(1, promoters // 100)
    mentors = min(promoters - partners, partners * 9)
    true = "true" if dialect == "postgresql" else "1"
    false = "false" if dialect == "postgresql" else "0"
    run = lambda sql: conn.execute(text(sql))  # noqa: E731

    prefix, src = series(dialect, promoters)
    joined = at(dialect, base, f"((s.i * 7919) % {promoters}) * {span // promoters}")
    run(f"{prefix}INSERT INTO users (id, brand_id, role, name, phone, password_hash, is_enabled, created_at, "
        f"password_changed_at) SELECT {first_user - 1} + s.i, {brand_id}, 'promoter', '推客' || s.i, "
        f"'17' || substr('000000000' || s.i, -9, 9), '{password_hash}', {true}, {joined}, {joined} FROM {src}"
        if dialect == "sqlite" else
        f"INSERT INTO users (id, brand_id, role, name, phone, password_hash, is_enabled, created_at, "
        f"password_changed_at) SELECT {first_user - 1} + s.i, {brand_id}, 'promoter', '推客' || s.i, "
        f"'17' || lpad(s.i::text, 9, '0'), '{password_hash}', {true}, {joined}, {joined} FROM {src}")
    mentor_of = f"({partners} + 1 + (s.i % {mentors}))"
    upline = (f"CASE WHEN s.i <= {partners} THEN NULL WHEN s.i <= {partners + mentors} THEN 1 + (s.i % {partners}) "
              f"ELSE {mentor_of} END")
    upline2 = f"CASE WHEN s.i <= {partners + mentors} THEN NULL ELSE 1 + ({mentor_of} % {partners}) END"
    rank = (f"CASE WHEN s.i <= {partners} THEN 'partner' WHEN s.i <= {partners + mentors} THEN 'mentor' "
            f"ELSE 'promoter' END")
    run(f"{prefix}INSERT INTO promoters (id, brand_id, user_id, code, upline_id, upline2_id, upline3_id, rank, "
        f"status, joined_at, distributor) SELECT s.i, {brand_id}, {first_user - 1} + s.i, 'B' || s.i, {upline}, "
        f"{upline2}, NULL, {rank}, 'active', {joined}, {false} FROM {src}")

    prefix, src = series(dialect, products)
    run(f"{prefix}INSERT INTO products (id, brand_id, sku, name, category, price_fen, supply_cost_fen, "
        f"wholesale_price_fen, sells_promotion, sells_consignment, sells_wholesale, active, created_at) "
        f"SELECT s.i, {brand_id}, 'SKU-' || s.i, '商品' || s.i, 'tea', 1000 + (s.i * 37) % 20000, 0, 0, {true}, "
        f"{false}, {false}, {true}, '{base}' FROM {src}")

    prefix, src = series(dialect, orders)
    paid = at(dialect, base, f"s.i * {span} / {orders}")
    cancelled = at(dialect, base, f"s.i * {span} / {orders} + 3600")
    sold = max(1, products * 3 // 4)  # the last quarter of the catalogue never sells
    status = "CASE WHEN s.i % 100 < 3 THEN 'cancelled' ELSE 'completed' END"
    seller = f"1 + ((s.i * 104729) % {promoters})"
    product = f"1 + ((s.i * 7) % {sold})"
    quantity = "1 + s.i % 3"
    refunded = f"CASE WHEN s.i % 100 BETWEEN 3 AND 7 THEN (p.price_fen * ({quantity})) / 4 ELSE 0 END"
    run(f"{prefix}INSERT INTO orders (id, brand_id, external_id, mode, status, source, is_stock_purchase, promoter_id, "
        f"chain_l1_id, chain_l2_id, chain_l3_id, attribution_source, binds_buyer, total_paid_fen, refunded_fen, "
        f"placed_at, paid_at, completed_at, cancelled_at) "
        f"SELECT s.i, {brand_id}, 'B-' || s.i, 'promotion', {status}, 'api', {false}, pr.id, pr.id, pr.upline_id, "
        f"pr.upline2_id, 'api', {false}, p.price_fen * ({quantity}), {refunded}, {paid}, {paid}, "
        f"CASE WHEN s.i % 100 < 3 THEN NULL ELSE {paid} END, CASE WHEN s.i % 100 < 3 THEN {cancelled} END "
        f"FROM {src} JOIN promoters pr ON pr.id = {seller} JOIN products p ON p.id = {product}")
    run(f"INSERT INTO order_items (id, order_id, product_id, sku, name, quantity, unit_price_fen, paid_fen, "
        f"supply_cost_fen, refunded_fen) SELECT o.id, o.id, 1 + ((o.id * 7) % {sold}), 'SKU-' || (1 + ((o.id * 7) % "
        f"{sold})), '商品', 1 + o.id % 3, o.total_paid_fen / (1 + o.id % 3), o.total_paid_fen, "
        f"0, o.refunded_fen FROM orders o WHERE o.brand_id = {brand_id}")
    refund_at = at(dialect, base, f"CAST(o.id AS BIGINT) * {span} / {orders} + 172800")
    run(f"INSERT INTO refunds (id, order_id, refund_id, amount_fen, created_at) SELECT o.id, o.id, 'R-' || o.id, "
        f"o.refunded_fen, {refund_at} FROM orders o WHERE o.brand_id = {brand_id} AND o.refunded_fen > 0")
    run("INSERT INTO refund_lines (refund_id, order_item_id, amount_fen) SELECT r.id, r.order_id, r.amount_fen "
        "FROM refunds r")
    for level, column, rate in ((1, "chain_l1_id", 1000), (2, "chain_l2_id", 500)):
        amount = f"(o.total_paid_fen * {rate} + 5000) / 10000"
        reversed_ = (f"CASE WHEN o.status = 'cancelled' THEN {amount} "
                     f"ELSE ({amount}) * o.refunded_fen / o.total_paid_fen END")
        run(f"INSERT INTO commission_lines (brand_id, order_id, order_item_id, promoter_id, level, kind, amount_fen, "
            f"reversed_fen, clawback_fen, status, plan_version, rule_index, created_at) "
            f"SELECT {brand_id}, o.id, o.id, o.{column}, {level}, 'commission', {amount}, {reversed_}, 0, "
            f"CASE WHEN o.status = 'cancelled' THEN 'reversed' ELSE 'frozen' END, 1, {level - 1}, o.paid_at "
            f"FROM orders o WHERE o.brand_id = {brand_id} AND o.{column} IS NOT NULL")
    run(f"INSERT INTO ledger_accounts (brand_id, kind, owner_id) SELECT {brand_id}, 'brand_commission_expense', 0 "
        f"WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts WHERE brand_id = {brand_id} "
        f"AND kind = 'brand_commission_expense')")
    run(f"INSERT INTO ledger_accounts (brand_id, kind, owner_id) SELECT DISTINCT {brand_id}, 'promoter_frozen', "
        f"promoter_id FROM commission_lines WHERE brand_id = {brand_id}")
    memo = "json_build_object('plan_version', 1)" if dialect == "postgresql" else "json_object('plan_version', 1)"
    run(f"INSERT INTO ledger_transactions (id, brand_id, kind, order_id, reference, memo, created_at, occurred_at) "
        f"SELECT o.id, o.brand_id, 'accrual', o.id, o.external_id, {memo}, o.paid_at, o.paid_at FROM orders o "
        f"WHERE o.brand_id = {brand_id}")
    for sign, account in (("-", "e.id"), ("", "f.id")):
        run(f"INSERT INTO ledger_entries (transaction_id, account_id, amount_fen, commission_line_id, created_at) "
            f"SELECT l.order_id, {account}, {sign}l.amount_fen, l.id, l.created_at FROM commission_lines l "
            f"JOIN ledger_accounts f ON f.brand_id = l.brand_id AND f.kind = 'promoter_frozen' "
            f"AND f.owner_id = l.promoter_id "
            f"JOIN ledger_accounts e ON e.brand_id = l.brand_id AND e.kind = 'brand_commission_expense' "
            f"WHERE l.brand_id = {brand_id} AND l.amount_fen > 0")
    if dialect == "postgresql":
        for table in ("users", "promoters", "products", "orders", "order_items", "refunds", "commission_lines",
                      "ledger_transactions"):
            run(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    counts = {}
    for table in ("promoters", "products", "orders", "refunds", "commission_lines", "ledger_entries"):
        counts[table] = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    return counts


def nearest_rank(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def timed(call, repeat: int) -> list[float]:
    call()  # warm
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


@contextmanager
def fresh_database(tmp: Path):
    from tests.support.services import throwaway_database

    with throwaway_database(tmp) as url:
        yield url


@contextmanager
def kept_database(tmp: Path, name: str, size: int):
    """A database that outlives the run (``--reuse``): created when missing, never dropped."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://", "postgresql+psycopg://")):
        path = Path(tempfile.gettempdir()) / f"distweb-bench-{name}-{size}.sqlite3"
        yield f"sqlite:///{path}"
        return
    import psycopg
    from psycopg import sql

    plain = base.replace("postgresql+psycopg://", "postgresql://", 1)
    dbname = f"distweb_bench_{name}_{size}"
    with psycopg.connect(plain, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    head, _, _ = plain.rpartition("/")
    yield f"{head}/{dbname}"


def run_one(dialect_wanted: str, args) -> dict:
    from bench.support import bench_app, bench_instance

    if dialect_wanted == "postgresql":
        os.environ.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    else:
        os.environ.pop("DATABASE_URL", None)
    tmp = bench_instance(f"dashboard-{dialect_wanted}", postgres=dialect_wanted == "postgresql")
    from sqlalchemy import text

    from tests.support.services import throwaway_redis

    env_redis = os.environ.pop("REDIS_URL", None)
    try:
        if args.reuse:
            if not args.reuse.replace("_", "").isalnum():
                raise SystemExit("--reuse: letters, digits and _ only")
            kept = kept_database(tmp, args.reuse.lower(), args.orders)
        else:
            kept = fresh_database(tmp)
        with kept as database_url, throwaway_redis(tmp) as redis_url:
            app = bench_app(database_url, redis_url)
            from distweb.extensions import db
            from distweb.services import accounts, api_keys, dashboard, rollups

            t0 = time.perf_counter()
            with app.app_context():
                brand, _manager, _ = accounts.init_brand("基准品牌", "bench@example.com", BASE_PASSWORD)
                brand_id, tz = brand.id, brand.timezone
                _row, key = api_keys.create_key(brand, "bench")
                password_hash = accounts.hash_password(BASE_PASSWORD)
                dialect = db.engine.dialect.name
                now = datetime.now(UTC).replace(microsecond=0)
                start = now - timedelta(days=SPAN_DAYS)
                with db.engine.connect() as conn:
                    filled = conn.execute(text("SELECT count(*) FROM orders WHERE brand_id = :b"),
                                          {"b": brand_id}).scalar() > 0
                rebuild_s, rolled = None, {}
                if filled:  # --reuse: the brand of an earlier run
                    counts = {}
                    with db.engine.connect() as conn:
                        for table in ("promoters", "products", "orders", "refunds", "commission_lines",
                                      "ledger_entries"):
                            counts[table] = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                else:
                    with db.engine.begin() as conn:
                        if dialect == "postgresql":
                            conn.execute(text("SET session_replication_role = replica"))  # set-up only
                        first_user = conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM users")).scalar()
                        counts = fill(conn, dialect, brand_id, first_user, args.promoters, args.products,
                                      args.orders, password_hash, start)
                    db.session.remove()
                if not filled or args.rebuild_rollups:
                    t1 = time.perf_counter()
                    rolled = rollups.rebuild(brand_id)  # the rollups of what was just written (set-up)
                    db.session.remove()
                    rebuild_s = time.perf_counter() - t1
                if not filled or args.rebuild_rollups:
                    with db.engine.connect() as conn:
                        if dialect == "postgresql":
                            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
                        else:
                            conn.execute(text("ANALYZE"))
                            conn.commit()
            setup_s = time.perf_counter() - t0
            print(f"[{dialect}] set-up {setup_s:.1f} s: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))
            if rebuild_s is None:
                print(f"[{dialect}] reused the brand of an earlier run (--reuse {args.reuse}), rollups kept")
            else:
                print(f"[{dialect}] rollups rebuilt in {rebuild_s:.1f} s (part of the set-up): "
                      + ", ".join(f"{n:,} {t}" for t, n in rolled.items()))

            client = app.test_client()
            manager = app.test_client()
            login = manager.get("/auth/login").get_data(as_text=True)
            import re

            token = re.search(r'<meta name="csrf-token" content="([^"]+)"', login).group(1)
            manager.post("/auth/login", data={"login": "bench@example.com", "password": BASE_PASSWORD,
                                              "csrf_token": token})
            results = {}
            with app.app_context():
                today = dashboard.local_today(tz)
            for days in (30, 365):
                period = dashboard.Period(today - timedelta(days=days - 1), today, tz)
                query = f"from={period.start.isoformat()}&to={period.end.isoformat()}"
                headers = {"Authorization": f"Bearer {key}"}

                def api(query=query, headers=headers):
                    response = client.get(f"/api/v1/dashboard?{query}", headers=headers)
                    assert response.status_code == 200, response.get_data(as_text=True)[:300]

                def page(query=query):
                    response = manager.get(f"/manage/?range=custom&{query}")
                    assert response.status_code == 200, response.status_code

                def trend(query=query):
                    response = manager.get(f"/manage/dashboard/trend.json?range=custom&{query}")
                    assert response.status_code == 200, response.status_code

                api_ms, page_ms, trend_ms = (timed(f, args.repeat) for f in (api, page, trend))
                parts = {}

                def fresh(call):
                    """The call, then its transaction ended: what a figure keeps for the rest of
                    its transaction (services/dashboard.py) is not reused by the next call."""
                    def run():
                        try:
                            return call()
                        finally:
                            db.session.rollback()
                    return run

                with app.app_context():
                    for name, call in (
                            ("sales+refunds", lambda p=period: dashboard.sales(brand_id, p)),
                            ("commission", lambda p=period: dashboard.commission_accrued(brand_id, p)),
                            ("promoters", lambda p=period: dashboard.promoters(brand_id, p)),
                            ("sell_through", lambda p=period: dashboard.sell_through(brand_id, p)),
                            ("survival", lambda p=period: dashboard.new_promoter_survival(brand_id, p)),
                            ("core_churn", lambda p=period: dashboard.core_churn(brand_id, p)),
                            ("top_promoters", lambda p=period: dashboard.top_promoters(brand_id, p)),
                            ("top_products", lambda p=period: dashboard.top_products(brand_id, p)),
                            ("series", lambda p=period: dashboard.daily(brand_id, p)),
                            ("balances", lambda p=period: dashboard.balances(brand_id, p)),
                            ("trend", lambda p=period: dashboard.trend(brand_id, p))):
                        parts[name] = statistics.median(timed(fresh(call), 3))
                    db.session.remove()
                results[days] = {"api": api_ms, "page": page_ms, "trend": trend_ms, "parts": parts}
                print(f"[{dialect}] {days:>3} days  API p50 {statistics.median(api_ms):7.1f} ms  "
                      f"p95 {nearest_rank(api_ms, 95):7.1f} ms | page p50 {statistics.median(page_ms):7.1f} ms  "
                      f"p95 {nearest_rank(page_ms, 95):7.1f} ms | trend.json p95 {nearest_rank(trend_ms, 95):7.1f} ms "
                      f"| load average {os.getloadavg()[0]:.2f}")
                print(f"[{dialect}]           parts (median ms): "
                      + ", ".join(f"{n} {v:.1f}" for n, v in parts.items()))
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            return {"dialect": dialect, "counts": counts, "results": results}
    finally:
        if env_redis is not None:
            os.environ["REDIS_URL"] = env_redis


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", default="1000000",
                        help="orders in the brand; several sizes comma-separated (100000,1000000) also print how "
                             "the times grow from the first size to each next")
    parser.add_argument("--promoters", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--reuse", metavar="NAME",
                        help="keep the generated database under this name and reuse it on later runs")
    parser.add_argument("--rebuild-rollups", action="store_true",
                        help="with --reuse: rebuild the reused brand's rollups before timing")
    args = parser.parse_args()
    try:
        sizes = [int(part) for part in str(args.orders).split(",")]
    except ValueError:
        parser.error("--orders: whole numbers, comma-separated")
    if args.promoters < 100 or args.products < 4 or min(sizes) < 1:
        parser.error("--promoters ≥ 100, --products ≥ 4, --orders ≥ 1")
    wanted = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    runs: dict[tuple[str, int], dict] = {}
    for dialect in wanted:
        for size in sizes:
            args.orders = size
            print(f"bench/dashboard.py: {size:,} orders over {SPAN_DAYS} days, {args.promoters:,} promoters, "
                  f"{args.products:,} products; {args.repeat} timed calls each, after one warm-up")
            runs[(dialect, size)] = run_one(dialect, args)
    if len(sizes) > 1:
        print("growth of the p50 from the first size (x orders -> x time; a scan of every order grows as the orders):")
        for dialect in wanted:
            first = runs[(dialect, sizes[0])]["results"]
            for size in sizes[1:]:
                later = runs[(dialect, size)]["results"]
                for days in (30, 365):
                    ratios = ", ".join(
                        f"{what} {statistics.median(later[days][what]) / statistics.median(first[days][what]):.1f}x"
                        for what in ("api", "page", "trend"))
                    print(f"  [{dialect}] {days:>3} days, {sizes[0]:,} -> {size:,} orders "
                          f"({size / sizes[0]:.0f}x): {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
