"""What a manager downloads for finance: the payout CSV and XLSX and the promoter CSV never
carry a live spreadsheet formula, and account numbers stay text, digit for digit."""

import csv
import io

from openpyxl import load_workbook

from distweb.extensions import db
from distweb.models import Promoter, User, Withdrawal
from distweb.models.base import utcnow
from distweb.models.ledger import AccountKind
from distweb.services import ledger, withdrawals
from tests.conftest import Browser
from tests.support.factories import PASSWORD

CARD = "6222020200112233445"  # a 19-digit bank card: Excel would keep 15 digits of it
HYPERLINK = '=HYPERLINK("http://evil","x")'
DDE = "+1+cmd|' /C calc'!A0"


def manager(app):
    browser = Browser(app.test_client())
    assert browser.login("boss@example.com", PASSWORD).status_code == 302
    return browser


def csv_rows(response):
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def xlsx_rows(response):
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    assert not [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    return [list(row) for row in sheet.iter_rows()]


def withdraw(app, promoter, account_name, account_no, fen=10000):
    """A withdrawal of ``fen`` by ``promoter``, approved, as finance will export it."""
    with app.app_context():
        ledger.post(ledger.Draft(promoter.brand_id, "test_funding", occurred_at=utcnow()).move(
            fen, (AccountKind.BRAND_COMMISSION_EXPENSE, 0), (AccountKind.PROMOTER_AVAILABLE, promoter.id)))
        db.session.commit()
        w = withdrawals.request(promoter.id, withdrawals.Request(fen, "bank", account_name, account_no))
        withdrawals.approve(w.brand_id, w.id)
        return w.id


def store_raw(app, model, row_id, **values):
    """Write values the services would have stripped (a leading TAB or CR): the export must be
    safe whatever the database holds, whoever wrote it."""
    with app.app_context():
        row = db.session.get(model, row_id)
        for name, value in values.items():
            setattr(row, name, value)
        db.session.commit()


def hostile_payouts(app, make):
    """Withdrawal id → (promoter name, account name, account number) for hostile withdrawals."""
    expected = {}
    for name, account_name, account_no in [
        (HYPERLINK, DDE, CARD),
        ("@SUM(1)", "-2+3", "=1+2"),
        ("王小明", "@SUM(1)", "13800000001"),
        ("张三", HYPERLINK, "seller@alipay"),
    ]:
        promoter = make.promoter(name=name)
        expected[withdraw(app, promoter, account_name, account_no)] = (name, account_name, account_no)
    tabbed = make.promoter(name="李四")
    tab_id = withdraw(app, tabbed, "李四", CARD)
    store_raw(app, Withdrawal, tab_id, account_name="\t=1+1")
    store_raw(app, User, tabbed.user_id, name="\r=1+1")
    expected[tab_id] = ("\r=1+1", "\t=1+1", CARD)
    return expected


def test_payout_csv_quotes_formulas_and_keeps_the_card_number_as_text(app, make):
    expected = hostile_payouts(app, make)
    rows = csv_rows(manager(app).get("/manage/withdrawals/payout.csv"))
    assert rows[0][:5] == ["编号", "姓名", "方式", "户名", "账号"]
    by_id = {int(row[0]): row for row in rows[1:]}
    assert set(by_id) == set(expected)
    # Account numbers: a quote where a spreadsheet would read a number or a formula, the
    # digits themselves untouched.
    as_csv = {CARD: "'" + CARD, "=1+2": "'=1+2", "13800000001": "'13800000001", "seller@alipay": "seller@alipay"}
    for withdrawal_id, (name, account_name, account_no) in expected.items():
        row = by_id[withdrawal_id]
        assert row[1] == ("'" + name if name[0] in "=+-@\t\r" else name)
        assert row[3] == "'" + account_name  # every account name above is hostile
        assert row[4] == as_csv[account_no]
        assert row[5:8] == ["100.00", "0.00", "100.00"]  # our own figures: never quoted
    assert by_id[min(expected)][4] == "'6222020200112233445"  # all 19 digits, as text


def test_payout_xlsx_writes_user_text_as_strings_never_formulas(app, make):
    expected = hostile_payouts(app, make)
    rows = xlsx_rows(manager(app).get("/manage/withdrawals/payout.xlsx"))
    assert [c.value for c in rows[0]][:5] == ["编号", "姓名", "方式", "户名", "账号"]
    by_id = {row[0].value: row for row in rows[1:]}
    assert set(by_id) == set(expected)
    for withdrawal_id, (name, account_name, account_no) in expected.items():
        row = by_id[withdrawal_id]
        assert row[0].data_type == "n"
        for cell, text in ((row[1], name), (row[3], account_name)):
            assert cell.data_type == "s"
            # (XML reads a stored CR back as a line feed: the quote before it is what matters.)
            assert cell.value == ("'" + text if text[0] in "=+-@\t\r" else text).replace("\r", "\n")
        number = row[4]
        assert number.data_type == "s" and number.number_format == "@"
        assert number.value == ("'" + account_no if account_no[0] in "=+-@" else account_no)
        assert [(c.data_type, c.value) for c in row[5:8]] == [("n", 100), ("n", 0), ("n", 100)]
    assert by_id[min(expected)][4].value == CARD  # exactly the 19 digits, as a string


def test_payout_files_quote_the_transfer_reference_and_keep_long_ones_as_text(app, make):
    promoter = make.promoter(name="王小明")
    first = withdraw(app, promoter, "王小明", CARD)
    second = withdraw(app, promoter, "王小明", CARD)
    with app.app_context():
        withdrawals.mark_paid(promoter.brand_id, first, "4200001234567890123456789012")
        withdrawals.mark_paid(promoter.brand_id, second, "=HYPERLINK(\"http://evil\")")
    browser = manager(app)
    by_id = {int(row[0]): row for row in csv_rows(browser.get("/manage/withdrawals/payout.csv?status=paid"))[1:]}
    assert by_id[first][9] == "'4200001234567890123456789012"
    assert by_id[second][9] == "'=HYPERLINK(\"http://evil\")"
    sheet = {row[0].value: row for row in xlsx_rows(browser.get("/manage/withdrawals/payout.xlsx?status=paid"))[1:]}
    assert (sheet[first][9].data_type, sheet[first][9].value) == ("s", "4200001234567890123456789012")
    assert sheet[first][9].number_format == "@"
    assert (sheet[second][9].data_type, sheet[second][9].value) == ("s", "'=HYPERLINK(\"http://evil\")")


def test_promoter_csv_quotes_names_and_keeps_codes_and_phones_as_text(app, make):
    top = make.promoter(name=HYPERLINK, phone="13900000001")
    make.promoter(name="@SUM(1)", upline=top, phone="13900000002")
    make.promoter(name="-2+3", upline=top, phone="13900000003")
    tabbed = make.promoter(name="王小明", upline=top, phone="13900000004")
    plain = make.promoter(name="张三", upline=top, phone="13900000005")
    store_raw(app, User, tabbed.user_id, name="\t=1+1")
    store_raw(app, Promoter, top.id, code="2345E234")  # Excel reads this as 2.345E+237
    store_raw(app, Promoter, plain.id, code="ABCD2345")
    rows = csv_rows(manager(app).get("/manage/promoters.csv"))
    assert rows[0][:3] == ["邀请码", "姓名", "手机号"]
    by_phone = {row[2]: row for row in rows[1:]}
    assert set(by_phone) == {f"'1390000000{n}" for n in range(1, 6)}
    assert by_phone["'13900000001"][:2] == ["'2345E234", "'" + HYPERLINK]
    assert by_phone["'13900000002"][1] == "'@SUM(1)"
    assert by_phone["'13900000003"][1] == "'-2+3"
    assert by_phone["'13900000004"][1] == "'\t=1+1"
    assert by_phone["'13900000005"][:2] == ["ABCD2345", "张三"]  # nothing to fear: unchanged
    for phone in ("'13900000002", "'13900000005"):
        assert by_phone[phone][5:7] == ["'2345E234", "'" + HYPERLINK]  # the upline's code and name


def test_batch_templates_for_alipay_and_the_bank_keep_account_numbers_as_text(app, make):
    bank_payee = make.promoter(name="王小明")
    bank_id = withdraw(app, bank_payee, "王小明", CARD, fen=12345)
    alipay_payee = make.promoter(name="张三")
    with app.app_context():
        ledger.post(ledger.Draft(alipay_payee.brand_id, "test_funding", occurred_at=utcnow()).move(
            5000, (AccountKind.BRAND_COMMISSION_EXPENSE, 0), (AccountKind.PROMOTER_AVAILABLE, alipay_payee.id)))
        db.session.commit()
        w = withdrawals.request(alipay_payee.id, withdrawals.Request(5000, "alipay", HYPERLINK, "13800000001"))
        withdrawals.approve(w.brand_id, w.id)
        alipay_id = w.id
    browser = manager(app)
    alipay = xlsx_rows(browser.get("/manage/withdrawals/payout-alipay.xlsx"))
    assert [c.value for c in alipay[0]] == ["序号", "收款方支付宝账号", "收款方姓名", "金额（元）", "备注"]
    assert len(alipay) == 2  # the bank withdrawal is not in the Alipay file
    row = alipay[1]
    assert row[1].value == "13800000001" and row[1].data_type == "s" and row[1].number_format == "@"
    assert row[2].value == "'" + HYPERLINK  # a name that starts like a formula stays text
    assert row[3].value == 50 and row[4].value == f"佣金提现 #{alipay_id}"
    bank = csv_rows(browser.get("/manage/withdrawals/payout-bank.csv"))
    assert bank[0] == ["序号", "收款账号", "收款户名", "金额（元）", "用途", "客户流水号"]
    assert bank[1:] == [["1", "'" + CARD, "王小明", "123.45", f"佣金提现 #{bank_id}", f"W{bank_id}"]]
    bank_xlsx = xlsx_rows(browser.get("/manage/withdrawals/payout-bank.xlsx"))
    assert bank_xlsx[1][1].value == CARD and bank_xlsx[1][1].number_format == "@"  # all 19 digits
    assert browser.get("/manage/withdrawals/payout-wechat.xlsx").status_code == 404
    assert browser.get("/manage/withdrawals/payout-bank.pdf").status_code == 404
    assert len(csv_rows(browser.get("/manage/withdrawals/payout-bank.csv?status=paid"))) == 1  # none paid yet
