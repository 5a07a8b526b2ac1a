"""Browser-side helpers for the e2e tests and the screenshot script: Chromium settings, the
phone and desktop profiles, signing in, and a watcher for what pages complain about."""

from __future__ import annotations

import re
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=zh-CN",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}
DESKTOP = {
    "viewport": {"width": 1366, "height": 900},
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}


class PageWatch:
    """Everything a page complains about: CSP violations, uncaught errors, console errors,
    and same-origin responses that failed (4xx/5xx)."""

    CSP_HINT = re.compile(r"Content Security Policy|securitypolicyviolation|CSP violation", re.I)

    def __init__(self, origin: str):
        self.origin = origin
        self.csp: list[str] = []
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.failed_responses: list[str] = []

    def attach(self, context) -> None:
        # Runs before any page script; an init script is not subject to the page's CSP.
        context.add_init_script(
            "document.addEventListener('securitypolicyviolation', function (e) {"
            "  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI"
            "    + ' at ' + e.sourceFile + ':' + e.lineNumber);"
            "});"
        )
        context.on("page", self._watch_page)

    def _watch_page(self, page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self.page_errors.append(f"{page.url}: {err}"))
        page.on("response", self._on_response)

    def _on_console(self, msg) -> None:
        text = msg.text
        if self.CSP_HINT.search(text):
            self.csp.append(f"{msg.location.get('url', '')}: {text}")
        elif msg.type == "error":
            self.console_errors.append(f"{msg.location.get('url', '')}: {text}")

    def _on_response(self, response) -> None:
        if response.url.startswith(self.origin) and response.status >= 400:
            self.failed_responses.append(f"{response.status} {response.request.method} {response.url}")

    def assert_clean(self, allow_console: tuple[str, ...] = ()) -> None:
        assert self.csp == [], "CSP violations:\n" + "\n".join(self.csp)
        assert self.page_errors == [], "uncaught page errors:\n" + "\n".join(self.page_errors)
        assert self.failed_responses == [], "failed requests:\n" + "\n".join(self.failed_responses)
        console = [m for m in self.console_errors if not any(a in m for a in allow_console)]
        assert console == [], "console errors:\n" + "\n".join(console)


def login(page, username: str, password: str) -> None:
    """Sign in through the login form, the way a person does."""
    page.goto("/auth/login")
    page.get_by_label("手机号或邮箱", exact=True).fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    with page.expect_response(lambda r: r.request.method == "POST" and "/auth/login" in r.url) as answer:
        page.get_by_role("button", name="登录").click()
    # A refusal by the login limit (10 a minute per address) says so, instead of a timeout.
    assert answer.value.status != 429, "the login limit refused this sign-in: share a signed-in fixture"
    page.wait_for_url(lambda url: "/auth/login" not in url)


def save_wechat(manager, settings: dict, secrets: dict, enabled: bool) -> None:
    """The manager enters (or, ``secrets`` empty, keeps) the WeChat Pay settings and saves."""
    from playwright.sync_api import expect

    manager.goto("/manage/settings/payments")
    form = manager.locator("form#pay-wechat")
    form.get_by_label("商户号 mchid").fill(settings["mchid"])
    form.get_by_label("公众号 AppID").fill(settings["appid"])
    form.get_by_label("商户 API 证书序列号").fill(settings["cert_serial_no"])
    form.get_by_label("出口代理（选填）").fill(settings["proxy"])
    if secrets:
        form.get_by_label("商户 API 证书私钥（apiclient_key.pem）").fill(secrets["private_key"])
        form.get_by_label("APIv3 密钥").fill(secrets["apiv3_key"])
        form.get_by_label("公众号 AppSecret（微信内支付需要）").fill(secrets["app_secret"])
    form.get_by_label("启用").set_checked(enabled)
    form.get_by_role("button", name="保存").click()
    expect(manager.locator("#toasts")).to_contain_text("支付设置已保存。")
