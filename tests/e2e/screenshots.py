"""Screenshots for the docs, from the demo data on a live server:

    .venv/bin/python -m tests.e2e.screenshots [--out docs/screenshots]

writes promoter-home.png, promoter-materials.png and poster.png (390x844 phone, zh-CN), and
manager-overview.png, manager-materials.png and material-edit.png (1366x900). Uses its
own throwaway database and Redis (SQLite + embedded Redis, or DATABASE_URL / REDIS_URL).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from tests.e2e import live
from tests.e2e.helpers import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, login


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(live.PROJECT_ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    tmp = Path(tempfile.mkdtemp(prefix="distweb-shots-"))
    instance = tmp / "instance"
    instance.mkdir()
    os.environ["DISTWEB_INSTANCE"] = str(instance)
    os.environ.setdefault("SECRET_KEY", "screenshots-secret-key")
    from playwright.sync_api import sync_playwright

    from tests.support.services import throwaway_database, throwaway_redis

    try:
        with throwaway_database(tmp) as database_url, throwaway_redis(tmp) as redis_url:
            demo, _ = live.migrate_and_load_demo(live.control_app({"database": database_url, "redis": redis_url}, instance))
            with live.live_server(database_url, redis_url, instance, "screenshots-secret-key") as server, \
                    sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)

                phone = browser.new_context(base_url=server.url, **PHONE)
                page = phone.new_page()
                login(page, demo.promoter_login, demo.password)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / "promoter-home.png"))
                page.goto("/promoter/materials")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / "promoter-materials.png"))
                poster = page.locator("[data-material-poster]").first.get_attribute("href").split("?")[0]
                (out / "poster.png").write_bytes(page.request.get(poster).body())
                phone.close()

                desktop = browser.new_context(base_url=server.url, **DESKTOP)
                page = desktop.new_page()
                login(page, demo.manager_login, demo.password)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / "manager-overview.png"))
                page.goto("/manage/materials")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / "manager-materials.png"))
                page.goto(page.locator("table a").first.get_attribute("href"))
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / "material-edit.png"), full_page=True)
                desktop.close()
                browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name in ("promoter-home.png", "promoter-materials.png", "poster.png", "manager-overview.png",
                 "manager-materials.png", "material-edit.png"):
        print(out / name)


if __name__ == "__main__":
    main()
