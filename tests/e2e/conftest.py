"""End-to-end fixtures: a live server (gunicorn + a real RQ worker) on the session's throwaway
database and Redis, the demo data, and Debian's Chromium driven by Playwright.

Design around tests/conftest.py's ``_clean_state``: it wipes every table and the Redis key
space after each test that has ``app`` among its fixtures. The e2e tests therefore never use
``app``: ``live_server`` migrates (when nobody has yet) and loads the demo itself through a
private app object, keeps the data for the whole e2e package, and when the package is done
(after stopping gunicorn and the worker) leaves the database as it found it: no schema if
it migrated it, else empty tables, as ``_clean_state`` would; Redis an empty key space.
So the other tests run exactly as they would without the e2e tests before them. It is package-scoped, not session-scoped, so the real worker is gone
before any other test directory runs and can never pick up a job another test enqueues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e import live
from tests.e2e.helpers import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, PageWatch, login

E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E_DIR not in Path(str(item.path)).resolve().parents:
            continue
        item.add_marker(pytest.mark.e2e)


# --- the live server ---------------------------------------------------------------------


@dataclass
class Server:
    url: str
    database: str  # "sqlite" or "postgresql"
    demo: live.Demo
    process: live.LiveServer = field(repr=False)


@pytest.fixture(scope="package")
def live_server(service_urls, tmp_path_factory):
    """gunicorn (1 worker, 4 threads) + ``python -m distweb worker`` serving the demo data."""
    from tests.fakes.keys import tls_files
    from tests.fakes.wechatpay import HOSTS, WeChatPayStandIn

    instance = tmp_path_factory.mktemp("e2e-instance")
    control = live.control_app(service_urls, instance)
    created_schema = False
    # The WeChat Pay stand-in's TLS (tests/fakes/wechatpay.py) is trusted by the server
    # through requests' documented CA setting; a test starts the stand-in in this folder.
    wechat_tls = instance / WeChatPayStandIn.TLS_FOLDER
    ca_bundle, _, _ = tls_files(wechat_tls, HOSTS)
    try:
        demo, created_schema = live.migrate_and_load_demo(control)
        with live.live_server(
            service_urls["database"], service_urls["redis"], instance, "e2e-secret-key-not-for-production",
            extra_env={"REQUESTS_CA_BUNDLE": str(ca_bundle)},
        ) as process:
            dialect = "postgresql" if service_urls["database"].startswith("postgres") else "sqlite"
            yield Server(url=process.url, database=dialect, demo=demo, process=process)
    finally:
        live.wipe(control, drop_schema=created_schema)


@pytest.fixture
def wechat_pay(live_server):
    """The WeChat Pay stand-in, its TLS in the folder whose CA the live server trusts."""
    from tests.fakes.wechatpay import WeChatPayStandIn

    stand_in = WeChatPayStandIn(live_server.process.instance / WeChatPayStandIn.TLS_FOLDER).start()
    yield stand_in
    stand_in.stop()


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="package")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    driver = sync_playwright().start()
    yield driver
    driver.stop()


@pytest.fixture(scope="package")
def browser(playwright_driver):
    # A missing browser fails the run (scripts/install-system-deps --test installs it).
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is not installed: run scripts/install-system-deps --test")
    browser = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


def _context(browser, live_server, options: dict):
    context = browser.new_context(base_url=live_server.url, **options)
    context.set_default_timeout(10_000)
    watch = PageWatch(live_server.url)
    watch.attach(context)
    context.watch = watch
    return context


@pytest.fixture
def phone(browser, live_server):
    """A 390x844 phone (3x, touch, zh-CN) with a fresh profile."""
    context = _context(browser, live_server, PHONE)
    yield context
    context.close()


@pytest.fixture
def desktop(browser, live_server):
    """A 1366x900 desktop browser (zh-CN) with a fresh profile."""
    context = _context(browser, live_server, DESKTOP)
    yield context
    context.close()


def _signed_in_cookies(browser, live_server, options: dict, username: str) -> list[dict]:
    context = browser.new_context(base_url=live_server.url, **options)
    page = context.new_page()
    login(page, username, live_server.demo.password)
    cookies = context.cookies()
    context.close()
    return cookies


# The login route is rate-limited per address (10 a minute): the tests that are not about
# signing in share one sign-in of each demo user.
@pytest.fixture(scope="package")
def promoter_cookies(browser, live_server):
    return _signed_in_cookies(browser, live_server, PHONE, live_server.demo.promoter_login)


@pytest.fixture(scope="package")
def manager_cookies(browser, live_server):
    return _signed_in_cookies(browser, live_server, DESKTOP, live_server.demo.manager_login)


@pytest.fixture
def promoter_phone(phone, promoter_cookies):
    """The phone, already signed in as the demo promoter."""
    phone.add_cookies(promoter_cookies)
    return phone
