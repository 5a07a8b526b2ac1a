"""A promoter requests a withdrawal on a phone, the manager approves it and marks it paid on
a desktop, and the promoter downloads the month's statement (PDF) with the payout in it.

Two people, two browsers: the demo promoter (phone, already signed in) and the brand manager
(desktop, signs in once). The demo settles commission when it loads, so the promoter's
wallet has an available balance (可提现) to withdraw from.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import PHONE

pytestmark = pytest.mark.e2e

PAYOUT_ACCOUNT = {"method": "alipay", "account_no": "13800000001@alipay.test"}
REFERENCE = "TRF20260001234567"
BELOW_AVAILABLE_FEN = 123  # ask for ¥1.23 less than what is available
AMOUNT_RE = re.compile(r"^(-?)¥(\d{1,3}(?:,\d{3})*)\.(\d{2})$")


def fen(text: str) -> int:
    """'¥1,234.56' → 123456, with integer arithmetic only (never a float)."""
    match = AMOUNT_RE.fullmatch(text.strip())
    assert match, f"not a ¥ amount: {text!r}"
    sign, yuan, cents = match.groups()
    value = int(yuan.replace(",", "")) * 100 + int(cents)
    return -value if sign else value


def yuan_input(amount_fen: int) -> str:
    """123456 → '1234.56', what a person types into the amount field."""
    return f"{amount_fen // 100}.{amount_fen % 100:02d}"


def yuan_shown(amount_fen: int) -> str:
    """123456 → '¥1,234.56', as the pages show amounts in zh-CN."""
    return f"¥{amount_fen // 100:,}.{amount_fen % 100:02d}"


def stat(page, label: str):
    """The value of one box in the wallet's 冻结中 / 提现中 / 已提现 row."""
    return page.locator(".stat-grid .stat", has=page.locator(".stat-label", has_text=label)).locator(".stat-value")


def test_promoter_withdraws_manager_pays_promoter_downloads_statement(
    promoter_phone, desktop, live_server, tmp_path
):
    demo = live_server.demo
    url = re.escape(live_server.url)
    zone = ZoneInfo(PHONE["timezone_id"])

    # 1. The promoter reads its name from the greeting, opens 钱包 and notes the balances.
    promoter = promoter_phone.new_page()
    promoter.goto("/promoter/")
    greeting = promoter.locator(".hello h2")
    expect(greeting).to_have_text(re.compile(r"^你好，\S+$"))
    name = greeting.inner_text().strip().removeprefix("你好，")
    assert name == demo.promoter_name, (name, demo.promoter_name)
    assert re.search(r"[\u4e00-\u9fff]", name), f"the demo promoter's name is not Chinese: {name!r}"

    promoter.get_by_role("navigation", name="主导航").get_by_role("link", name="钱包", exact=True).tap()
    expect(promoter).to_have_url(f"{live_server.url}/promoter/wallet")
    hero = promoter.locator(".wallet-hero")
    expect(hero.locator(".wallet-available")).to_have_text(AMOUNT_RE)
    available_before = fen(hero.locator(".wallet-available").inner_text())
    withdrawn_before = fen(stat(promoter, "已提现").inner_text())
    pending_before = fen(stat(promoter, "提现中").inner_text())
    assert available_before >= 1000 + BELOW_AVAILABLE_FEN, f"the demo wallet has only {yuan_shown(available_before)}"

    # 提现: the first time there is no payout account, so it is set up (password asked again).
    hero.get_by_role("link", name="提现", exact=True).click()
    expect(promoter).to_have_url(f"{live_server.url}/promoter/withdraw")
    expect(promoter.locator(".wallet-available")).to_have_text(yuan_shown(available_before))
    setup = promoter.get_by_role("link", name="设置收款账户")
    if setup.count():
        setup.click()
        expect(promoter).to_have_url(f"{live_server.url}/promoter/payout-account")
        promoter.select_option("#method", PAYOUT_ACCOUNT["method"])
        promoter.fill("#account_name", name)
        promoter.fill("#account_no", PAYOUT_ACCOUNT["account_no"])
        promoter.fill("#password", demo.password)
        promoter.get_by_role("button", name="保存").click()
        expect(promoter).to_have_url(f"{live_server.url}/promoter/withdraw")
        expect(promoter.locator("#toasts")).to_contain_text("收款账户已保存。")
        expect(promoter.locator("main")).to_contain_text(f"支付宝 · {name} · ****{PAYOUT_ACCOUNT['account_no'][-4:]}")

    # A little less than everything: the amount is held at once.
    amount = available_before - BELOW_AVAILABLE_FEN
    promoter.fill("#amount", yuan_input(amount))
    promoter.get_by_role("button", name="申请提现").click()
    expect(promoter.locator("#toasts")).to_contain_text("提现申请已提交")
    expect(promoter).to_have_url(f"{live_server.url}/promoter/withdraw")
    record = promoter.locator(".card", has=promoter.get_by_role("heading", name="提现记录")).locator("li.order").first
    expect(record.locator(".order-main strong")).to_have_text(yuan_shown(amount))
    expect(record.locator(".badge")).to_have_text("待审核")
    available_after = fen(promoter.locator(".wallet-available").inner_text())
    assert available_after == available_before - amount == BELOW_AVAILABLE_FEN, (available_before, amount, available_after)

    promoter.get_by_role("navigation", name="主导航").get_by_role("link", name="钱包", exact=True).tap()
    expect(promoter).to_have_url(f"{live_server.url}/promoter/wallet")
    expect(hero.locator(".wallet-available")).to_have_text(yuan_shown(BELOW_AVAILABLE_FEN))
    assert fen(stat(promoter, "提现中").inner_text()) == pending_before + amount

    # 2. The manager signs in on a desktop and finds the request under 提现审核 (待审核).
    manager = desktop.new_page()
    manager.goto("/auth/login")
    manager.get_by_label("手机号或邮箱", exact=True).fill(demo.manager_login)
    manager.get_by_label("密码", exact=True).fill(demo.password)
    manager.get_by_role("button", name="登录").click()
    expect(manager).to_have_url(f"{live_server.url}/manage/")
    manager.get_by_role("navigation", name="管理导航").get_by_role("link", name="提现审核").click()
    expect(manager).to_have_url(re.compile(url + r"/manage/withdrawals(\?status=requested)?$"))
    filters = manager.locator("nav.filters")
    expect(filters.get_by_role("link", name="待审核", exact=True)).to_have_class(re.compile(r"\bbtn-primary\b"))
    rows = manager.locator("table tbody tr")
    mine = rows.filter(has_text=name).filter(has_text=yuan_shown(amount))
    expect(mine).to_have_count(1)
    withdrawal_id = mine.locator("td").first.inner_text().strip()
    assert withdrawal_id.isdigit(), withdrawal_id

    def row():
        return manager.locator("table tbody tr", has=manager.locator("td:first-child", has_text=re.compile(
            rf"^\s*{withdrawal_id}\s*$")))

    cells = row().locator("td")
    expect(cells.nth(1)).to_have_text(name)
    expect(cells.nth(3)).to_contain_text(PAYOUT_ACCOUNT["account_no"])
    expect(cells.nth(4)).to_have_text(yuan_shown(amount))
    net = fen(cells.nth(6).inner_text())
    fee = fen(cells.nth(5).inner_text())
    assert fee + net == amount, (fee, net, amount)

    row().get_by_role("button", name="通过").click()
    expect(manager.locator("#toasts")).to_contain_text("已保存。")
    expect(row()).to_have_count(0)  # no longer waiting for review

    # 待打款: finance transfers the money and records the transfer reference.
    filters.get_by_role("link", name="待打款", exact=True).click()
    expect(manager).to_have_url(re.compile(url + r"/manage/withdrawals\?status=approved$"))
    expect(row()).to_have_count(1)
    row().get_by_label("转账流水号").fill(REFERENCE)
    row().get_by_role("button", name="已打款").click()
    expect(manager.locator("#toasts")).to_contain_text("已保存。")
    expect(manager).to_have_url(re.compile(url + r"/manage/withdrawals\?status=approved$"))
    expect(row()).to_have_count(0)

    # 已到账: the paid withdrawal with its reference.
    filters.get_by_role("link", name="已到账", exact=True).click()
    expect(manager).to_have_url(re.compile(url + r"/manage/withdrawals\?status=paid$"))
    expect(row()).to_have_count(1)
    expect(row().locator("code")).to_have_text(REFERENCE)
    expect(row().get_by_role("button")).to_have_count(0)  # nothing left to do on it

    # 3. The promoter sees 已到账 on the record and the net amount under 已提现.
    promoter.goto("/promoter/withdraw")
    expect(record.locator(".order-main strong")).to_have_text(yuan_shown(amount))
    expect(record.locator(".badge")).to_have_text("已到账")
    if fee:
        expect(record.locator(".order-sub")).to_contain_text(f"到账 {yuan_shown(net)}")
    promoter.get_by_role("navigation", name="主导航").get_by_role("link", name="钱包", exact=True).tap()
    expect(promoter).to_have_url(f"{live_server.url}/promoter/wallet")
    expect(stat(promoter, "已提现")).to_have_text(yuan_shown(withdrawn_before + net))
    assert fen(stat(promoter, "已提现").inner_text()) == withdrawn_before + net
    assert fen(stat(promoter, "提现中").inner_text()) == pending_before
    assert fen(hero.locator(".wallet-available").inner_text()) == BELOW_AVAILABLE_FEN
    # A statement's balance is the whole account: frozen + available + held for withdrawal.
    balance = sum(fen(stat(promoter, label).inner_text()) for label in ("冻结中", "提现中")) + BELOW_AVAILABLE_FEN

    # 4. 对账单 for this month: rendered by the worker, the list polls until it can be downloaded.
    hero.get_by_role("link", name="对账单").click()
    expect(promoter).to_have_url(f"{live_server.url}/promoter/statements")
    this_month = datetime.now(zone).strftime("%Y-%m")
    period = promoter.locator("input[name=period]")
    expect(period).to_have_attribute("type", "month")
    expect(period).to_have_value(this_month)
    period.fill(this_month)
    promoter.get_by_role("button", name="生成对账单").click()
    expect(promoter).to_have_url(f"{live_server.url}/promoter/statements")
    entry = promoter.locator("#statement-list li.order", has_text=this_month)
    expect(entry).to_have_count(1)  # on the page loaded after the request (the list was empty)
    promoter.evaluate("() => { window.__stillTheSamePage = true; }")
    download_link = entry.get_by_role("link", name="下载 PDF")
    expect(download_link).to_be_visible(timeout=30_000)
    assert promoter.evaluate("() => window.__stillTheSamePage === true"), "the statement list was reloaded"
    expect(entry.locator(".order-sub")).to_contain_text("期末余额")
    expect(entry.locator(".order-sub strong")).to_have_text(yuan_shown(balance))

    with promoter.expect_download() as download_info:
        download_link.click()
    download = download_info.value
    assert download.suggested_filename == f"statement-{this_month}.pdf"
    pdf = tmp_path / download.suggested_filename
    download.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF"), pdf.read_bytes()[:64]

    pdftotext = shutil.which("pdftotext") or ("/usr/bin/pdftotext" if Path("/usr/bin/pdftotext").exists() else None)
    if pdftotext:
        text = subprocess.run([pdftotext, "-layout", "-enc", "UTF-8", str(pdf), "-"], check=True,
                              capture_output=True, timeout=30).stdout.decode("utf-8")
        assert name in text, text
        assert "提现到账" in text, text
        assert f"期间：{this_month}" in text, text
        lines = text.splitlines()
        # The summary's payout line carries what left the account, and the closing balance is
        # the one the list shows.
        assert any("提现到账" in line and f"-{yuan_shown(amount)}" in line for line in lines), text
        assert any("期末余额" in line and yuan_shown(balance) in line for line in lines), text
    # else: no poppler-utils here; the %PDF check above is all that can be said.

    desktop.watch.assert_clean()
    promoter_phone.watch.assert_clean()
