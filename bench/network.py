"""A 100,000-promoter network on PostgreSQL: how fast are the team page and attribution?

Run from the checkout:  .venv/bin/python bench/network.py [--promoters 100000] [--samples 300]

Builds its own throwaway PostgreSQL database (DATABASE_URL, default the machine's
postgresql://postgres@127.0.0.1:5432/test) and an embedded Redis, migrates, and writes a
three-level network with a realistic fan-out (1 % partners, each with ~9 mentors, each with
~10 promoters) plus three orders per promoter this month. Then it measures, in-process:

  1. the team page  GET /promoter/team (level 1 and level 2) of signed-in uplines, through
     the whole Flask stack (session, queries, template);
  2. attribution    resolving a buyer's promoter and snapshotting its upline chain, as an
     order does when it is placed.

Targets: p95 under 50 ms for each.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 50.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def build_network(conn, brand_id: int, total: int, password_hash: str) -> dict[str, list[int]]:
    """Bulk-load users, promoters and orders with COPY; returns promoter ids per tier."""
    partners = max(1, total // 100)
    mentors = partners * 9
    promoters = total - partners - mentors
    rng = random.Random(7)
    with conn.cursor() as cur:
        cur.execute("SELECT setval('users_id_seq', 1000, false)")
        # users
        with cur.copy("COPY users (id, brand_id, role, name, phone, password_hash, is_enabled, created_at, "
                      "password_changed_at) FROM STDIN") as copy:
            for i in range(total):
                copy.write_row((1000 + i, brand_id, "promoter", f"推客{i}", f"17{i:09d}", password_hash, True,
                                "2026-01-01T00:00:00+00", "2026-01-01T00:00:00+00"))
        tiers: dict[str, list[int]] = {"partner": [], "mentor": [], "promoter": []}
        rows = []
        pid = 1
        for _ in range(partners):
            rows.append((pid, None, None, None, "partner"))
            tiers["partner"].append(pid)
            pid += 1
        for _ in range(mentors):
            up = rng.choice(tiers["partner"])
            rows.append((pid, up, None, None, "mentor"))
            tiers["mentor"].append(pid)
            pid += 1
        uplines = {r[0]: r for r in rows}
        for _ in range(promoters):
            up = rng.choice(tiers["mentor"])
            rows.append((pid, up, uplines[up][1], None, "promoter"))
            tiers["promoter"].append(pid)
            pid += 1
        with cur.copy("COPY promoters (id, brand_id, user_id, code, upline_id, upline2_id, upline3_id, rank, "
                      "status, joined_at) FROM STDIN") as copy:
            for i, (p, up, up2, up3, rank) in enumerate(rows):
                copy.write_row((p, brand_id, 1000 + i, f"B{p:07d}", up, up2, up3, rank, "active",
                                f"2026-{1 + p % 11:02d}-{1 + p % 27:02d}T08:00:00+00"))
        cur.execute("SELECT setval('promoters_id_seq', %s)", (pid,))
        with cur.copy("COPY orders (brand_id, external_id, mode, status, promoter_id, chain_l1_id, total_paid_fen, "
                      "placed_at) FROM STDIN") as copy:
            n = 0
            for p, *_rest in rows:
                for _ in range(3):
                    n += 1
                    copy.write_row((brand_id, f"B-{n}", "promotion", "paid", p, p, rng.randint(1000, 50000),
                                    time.strftime("%Y-%m-") + "02T08:00:00+00"))
        cur.execute("ANALYZE")
    conn.commit()
    return tiers


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--promoters", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()

    from bench.support import bench_app, bench_instance

    tmp = bench_instance("network", postgres=True)

    import psycopg

    from distweb.extensions import db
    from distweb.models import Promoter, User
    from distweb.services import accounts, attribution, commission, network
    from tests.support.services import throwaway_database, throwaway_redis

    env_redis = os.environ.pop("REDIS_URL", None)  # the embedded one keeps the machine's Redis clean
    with throwaway_database(tmp) as database_url, throwaway_redis(tmp) as redis_url:
        if not database_url.startswith("postgresql"):
            print("bench/network.py needs PostgreSQL (set DATABASE_URL)")
            return 2
        app = bench_app(database_url, redis_url)
        with app.app_context():
            brand, _manager, _ = accounts.init_brand("基准品牌", "bench@example.com", "bench12345")
            commission.set_depth(brand.id, 3)
            db.session.commit()
            password_hash = accounts.hash_password("bench12345")
            brand_id = brand.id
        started = time.perf_counter()
        with psycopg.connect(database_url) as conn:
            tiers = build_network(conn, brand_id, args.promoters, password_hash)
        build_s = time.perf_counter() - started
        print(f"network: {args.promoters:,} promoters ({len(tiers['partner']):,} partners, "
              f"{len(tiers['mentor']):,} mentors, {len(tiers['promoter']):,} promoters), "
              f"{args.promoters * 3:,} orders; built in {build_s:.1f} s")

        rng = random.Random(11)
        team_ms: dict[str, list[float]] = {"level 1 (mentor's ~10)": [], "level 2 (partner's ~90)": []}
        samples = max(10, args.samples // 10)  # each sample signs in once (argon2), then loads pages
        csrf = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
        for who, level, label in ((tiers["mentor"], 1, "level 1 (mentor's ~10)"),
                                  (tiers["partner"], 2, "level 2 (partner's ~90)")):
            for promoter_id in rng.sample(who, min(samples, len(who))):
                client = app.test_client()
                with app.app_context():
                    phone = db.session.get(User, db.session.get(Promoter, promoter_id).user_id).phone
                token = csrf.search(client.get("/auth/login").get_data(as_text=True)).group(1)
                assert client.post("/auth/login", data={"login": phone, "password": "bench12345",
                                                        "csrf_token": token}).status_code == 302
                client.get(f"/promoter/team?level={level}")  # warm this session
                for _ in range(10):
                    t0 = time.perf_counter()
                    response = client.get(f"/promoter/team?level={level}")
                    team_ms[label].append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200

        attribution_ms: list[float] = []
        with app.app_context():
            settings = network.get_settings(brand_id)
            for promoter_id in rng.sample(tiers["promoter"], min(args.samples, len(tiers["promoter"]))):
                buyer = attribution.buyer_key_for_phone(f"139{promoter_id:08d}")
                t0 = time.perf_counter()
                chosen, source = attribution.resolve_promoter(settings, buyer, [(promoter_id, int(time.time()))])
                chain = attribution.snapshot_chain(settings, chosen, source=source)
                db.session.commit()
                attribution_ms.append((time.perf_counter() - t0) * 1000)
                assert chain.l1_id == promoter_id and chain.l3_id is not None

        print()
        print(f"{'measurement':<34}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'target':>10}")
        ok = True
        for label, values in [*((f"team page, {k}", v) for k, v in team_ms.items()),
                              ("attribution (resolve + chain)", attribution_ms)]:
            p95 = percentile(values, 95)
            ok &= p95 < TARGET_MS
            print(f"{label:<34}{len(values):>6}{statistics.median(values):>10.1f}{p95:>10.1f}{'< 50':>10}"
                  f"  {'ok' if p95 < TARGET_MS else 'MISSED'}")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    if env_redis:
        os.environ["REDIS_URL"] = env_redis
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
