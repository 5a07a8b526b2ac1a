"""The spreadsheet helper: formulas never come alive, identifiers keep every digit, our own
numbers stay numbers."""

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from distweb.exports import (
    IDENTIFIER,
    NUMBER,
    TEXT,
    CsvSheet,
    csv_cell,
    csv_text,
    neutralise,
    reads_as_number,
    xlsx_bytes,
)

DANGEROUS = ["=1+1", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\t=1+1", "\r=1+1",
             '=HYPERLINK("http://evil","x")', "＝1+1", "＋1", "－1", "＠SUM(1)", "=", "-"]
HARMLESS = ["王小明", "a=b", "x+1", "1-2", "123.45", "'=1+1", " =1+1", "\n=1+1", "#N/A", "seller@alipay",
            "6222020200112233445"]


@pytest.mark.parametrize("text", DANGEROUS)
def test_every_formula_trigger_gets_a_leading_quote(text):
    assert neutralise(text) == "'" + text
    assert csv_cell(text) == "'" + text
    assert csv_cell(text, IDENTIFIER) == "'" + text  # one quote, not two
    assert csv_cell(text, NUMBER) == "'" + text  # a str is never trusted as a number


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_text_is_unchanged(text):
    assert neutralise(text) == text
    assert csv_cell(text) == text


def test_none_and_empty_are_empty_cells():
    assert neutralise(None) == "" and neutralise("") == ""
    for kind in (TEXT, IDENTIFIER, NUMBER):
        assert csv_cell(None, kind) == "" and csv_cell("", kind) == ""


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (42, "42"), (-5, "-5"), (Decimal("123.45"), "123.45"), (Decimal("-1.50"), "-1.50"),
    (Decimal("0.00"), "0.00"), (Decimal(10**9).scaleb(-2), "10000000.00"),
])
def test_numbers_we_compute_are_written_as_they_are(value, text):
    assert csv_cell(value, NUMBER) == text


@pytest.mark.parametrize("text", ["6222020200112233445", "13800000001", "2345E234", "1e5", "2024-01-02",
                                  "1/2", "12:30", "5%", "¥5", "6222 0202 0011"])
def test_identifiers_a_spreadsheet_would_read_as_numbers_are_marked_as_text(text):
    assert reads_as_number(text)
    assert csv_cell(text, IDENTIFIER) == "'" + text
    assert csv_cell(text, TEXT) == text  # plain text columns are only neutralised


@pytest.mark.parametrize("text", ["ABCD2345", "seller@alipay", "wx_seller", "中国银行", "ABCDEFGH", "E"])
def test_identifiers_that_stay_text_anyway_are_left_alone(text):
    assert not reads_as_number(text)
    assert csv_cell(text, IDENTIFIER) == text


def test_csv_rows_are_escaped_by_column_and_streamed_line_by_line():
    sheet = CsvSheet((NUMBER, TEXT, IDENTIFIER, NUMBER))
    assert sheet.line([7, '=HYPERLINK("http://evil","x")', "6222020200112233445", Decimal("19.80")]) == \
        '7,"\'=HYPERLINK(""http://evil"",""x"")",\'6222020200112233445,19.80\r\n'
    assert sheet.line([8, "王小明", "ABCD2345", None]) == "8,王小明,ABCD2345,\r\n"
    with pytest.raises(ValueError):
        sheet.line([1, "too few"])
    text = csv_text(["编号", "=header"], [[1, "-2+3"]], (NUMBER, TEXT))
    assert text.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(text[1:]))) == [["编号", "'=header"], ["1", "'-2+3"]]


def read_xlsx(data):
    return [list(row) for row in load_workbook(io.BytesIO(data)).active.iter_rows()]


def test_xlsx_text_is_always_a_string_cell_and_never_a_formula():
    texts = DANGEROUS + HARMLESS + ["\x01=1+1", "a\x02b"]
    rows = read_xlsx(xlsx_bytes("t", ["名称"], [[t] for t in texts], (TEXT,)))
    assert rows[0][0].value == "名称"
    cells = [row[0] for row in rows[1:]]
    assert all(c.data_type == "s" for c in cells)  # "#N/A" included: not an error cell
    expected = [neutralise(t).replace("\r", "\n") for t in DANGEROUS + HARMLESS] + ["'=1+1", "ab"]
    assert [c.value for c in cells] == expected  # control characters XML cannot hold are dropped


def test_xlsx_identifiers_are_text_cells_with_the_text_format_and_every_digit():
    rows = read_xlsx(xlsx_bytes("t", ["账号"], [["6222020200112233445"], ["-2+3"], [None]], (IDENTIFIER,)))
    card, hostile, empty = (row[0] for row in rows[1:])
    assert (card.data_type, card.value, card.number_format) == ("s", "6222020200112233445", "@")
    assert (hostile.data_type, hostile.value, hostile.number_format) == ("s", "'-2+3", "@")
    assert empty.value is None and empty.number_format == "@"


def test_xlsx_numbers_stay_numbers_and_yuan_show_two_decimals():
    rows = read_xlsx(xlsx_bytes("t", ["id", "金额"], [[7, Decimal("19.80")], [-3, Decimal("-0.05")]], (NUMBER, NUMBER)))
    read = [[(c.data_type, Decimal(str(c.value))) for c in row] for row in rows[1:]]
    assert read == [[("n", 7), ("n", Decimal("19.80"))], [("n", -3), ("n", Decimal("-0.05"))]]
    assert rows[1][0].number_format == "General" and rows[1][1].number_format == "0.00"
