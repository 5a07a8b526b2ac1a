"""Reading an uploaded export, row by row, without holding the file in memory: CSV with the
csv module (UTF-8, UTF-8 with a BOM, UTF-16 with a BOM, or GB18030 — the superset of GBK and
GB2312 that Chinese platforms export), XLSX with openpyxl's read-only mode.

Rows are numbered as a spreadsheet numbers them: the header is row 1, the first data row is
row 2 (a cell that holds a line break does not shift the numbers, as ``line_num`` would).
A cell is a ``str`` (trimmed), a ``datetime`` (XLSX date cells) or None (empty).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from flask_babel import lazy_gettext as _l

from distweb.services.errors import ServiceError

FORMATS = ("csv", "xlsx")
SNIFF_BYTES = 64 * 1024
# A row longer than this many cells is not an export we understand (and a CSV field larger
# than csv's default limit is refused by the csv module itself).
MAX_COLUMNS = 500
XLSX_MAGIC = b"PK\x03\x04"

Cell = str | datetime | None


def detect_format(file_name: str, head: bytes) -> str:
    """``csv`` or ``xlsx``, by content first (an XLSX is a ZIP), then by the name."""
    if head.startswith(XLSX_MAGIC):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # the old binary .xls
        raise ServiceError("xls_not_supported", _l("不支持旧版 .xls 文件，请在 Excel/WPS 中另存为 .xlsx 或 CSV 后上传。"), "file")
    name = file_name.lower()
    if name.endswith((".xlsx", ".xlsm")):
        raise ServiceError("invalid_xlsx", _l("文件不是有效的 XLSX 文件。"), "file")
    return "csv"


def detect_encoding(head: bytes) -> str:
    """The encoding of a CSV from its first bytes: a BOM says it; text that decodes as UTF-8
    is UTF-8; anything else is read as GB18030 (GBK's superset), if it decodes as that."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _decodes(head, "utf-8"):
        return "utf-8"
    if _decodes(head, "gb18030"):
        return "gb18030"
    raise ServiceError("unknown_encoding", _l("无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV。"), "file")


def _decodes(head: bytes, encoding: str) -> bool:
    """Whether ``head`` decodes, allowing a character cut off at the end of the sample."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def encoding_label(encoding: str | None) -> str:
    return {"utf-8-sig": "UTF-8 (BOM)", "utf-8": "UTF-8", "utf-16": "UTF-16", "gb18030": "GBK/GB18030"}.get(
        encoding or "", encoding or "—")


def _text(value) -> Cell:
    """An XLSX cell as this module hands it on: numbers as the text they show (an integral
    float without its ``.0``, never a float's binary expansion), dates as datetimes."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f")  # 59.9, not 59.899999999999998578…
    text = str(value).strip()
    return text or None


def iter_rows(path: Path, file_format: str, encoding: str | None) -> Iterator[tuple[int, list[Cell]]]:
    """(row number, cells) for every row, the header included (row 1 is the first row)."""
    if file_format == "xlsx":
        yield from _xlsx_rows(path)
    else:
        yield from _csv_rows(path, encoding or "utf-8")


def _csv_rows(path: Path, encoding: str) -> Iterator[tuple[int, list[Cell]]]:
    with open(path, encoding=encoding, newline="") as handle:
        sample = handle.read(8192)
        handle.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample.split("\n", 1)[0] if sample else ",", delimiters=",\t;")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(handle, dialect)
        try:
            for number, row in enumerate(reader, start=1):
                if len(row) > MAX_COLUMNS:
                    raise ServiceError("too_many_columns", _l("第 %(row)s 行的列数超过 500。", row=number), "file")
                yield number, [(cell.strip() or None) for cell in row]
        except UnicodeDecodeError:
            raise ServiceError("mixed_encoding", _l("文件中途出现无法按 %(encoding)s 解码的内容，请整体另存为 UTF-8 后重新上传。",
                                                    encoding=encoding_label(encoding)), "file") from None
        except csv.Error as err:
            raise ServiceError("invalid_csv", _l("CSV 文件格式有误：%(error)s", error=str(err)[:100]), "file") from None


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[Cell]]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    handle = open(path, "rb")  # a file object: stored uploads have no .xlsx name
    try:
        try:
            book = load_workbook(handle, read_only=True, data_only=True)
        except (BadZipFile, KeyError, OSError, ValueError, TypeError):
            raise ServiceError("invalid_xlsx", _l("文件不是有效的 XLSX 文件。"), "file") from None
        try:
            sheet = book.worksheets[0]
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                if len(row) > MAX_COLUMNS:
                    row = row[:MAX_COLUMNS]
                yield number, [_text(value) for value in row]
        finally:
            book.close()
    finally:
        handle.close()


def read_header(path: Path, file_format: str, encoding: str | None) -> tuple[int, list[str]]:
    """The header row (the first row with any cell) and its number; names trimmed, a BOM
    dropped, blanks named by their column letter's position."""
    for number, cells in iter_rows(path, file_format, encoding):
        if any(cell is not None for cell in cells):
            names = []
            for i, cell in enumerate(cells):
                name = str(cell).lstrip("\ufeff").strip() if cell is not None else ""
                names.append(name or f"#{i + 1}")
            return number, names
        if number > 50:
            break
    raise ServiceError("empty_file", _l("文件是空的，或前 50 行没有表头。"), "file")


def data_rows(path: Path, file_format: str, encoding: str | None, header_row: int,
              headers: list[str]) -> Iterator[tuple[int, dict[str, Cell]]]:
    """(row number, {header: cell}) for every data row after the header; blank rows skipped.
    A header named twice keeps its first column."""
    index: dict[str, int] = {}
    for i, name in enumerate(headers):
        index.setdefault(name, i)
    for number, cells in iter_rows(path, file_format, encoding):
        if number <= header_row or not any(cell is not None for cell in cells):
            continue
        yield number, {name: (cells[i] if i < len(cells) else None) for name, i in index.items()}


def count_rows(path: Path, file_format: str, encoding: str | None, header_row: int) -> int:
    """How many data rows there are, for the progress bar: counted for a CSV (fast); for an
    XLSX the sheet's recorded dimension when it has one (reading the sheet twice would
    double the time), else counted."""
    if file_format == "xlsx":
        from openpyxl import load_workbook

        with open(path, "rb") as handle:
            book = load_workbook(handle, read_only=True, data_only=True)
            try:
                recorded = book.worksheets[0].max_row
            finally:
                book.close()
        if isinstance(recorded, int) and recorded > header_row:
            return recorded - header_row
    return sum(1 for _ in data_rows(path, file_format, encoding, header_row, []))
