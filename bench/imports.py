"""Platform import: a generated order export of 100,000 rows (有赞 columns, UTF-8 CSV) imported
by the import job through the order services, as a manager's upload would be.

Run from the checkout:  .venv/bin/python bench/imports.py [--rows 100000] [--postgres]

Builds its own throwaway database (SQLite by default; PostgreSQL with --postgres or a
DATABASE_URL) and an embedded Redis, migrates, and creates through the app's services the
brand, a three-level commission plan (10 % / 5 % / 2 %), 20 products and a three-level
network of 200 promoters. The file has one row per item, 1–3 items per order (about half as
many orders as rows), every order paid and attributed to a promoter by invite code; one row
in 50 also carries a partial refund and one in 10 a completion time; one row in 500 is bad
(an unknown SKU) and must be skipped with its row number.

It prints the upload (stream to disk, encoding and header) time, the import's rows/s and
orders/s, the peak memory of the process, then imports the same file again (nothing may be
created twice: every row unchanged or skipped) and checks the ledger (``ledger verify``).
Exit status 1 if an order is missing or doubled, a check fails, or the ledger does not verify.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import bench_app, bench_instance  # noqa: E402

PRODUCTS = 20
PLAN = {"depth": 3, "freeze_days": 7, "rounding": "half_up", "max_total_bp": 3000, "self_purchase": False,
        "consignment_funding": "supplier",
        "rules": [{"scope": {"sku": None, "category": None, "rank": None}, "level": 1, "kind": "percent", "base": "paid",
                   "rate_bp": 1000},
                  {"scope": {"sku": None, "category": None, "rank": None}, "level": 2, "kind": "percent", "base": "paid",
                   "rate_bp": 500},
                  {"scope": {"sku": None, "category": None, "rank": None}, "level": 3, "kind": "percent", "base": "paid",
                   "rate_bp": 200}]}
HEADER = ["订单号", "商品编码", "商品数量", "商品单价", "商品实际成交金额", "付款时间", "交易成功时间", "商品已退款金额",
          "订单状态", "推客邀请码", "收货人", "收货人手机号"]


def generate(rows: int, codes: list[str], prices: dict[str, int], seed: int = 5) -> tuple[bytes, int, int]:
    """The export: (bytes, orders, rows that must be skipped: every row of an order with a
    bad row, as the order is refused whole)."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    skus = sorted(prices)
    written, orders, skipped = 0, 0, 0
    while written < rows:
        orders += 1
        number = f"E2026{orders:09d}"
        items = min(rng.randint(1, 3), rows - written)
        code = rng.choice(codes)
        day = 1 + orders % 28
        lines, bad = [], False
        for sku in rng.sample(skus, items):
            written += 1
            quantity = rng.randint(1, 3)
            price = prices[sku]
            paid = price * quantity - rng.choice((0, 0, 100, 250))
            refund = f"{paid // 3 / 100:.2f}" if written % 50 == 0 else ""
            completed = f"2026-11-{day:02d} 20:00:00" if written % 10 == 0 else ""
            if written % 500 == 0:
                sku, bad = "NO-SUCH-SKU", True
            lines.append([number, sku, quantity, f"{price / 100:.2f}", f"{paid / 100:.2f}",
                          f"2026-11-{day:02d} 10:{orders % 60:02d}:00", completed, refund, "已发货", code,
                          "买家", f"139{orders:08d}"])
        writer.writerows(lines)
        skipped += len(lines) if bad else 0
    return out.getvalue().encode("utf-8-sig"), orders, skipped


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true", help="run on the machine's PostgreSQL")
    args = parser.parse_args()
    tmp = bench_instance("imports", postgres=args.postgres)

    from tests.support.services import throwaway_database, throwaway_redis

    os.environ.pop("REDIS_URL", None)  # the embedded Redis keeps the machine's clean
    with throwaway_database(tmp) as database_url, throwaway_redis(tmp) as redis_url:
        app = bench_app(database_url, redis_url)
        with app.app_context():
            return run(app, args.rows, database_url)


def run(app, rows: int, database_url: str) -> int:
    from sqlalchemy import func, select

    from distweb.extensions import db
    from distweb.models import Job, Order
    from distweb.models.network import Rank
    from distweb.services import accounts, catalogue, commission, imports, jobs, network
    from distweb.services.tx import transaction
    from distweb.services.verify import verify

    brand, _manager, _ = accounts.init_brand("基准品牌", "bench@example.com", "bench-password-2026")
    commission.save_plan(brand.id, PLAN, note="bench imports")
    prices = {}
    for i in range(PRODUCTS):
        sku = f"TEA-{i + 1:03d}"
        prices[sku] = 1000 + 500 * i
        catalogue.upsert_product(brand, sku, catalogue.ProductInput(name=f"茶 {i + 1} 号", price_fen=prices[sku],
                                                                    supply_cost_fen=prices[sku] // 2))
    with transaction():  # no passwords: imported networks sign in after a reset
        partners = [network.add_promoter(brand, f"合伙人{i}", f"170{i:08d}", None, None, rank=Rank.PARTNER)
                    for i in range(10)]
        mentors = [network.add_promoter(brand, f"导师{i}", f"171{i:08d}", None, partners[i % 10], rank=Rank.MENTOR)
                   for i in range(40)]
        sellers = [network.add_promoter(brand, f"推客{i}", f"172{i:08d}", None, mentors[i % 40]) for i in range(150)]
    codes = [p.code for p in sellers + mentors]
    brand_id = brand.id  # the import lets go of the session's objects between orders

    data, order_count, bad = generate(rows, codes, prices)
    print(f"database: {database_url.split('://')[0]}   file: {rows:,} rows, {order_count:,} orders, "
          f"{len(data) / 1e6:.1f} MB, {bad} rows in orders with a bad row (skipped)")

    def import_once(label: str) -> dict:
        t0 = time.perf_counter()
        batch = imports.upload(brand_id, None, "orders", "youzan", "有赞订单.csv", io.BytesIO(data))
        t_upload = time.perf_counter() - t0
        if not batch.columns.get("promoter_code"):
            raise SystemExit("the preset did not map the columns")
        imports.save_mapping(batch, batch.columns, batch.options)
        job = imports.start(batch, None)
        t1, c1 = time.perf_counter(), time.process_time()
        jobs.run_job(job.id, imports.run)  # what worker.jobs.run_import does, in this process
        elapsed, cpu = time.perf_counter() - t1, time.process_time() - c1
        db.session.expire_all()
        job = db.session.get(Job, job.id)
        result = {k: int(v) for k, v in (job.result or {}).items()}
        print(f"{label}: upload {t_upload:.2f} s; import {elapsed:.1f} s = {rows / elapsed:,.0f} rows/s, "
              f"{order_count / elapsed:,.0f} orders/s; this process's CPU {cpu:.1f} s = {rows / cpu:,.0f} rows per "
              f"CPU-second (the database's own work not included: SQLite runs in-process, PostgreSQL does not); "
              f"{result}; peak RSS {peak_mb():.0f} MB; load average {os.getloadavg()[0]:.1f}")
        return result

    first = import_once("first import ")
    ok = True
    orders_in_db = db.session.scalar(select(func.count(Order.id)))
    if first["skipped"] != bad or first["created"] != rows - bad:
        print(f"FAIL: expected {rows - bad} rows imported and {bad} skipped")
        ok = False
    second = import_once("second import")
    if second["created"] or second["unchanged"] != rows - bad:
        print("FAIL: the second import created or changed something")
        ok = False
    if db.session.scalar(select(func.count(Order.id))) != orders_in_db:
        print("FAIL: orders doubled")
        ok = False
    t0 = time.perf_counter()
    report = verify(reprice_limit=200)
    print(f"ledger verify: {'ok' if report.ok else 'FAILED'} ({time.perf_counter() - t0:.1f} s); "
          f"orders in the database: {orders_in_db:,}")
    ok = ok and report.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
