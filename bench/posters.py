"""How fast are share posters: drawn cold, and served from the cache?

Run from the checkout:  .venv/bin/python bench/posters.py [--promoters 40] [--materials 5] [--hits 300]

Sets up its own throwaway database (SQLite, or a fresh PostgreSQL database when DATABASE_URL
is set) and an embedded Redis, migrates, loads the demo brand, and adds a 1080×1080 JPEG
picture to each material (as a manager's upload would). Then, in-process through the whole
Flask stack (session, access checks, the poster service, send_file):

  1. cold   every promoter × material poster requested once with an empty cache: each one is
            drawn (picture scaled and cropped, text laid out in the CJK font, QR code) and
            written to disk: posters/s and p50/p95 per poster;
  2. hit    the same posters requested again: each is one fingerprint and one stat() away,
            then streamed: p50/p95 latency of the whole request, and of a 304 revalidation
            (If-None-Match), which is what a phone that has it does.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--promoters", type=int, default=40)
    parser.add_argument("--materials", type=int, default=5)
    parser.add_argument("--hits", type=int, default=300)
    args = parser.parse_args()

    from bench.support import bench_app, bench_instance

    tmp = bench_instance("posters")
    os.environ.pop("REDIS_URL", None)  # the embedded one keeps the machine's Redis clean

    from sqlalchemy import select

    from distweb.extensions import db
    from distweb.models import Material, Promoter, User
    from distweb.models.network import PromoterStatus
    from distweb.services import demo, materials
    from tests.support.services import throwaway_database, throwaway_redis

    with throwaway_database(tmp) as database_url, throwaway_redis(tmp) as redis_url:
        app = bench_app(database_url, redis_url)
        with app.app_context():
            demo.load_demo()  # five materials, each with a 1080×1080 JPEG
            material_ids = list(db.session.scalars(select(Material.id).order_by(Material.id)))[: args.materials]
            phones = list(db.session.scalars(
                select(User.phone).join(Promoter, Promoter.user_id == User.id)
                .where(Promoter.status == PromoterStatus.ACTIVE).order_by(Promoter.id).limit(args.promoters)))
            brand_id = db.session.get(Material, material_ids[0]).brand_id
            for material_id in material_ids:
                assert materials.get_for_brand(brand_id, material_id).images
        print(f"database: {'PostgreSQL' if database_url.startswith('postgresql') else 'SQLite'}; "
              f"{len(phones)} promoters × {len(material_ids)} materials = {len(phones) * len(material_ids)} posters")

        csrf = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
        clients = []
        for phone in phones:
            client = app.test_client()
            token = csrf.search(client.get("/auth/login").get_data(as_text=True)).group(1)
            answer = client.post("/auth/login", data={"login": phone, "password": demo.DEMO_PASSWORD, "csrf_token": token})
            assert answer.status_code == 302, answer.status_code
            client.get("/promoter/")  # warm this session
            clients.append(client)

        def get(client, url, **kw):
            response = client.get(url, **kw)
            body = response.get_data()
            response.close()
            return response, body

        # 1. cold: every poster drawn once.
        cold_ms, etags = [], {}
        started = time.perf_counter()
        for i, client in enumerate(clients):
            for material_id in material_ids:
                t0 = time.perf_counter()
                response, body = get(client, f"/promoter/materials/{material_id}/poster.png")
                cold_ms.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200 and body[:8] == b"\x89PNG\r\n\x1a\n"
                etags[(i, material_id)] = response.headers["ETag"]
        cold_s = time.perf_counter() - started
        posters = len(cold_ms)

        # 2. hits: the cached file streamed, and a 304 revalidation.
        hit_ms, revalidate_ms = [], []
        pairs = [(i, m) for i in range(len(clients)) for m in material_ids]
        for n in range(args.hits):
            i, material_id = pairs[n % len(pairs)]
            t0 = time.perf_counter()
            response, _body = get(clients[i], f"/promoter/materials/{material_id}/poster.png")
            hit_ms.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200 and response.headers["ETag"] == etags[(i, material_id)]
            t0 = time.perf_counter()
            response, _body = get(clients[i], f"/promoter/materials/{material_id}/poster.png",
                                  headers={"If-None-Match": etags[(i, material_id)]})
            revalidate_ms.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 304

        size_kb = statistics.mean(p.stat().st_size for p in (Path(app.config["DISTWEB_UPLOADS"]) / "posters").rglob("*.png")) / 1024
        print(f"cold:       {posters / cold_s:6.1f} posters/s   p50 {percentile(cold_ms, 50):6.1f} ms   "
              f"p95 {percentile(cold_ms, 95):6.1f} ms   (750×1334 PNG, mean {size_kb:.0f} KB)")
        print(f"cached hit:                     p50 {percentile(hit_ms, 50):6.1f} ms   p95 {percentile(hit_ms, 95):6.1f} ms")
        print(f"304 revalidation:               p50 {percentile(revalidate_ms, 50):6.1f} ms   "
              f"p95 {percentile(revalidate_ms, 95):6.1f} ms")
        print(f"ratio cold / cached hit (p50): {percentile(cold_ms, 50) / percentile(hit_ms, 50):.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
