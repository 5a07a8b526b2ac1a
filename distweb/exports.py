"""Spreadsheet files (CSV and XLSX) that cannot be turned against the people who open them.

Every CSV or XLSX the project writes goes through this module. It deals with two problems:

* **Formula injection** (CSV injection, CWE-1236). Excel, WPS and LibreOffice read a cell whose
  text starts with ``=``, ``+``, ``-``, ``@``, a TAB or a CR as a formula, and a formula can
  open links, fetch URLs with the sheet's data, or start programs (DDE). Promoter names come from
  anonymous sign-up and the API, and account names from promoters, so anybody can write one.
  OWASP's advice is followed: such text gets a single quote (``'``) in front of it, which makes
  it plain text.
* **Identifiers made of digits.** A bank card has 16–19 digits, and Excel keeps only 15
  significant digits of a number: 6222020200112233445 is shown as 6.22202E+18 and then stored
  as 6222020200112230000, which is someone else's card. Codes such as ``2345E234`` are even
  read as scientific notation.

Each column of an export has a :class:`Kind`, chosen by the writer of the export:

``TEXT``        what a person typed, or a label of ours: written as text and neutralised.
``IDENTIFIER``  account numbers, invite codes, phone numbers, transfer references: text that
                must stay text, every digit of it (and neutralised like ``TEXT``).
``NUMBER``      figures we compute ourselves (ids, ``Decimal`` yuan): numbers, left as they are.
                Only ``int`` and ``Decimal`` count as numbers; any ``str`` is treated as text.

The CSV side is stdlib only; openpyxl is imported when an XLSX is written.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal

BOM = "\ufeff"  # so that Excel opens the Chinese text of a CSV as UTF-8
QUOTE = "'"

# The first characters that make a spreadsheet read a cell as a formula (OWASP: = + - @ TAB CR),
# and their full-width forms, which Chinese input methods type: a name that starts with one is
# rare enough that quoting it costs nothing, and no spreadsheet app then has to be trusted to
# treat them as plain text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


class Kind(enum.Enum):
    TEXT = "text"
    IDENTIFIER = "identifier"
    NUMBER = "number"


TEXT, IDENTIFIER, NUMBER = Kind.TEXT, Kind.IDENTIFIER, Kind.NUMBER


def neutralise(text: str | None) -> str:
    """``text`` with a single quote in front if a spreadsheet would read it as a formula;
    anything else unchanged. ``None`` is the empty cell."""
    if text is None:
        return ""
    if text.startswith(FORMULA_TRIGGERS):
        return QUOTE + text
    return text


def reads_as_number(text: str) -> bool:
    """Would a spreadsheet turn this text into a number, a date or a time?

    Deliberately generous — any text with a digit and no letter but E/e (scientific notation):
    ``6222020200112233445``, ``13800000001``, ``2345E234``, ``2024-01-02``, ``1/2``, ``12:30``,
    ``5%``, ``¥5``. Marking an identifier that would have stayed text anyway costs one visible
    quote; missing one loses digits."""
    return any(c.isdigit() for c in text) and not any(c.isalpha() and c not in "eE" for c in text)


def _is_number(value: object) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


# ---------------------------------------------------------------- CSV


def csv_cell(value: object, kind: Kind = TEXT) -> str:
    """The text of one CSV cell.

    A CSV has no cell types, so an identifier that a spreadsheet would read as a number gets a
    leading single quote, the same mark as a neutralised formula: the file then has one rule,
    "a leading ' is ours, the rest is the value". Excel shows that quote in a cell opened from a
    CSV (it hides it only when typed), so the value is text and every digit survives; finance
    removes the marks with one Find & Replace, or takes the XLSX, whose identifier columns are
    real text columns and need no mark. The alternatives are worse:

    * ``="6222…"`` (json2csv's ``excelStrings``, common in finance exports) is itself a formula,
      the very thing this module removes; other spreadsheet apps show it raw, and Excel turns it
      into a plain number again when the file is saved as CSV and reopened.
    * A leading TAB (some libraries; Alipay statements put a tab after their numbers) is one of
      OWASP's formula characters itself, and it travels into whatever the number is pasted into.
    * An invisible character (U+200B, ``\\x1f``) looks right but pastes an invisible byte into
      the bank's batch-payment form: a failure nobody can see.
    * A backtick (WeChat Pay statements put one before every field) is as visible as the quote,
      but a second convention for the same job.
    """
    if value is None:
        return ""
    if kind is NUMBER and _is_number(value):
        return format(value, "f") if isinstance(value, Decimal) else str(value)
    text = neutralise(str(value))
    if kind is IDENTIFIER and not text.startswith(QUOTE) and reads_as_number(text):
        text = QUOTE + text
    return text


class CsvSheet:
    """One CSV export: each call of :meth:`line` gives the escaped text of one row, so that a
    long export can be streamed."""

    def __init__(self, kinds: Sequence[Kind]):
        self.kinds = tuple(kinds)
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def line(self, values: Sequence[object], kinds: Sequence[Kind] | None = None) -> str:
        kinds = self.kinds if kinds is None else kinds
        if len(values) != len(kinds):
            raise ValueError(f"{len(values)} values for {len(kinds)} columns")
        self._writer.writerow([csv_cell(v, k) for v, k in zip(values, kinds, strict=True)])
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate(0)
        return text

    def lines(self, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
        """The BOM and header line, then one line per row, lazily."""
        yield BOM + self.line(header, (TEXT,) * len(header))
        for row in rows:
            yield self.line(row)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]], kinds: Sequence[Kind]) -> str:
    """A whole CSV file (BOM, header, rows) as one string."""
    return "".join(CsvSheet(kinds).lines(header, rows))


# ---------------------------------------------------------------- XLSX

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_bytes(title: str, header: Sequence[str], rows: Iterable[Sequence[object]],
               kinds: Sequence[Kind]) -> bytes:
    """A one-sheet workbook. Text and identifiers are string cells, always (openpyxl would make
    a formula of a string that starts with ``=`` and an error cell of ``#N/A``), neutralised all
    the same so that editing or copying a cell in Excel never brings a formula to life.
    Identifier columns are also formatted as Text (``@``), so nothing typed into them later
    becomes a number either. Numbers stay numbers; a ``Decimal`` is shown with its own decimal
    places (``0.00`` for yuan)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)

    def cell(value: object, kind: Kind):
        if kind is NUMBER and _is_number(value):
            written = WriteOnlyCell(sheet, value=value)
            exponent = value.as_tuple().exponent if isinstance(value, Decimal) else 0
            if isinstance(exponent, int) and exponent < 0:
                written.number_format = "0." + "0" * -exponent
            return written
        if value is None:
            written = WriteOnlyCell(sheet)
        else:
            # XML cannot hold most control characters at all; drop them before looking at the
            # first character, so that "\x01=1+1" is neutralised like "=1+1".
            written = WriteOnlyCell(sheet, value=neutralise(ILLEGAL_CHARACTERS_RE.sub("", str(value))))
            written.data_type = "s"
        if kind is IDENTIFIER:
            written.number_format = "@"
        return written

    sheet.append([cell(text, TEXT) for text in header])
    for row in rows:
        if len(row) != len(kinds):
            raise ValueError(f"{len(row)} values for {len(kinds)} columns")
        sheet.append([cell(v, k) for v, k in zip(row, kinds, strict=True)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
