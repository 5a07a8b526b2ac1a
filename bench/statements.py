"""200 one-page statement PDFs rendered in one worker process, next to WeasyPrint alone.

Run from the checkout:  .venv/bin/python bench/statements.py [--statements 200] [--rounds 2]

Builds its own throwaway database (PostgreSQL when DATABASE_URL is set, otherwise a SQLite
file, as the test suite does) and an embedded Redis, migrates, and writes demo-like data
through the services: a brand, a few products, a depth-1 plan (L1 10 %, freeze 7 days) and
``--statements`` promoters, each selling 9 orders this month (orders.place_order, paid),
most of them completed (orders.complete) and one partly refunded (orders.refund); then a
settlement run (settlement.execute_run) makes what is past the freeze window available. So
every promoter's statement for the current month has ~10 movements and fits on one page.

Then, in this one process, it measures:

  A. the app path   for each promoter, in a fresh app context (as worker.context does for a
                    job): services.statements.build(promoter, period) and
                    worker.jobs.render_pdf("pdf/statement.html", data=...), i.e. the queries,
                    the Jinja template and WeasyPrint; the current RSS (/proc/self/statm) is
                    recorded after every 20 statements;
  B. WeasyPrint     the very HTML strings A handed to WeasyPrint (recorded during A), each
                    rendered again with HTML(string=..., base_url=...).write_pdf().

For information it also times C: the same pages with WeasyPrint alone but one shared
weasyprint.text.fonts.FontConfiguration for the batch, as render_pdf now keeps one per worker
(B, like WeasyPrint's default, makes a new one per PDF).

One statement of each path is rendered first, untimed, so neither pays for loading fonts
and templates. With --rounds N both are timed N times, alternately, and the best round of
each counts. Targets: A takes no more than 1.2x as long as B, and memory stays flat across
the batch. One PDF is checked with pdffonts / pdftotext / pdfinfo (poppler-utils), when
present: the CJK font must be embedded, the Chinese text extractable, one page.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.2
FLAT_MB = 20.0  # RSS may move this much between the first and the last sample and still count as flat
SAMPLE_EVERY = 20
ORDERS_PER_PROMOTER = 9
PLAN = {
    "depth": 1, "freeze_days": 7, "rounding": "half_up", "max_total_bp": 3000, "self_purchase": False,
    "consignment_funding": "supplier",
    "rules": [{"scope": {"sku": None, "category": None, "rank": None}, "level": 1, "kind": "percent",
               "base": "paid", "rate_bp": 1000}],
}
PRODUCTS = [
    ("TEA-001", "明前龙井 250g", "茶叶", 5900),
    ("TEA-002", "安溪铁观音 500g", "茶叶", 12800),
    ("FOOD-001", "五常大米 5kg", "粮油", 8900),
    ("FOOD-003", "宁夏枸杞 500g", "干货", 6800),
    ("CUP-002", "便携旅行茶具", "茶具", 9900),
    ("GIFT-001", "中秋茶礼盒", "礼盒", 36800),
]
PAGE = os.sysconf("SC_PAGE_SIZE")
HTMLs = list[tuple[str, str]]  # (html, base_url) as render_pdf handed them to WeasyPrint


def rss_mb() -> float:
    """The resident set size now (not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- set-up (not timed) --------------------------------------------------------------------


def build_data(brand, count: int, now) -> list[int]:
    """Promoters with this month's orders through the services; returns the promoter ids."""
    from distweb.extensions import db
    from distweb.models import Brand, Promoter, User
    from distweb.models.user import Role
    from distweb.services import accounts, catalogue, commission, orders, settlement
    from distweb.services.network import new_code, place_under
    from distweb.services.tx import transaction

    brand_id = brand.id
    for sku, name, category, price in PRODUCTS:
        catalogue.upsert_product(brand, sku, catalogue.ProductInput(name=name, price_fen=price, category=category))
    commission.save_plan(brand.id, PLAN, note="bench/statements.py")
    password_hash = accounts.hash_password("bench12345")  # one hash for all (argon2 is slow on purpose)
    ids = []
    with transaction():
        for i in range(count):
            user = User(brand_id=brand.id, role=Role.PROMOTER, name=f"推客{i:03d}号", phone=f"1370000{i:04d}",
                        password_hash=password_hash)
            db.session.add(user)
            db.session.flush()
            promoter = Promoter(brand_id=brand.id, user_id=user.id, code=new_code())
            place_under(promoter, None)
            db.session.add(promoter)
            db.session.flush()
            ids.append((promoter.id, promoter.code))
    rng = random.Random(20261128)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    span = max(60, int((now - month_start).total_seconds()) - 60)
    number = 0
    for _pid, code in ids:
        refund_one = rng.randrange(ORDERS_PER_PROMOTER)
        for k in range(ORDERS_PER_PROMOTER):
            number += 1
            placed = month_start + timedelta(seconds=rng.randint(0, span))
            picked = rng.sample(PRODUCTS, rng.choice([1, 1, 2]))
            order = orders.place_order(brand, orders.OrderInput(
                external_id=f"ST-{number:06d}", mode="promotion", promoter_code=code, source="demo",
                items=[orders.ItemInput(sku=p[0], quantity=rng.choice([1, 1, 2])) for p in picked],
                buyer=orders.BuyerInput("买家", None, "杭州市西湖区文三路 88 号"),
                placed_at=placed, paid_at=placed + timedelta(minutes=5),
            ))
            if k == refund_one or rng.random() < 0.8:
                orders.complete(brand.id, order.id, min(now, placed + timedelta(days=2)))
            if k == refund_one:
                item = order.items[0]
                orders.refund(brand.id, order.id, "R1", [orders.RefundItemInput(item.sku, item.paid_fen // 3)],
                              "质量问题", at=min(now, placed + timedelta(days=2, hours=1)))
        db.session.expunge_all()  # keep the session small; the brand is loaded again
        brand = db.session.get(Brand, brand_id)
    settlement.execute_run(settlement.start_run(brand.id).id)
    return [pid for pid, _code in ids]


# --- the two paths -------------------------------------------------------------------------


def app_path(app, promoter_ids: list[int], period: str, rss: list[tuple[int, float]] | None) -> tuple[float, int]:
    """build + render_pdf per promoter, each in its own app context; (seconds, bytes)."""
    from distweb.extensions import db
    from distweb.models import Promoter
    from distweb.services import statements
    from worker.jobs import render_pdf

    size = 0
    started = time.perf_counter()
    for n, pid in enumerate(promoter_ids, start=1):
        with app.app_context():
            try:
                promoter = db.session.get(Promoter, pid)
                data = statements.build(promoter, period)
                size += len(render_pdf("pdf/statement.html", data=data))
            finally:
                db.session.remove()
        if rss is not None and n % SAMPLE_EVERY == 0:
            rss.append((n, rss_mb()))
    return time.perf_counter() - started, size


def weasyprint_alone(html: HTMLs, rss: list[tuple[int, float]] | None, font_config=None) -> tuple[float, int]:
    """HTML(string=...).write_pdf() for each recorded page; with ``font_config`` one
    FontConfiguration serves the whole batch (path C) instead of a new one per document."""
    from weasyprint import HTML

    options = {} if font_config is None else {"font_config": font_config}
    size = 0
    started = time.perf_counter()
    for n, (string, base_url) in enumerate(html, start=1):
        size += len(HTML(string=string, base_url=base_url).write_pdf(**options))
        if rss is not None and n % SAMPLE_EVERY == 0:
            rss.append((n, rss_mb()))
    return time.perf_counter() - started, size


def check_pdf(pdf: bytes, directory: Path) -> list[str]:
    """pdffonts / pdftotext / pdfinfo on one statement; returns report lines (FAILED marks a miss)."""
    path = directory / "statement-sample.pdf"
    path.write_bytes(pdf)
    out = []
    if shutil.which("pdffonts"):
        fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, timeout=30).stdout
        names = [line.split()[0] for line in fonts.splitlines()[2:] if line.strip()]
        cjk = [n for n in names if any(k in n for k in ("WenQuanYi", "Noto", "CJK", "Hei", "Song", "Ming"))]
        embedded = all(line.split()[-5] == "yes" for line in fonts.splitlines()[2:] if line.strip())
        out.append(f"fonts: {', '.join(names) or 'none'}; CJK font {'embedded' if cjk and embedded else 'FAILED'}")
    else:
        out.append("fonts: pdffonts not installed (poppler-utils); not checked")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, timeout=30).stdout
        found = all(word in text for word in ("对账单", "期初余额", "期末余额"))
        out.append(f"text: Chinese headings {'extractable' if found else 'FAILED (not found in pdftotext output)'}")
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, timeout=30).stdout
        pages = next((line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")), "?")
        out.append(f"pages: {pages}{'' if pages == '1' else '  FAILED (expected one page)'}")
    out.append(f"sample kept at {path}")
    return out


# --- main ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statements", type=int, default=200, help="statements (promoters) to render (default 200)")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds of each path; the best counts (default 2)")
    args = parser.parse_args()
    begun = time.perf_counter()

    tmp = Path(tempfile.mkdtemp(prefix="distweb-bench-statements-"))
    os.environ["DISTWEB_INSTANCE"] = str(tmp / "instance")
    os.environ.setdefault("SECRET_KEY", "bench")

    import weasyprint
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from distweb import create_app
    from distweb.config import normalise_database_url, redis_url_for_limits
    from distweb.extensions import db
    from distweb.models import LedgerEntry, LedgerTransaction, Promoter
    from distweb.models.base import utcnow
    from distweb.services import accounts, statements
    from tests.support.services import throwaway_database, throwaway_redis

    env_redis = os.environ.pop("REDIS_URL", None)  # the embedded one keeps the machine's Redis clean
    ok = True
    try:
        with throwaway_database(tmp) as database_url, throwaway_redis(tmp) as redis_url:
            app = create_app({
                "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
                "REDIS_URL": redis_url,
                "RATELIMIT_STORAGE_URI": redis_url_for_limits(redis_url),
                "RATELIMIT_ENABLED": False,
            })
            t0 = time.perf_counter()
            with app.app_context():
                upgrade(directory=str(ROOT / "distweb" / "migrations"))
                brand, _manager, _ = accounts.init_brand("山茶集", "bench@example.com", "bench12345")
                from zoneinfo import ZoneInfo

                now = utcnow()
                period = now.astimezone(ZoneInfo(brand.timezone)).strftime("%Y-%m")
                promoter_ids = build_data(brand, args.statements, now)
                entries = db.session.scalar(select(func.count(LedgerEntry.id)))
                txs = db.session.scalar(select(func.count(LedgerTransaction.id)))
                db.session.remove()
            with app.app_context():
                movements = [len(statements.build(db.session.get(Promoter, pid), period).movements)
                             for pid in promoter_ids[:: max(1, len(promoter_ids) // 20)]]
                db.session.remove()
            print(f"set-up: {database_url.split(':', 1)[0]} database, {len(promoter_ids)} promoters x "
                  f"{ORDERS_PER_PROMOTER} orders through the services, {txs:,} ledger transactions / {entries:,} "
                  f"entries, period {period}, movements per statement (sampled) {min(movements)}-{max(movements)}; "
                  f"{time.perf_counter() - t0:.1f} s")

            # warm-up, untimed: fonts, templates, compiled queries; and the HTML that B renders
            # (exactly what render_pdf hands WeasyPrint: worker.jobs.pdf_html)
            from worker.jobs import pdf_html, render_pdf

            html: HTMLs = []
            for pid in promoter_ids:
                with app.app_context():
                    data = statements.build(db.session.get(Promoter, pid), period)
                    if not html:
                        first_pdf = render_pdf("pdf/statement.html", data=data)
                    html.append(pdf_html("pdf/statement.html", data=data))
                    db.session.remove()
            weasyprint.HTML(string=html[0][0], base_url=html[0][1]).write_pdf()  # warm-up
            rss_start = rss_mb()
            a_times, b_times, series, b_series = [], [], [], []
            for _round in range(args.rounds):
                rss: list[tuple[int, float]] = [(0, rss_mb())]
                seconds, a_bytes = app_path(app, promoter_ids, period, rss)
                a_times.append(seconds)
                series.append(rss)
                rss = [(0, rss_mb())]
                seconds, b_bytes = weasyprint_alone(html, rss)
                b_times.append(seconds)
                b_series.append(rss)
            # C (for information, last): WeasyPrint alone with one FontConfiguration for the batch
            from weasyprint.text.fonts import FontConfiguration

            font_config = FontConfiguration()
            weasyprint_alone(html[:1], None, font_config)  # warm-up
            c_series = [(0, rss_mb())]
            c_seconds, _c_bytes = weasyprint_alone(html, c_series, font_config)
            rss_end = rss_mb()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()

        n = len(promoter_ids)
        best_a, best_b = min(a_times), min(b_times)
        ratio = best_a / best_b
        print()
        print(f"{'':<30}{'A: build + render_pdf':>24}{'B: WeasyPrint alone':>24}")
        for i, (a, b) in enumerate(zip(a_times, b_times, strict=True), start=1):
            print(f"{f'round {i}: seconds':<30}{a:>24.2f}{b:>24.2f}")
            print(f"{f'round {i}: statements/s':<30}{n / a:>24.1f}{n / b:>24.1f}")
        print(f"{'best: ms per statement':<30}{best_a / n * 1000:>24.1f}{best_b / n * 1000:>24.1f}")
        print(f"{'PDF bytes (last round)':<30}{a_bytes:>24,}{b_bytes:>24,}")
        print()
        print(f"ratio A/B: {ratio:.2f}x (target <= {TARGET_RATIO:g}x)  {'ok' if ratio <= TARGET_RATIO else 'MISSED'}")
        ok &= ratio <= TARGET_RATIO
        print()
        print(f"RSS (MB) after every {SAMPLE_EVERY} statements of A (current RSS from /proc/self/statm):")
        for i, rss in enumerate(series, start=1):
            print(f"  round {i}: " + "  ".join(f"{k}:{v:.0f}" for k, v in rss))
        growth = series[0][-1][1] - series[0][1][1] if len(series[0]) > 2 else 0.0
        flat = all(abs(rss[-1][1] - rss[1][1]) <= FLAT_MB for rss in series if len(rss) > 2)
        print(f"A: RSS after warm-up {rss_start:.0f} MB, at the end {rss_end:.0f} MB; round 1 from statement "
              f"{SAMPLE_EVERY} to {n}: {growth:+.1f} MB  {'flat' if flat else 'GROWING'} (allowance +-{FLAT_MB:g} MB)")
        print(f"RSS (MB) after every {SAMPLE_EVERY} statements of B (WeasyPrint alone, as render_pdf calls it):")
        for i, rss in enumerate(b_series, start=1):
            print(f"  round {i}: " + "  ".join(f"{k}:{v:.0f}" for k, v in rss))
        print(f"C (information): WeasyPrint alone with one shared FontConfiguration: {c_seconds:.2f} s, "
              f"{n / c_seconds:.1f} statements/s, {c_seconds / best_b:.2f}x B's time; RSS (MB):")
        print("  " + "  ".join(f"{k}:{v:.0f}" for k, v in c_series)
              + f"  ({c_series[-1][1] - c_series[1][1]:+.1f} MB from statement {SAMPLE_EVERY} to {n})")
        print(f"peak RSS (ru_maxrss): {peak_rss_mb():.0f} MB")
        ok &= flat
        print()
        for line in check_pdf(first_pdf, tmp):
            print(line)
            ok &= "FAILED" not in line
        print(f"total run time {time.perf_counter() - begun:.0f} s")
    finally:
        if env_redis:
            os.environ["REDIS_URL"] = env_redis
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
