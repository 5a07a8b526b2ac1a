"""Platform imports: a manager uploads an export (orders, promoters or products), maps its
columns once (saved per brand, kind and source), previews the first rows with their errors,
and imports it as a background job (``worker.jobs.run_import``) with a progress bar; a
summary of every row (created, updated, refunded, unchanged, skipped with the reason) can be
downloaded as CSV.

Everything goes through the services the API uses: an order row is read into the same body
``POST /api/v1/orders`` takes and checked by the same reading (``order_input``), then placed,
refunded, completed or cancelled by ``services/orders.py`` — commission and ledger behave
exactly as for API orders. Promoters go through ``network.import_promoter``, products through
``catalogue.upsert_product``.

Safe to run twice and to resume after a killed worker:
- an order's identity is its order number (with the mapping's optional prefix) as its
  ``external_id``; an order already there is never placed again, and what the file says
  beyond it (a refund, completion, cancellation) is applied as the difference from what the
  order already has (refund ids are derived from the refunded total, so a repeat refunds
  nothing twice);
- a promoter's old id is kept (``ImportKey``) in the promoter's own transaction, with its row;
- ``ImportBatch.rows_done`` is the checkpoint (every row up to it has its ``ImportRow``); a
  resumed run starts after it and rows recorded past it keep what they recorded.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, func, select, update

from distweb.extensions import db
from distweb.models import (
    Brand,
    ImportBatch,
    ImportKey,
    ImportMapping,
    ImportRow,
    Job,
    Order,
    Promoter,
    User,
)
from distweb.models.base import insert_ignoring_duplicates, utcnow
from distweb.models.order import OrderMode, OrderStatus
from distweb.money import parse_yuan
from distweb.services import (
    catalogue,
    import_files,
    import_presets,
    jobs,
    network,
    order_input,
    orders,
)
from distweb.services.errors import NotFound, ServiceError
from distweb.services.tx import transaction

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
PREVIEW_ROWS = 20
CHUNK_ROWS = 500  # rows between checkpoints (and progress updates)
PREFIX_MAX = 20

# What the order's status column may say (platforms word it differently; checked as words
# within the cell).
CANCELLED_WORDS = ("取消", "关闭", "cancel", "closed")
COMPLETED_WORDS = ("交易成功", "已完成", "交易完成", "已签收", "completed")
UNPAID_WORDS = ("待付款", "未付款", "等待买家付款", "unpaid")

OUTCOMES = ("created", "updated", "refunded", "unchanged", "skipped")


class RowError(Exception):
    """A row that cannot be imported, and why (code, message, our field)."""

    def __init__(self, code: str, message, field: str | None = None):
        super().__init__(str(message))
        self.code, self.message, self.field = code, message, field


def folder() -> Path:
    path = Path(current_app.config["INSTANCE_PATH"]) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_path(batch: ImportBatch) -> Path:
    return folder() / batch.stored_name


# ---------------------------------------------------------------- mappings


def check_kind_source(kind: str, source: str) -> None:
    if kind not in import_presets.KINDS:
        raise ServiceError("invalid_kind", _l("不支持的导入类型。"), "kind")
    if import_presets.preset(kind, source) is None:
        raise ServiceError("invalid_source", _l("不支持的来源平台。"), "source")


def saved_mapping(brand_id: int, kind: str, source: str) -> ImportMapping | None:
    return db.session.scalars(select(ImportMapping).where(
        ImportMapping.brand_id == brand_id, ImportMapping.kind == kind, ImportMapping.source == source)).first()


def default_options(kind: str) -> dict:
    return {"mode": "promotion", "prefix": ""} if kind == "orders" else {}


# ---------------------------------------------------------------- uploading


def upload(brand_id: int, user_id: int | None, kind: str, source: str, file_name: str, stream) -> ImportBatch:
    """Store an uploaded export (streamed to disk in chunks), read its header, and propose
    its mapping: the brand's saved one for this kind and source, else the preset's match."""
    check_kind_source(kind, source)
    file_name = (file_name or "").strip()[:200] or "upload"
    stored = f"{secrets.token_hex(12)}.upload"
    target = folder() / stored
    size = 0
    with open(target, "wb") as out:
        while chunk := stream.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                out.close()
                target.unlink(missing_ok=True)
                raise ServiceError("file_too_large", _l("文件不能超过 200 MB。"), "file")
            out.write(chunk)
    try:
        if size == 0:
            raise ServiceError("empty_file", _l("文件是空的。"), "file")
        with open(target, "rb") as handle:
            head = handle.read(import_files.SNIFF_BYTES)
        file_format = import_files.detect_format(file_name, head)
        encoding = import_files.detect_encoding(head) if file_format == "csv" else None
        _header_row, headers = import_files.read_header(target, file_format, encoding)
    except ServiceError:
        target.unlink(missing_ok=True)
        raise
    mapping = saved_mapping(brand_id, kind, source)
    if mapping is not None:
        columns = {k: v for k, v in mapping.columns.items() if v in headers}
        options = {**default_options(kind), **(mapping.options or {})}
    else:
        columns = import_presets.propose(kind, source, headers)
        options = default_options(kind)
    with transaction():
        batch = ImportBatch(brand_id=brand_id, kind=kind, source=source, file_name=file_name, stored_name=stored,
                            file_format=file_format, encoding=encoding, headers=headers, columns=columns,
                            options=options, rows_done=0, created_by_id=user_id)
        db.session.add(batch)
    return batch


def get_batch(brand_id: int, batch_id: int) -> ImportBatch:
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None or batch.brand_id != brand_id:
        raise NotFound("import_not_found", _l("导入记录不存在。"))
    return batch


def recent_batches(brand_id: int, limit: int = 20) -> list[ImportBatch]:
    return list(db.session.scalars(select(ImportBatch).where(ImportBatch.brand_id == brand_id)
                                   .order_by(ImportBatch.id.desc()).limit(limit)))


def job_of(batch: ImportBatch) -> Job | None:
    return db.session.get(Job, batch.job_id) if batch.job_id else None


def batch_for_job(job_id: int) -> ImportBatch | None:
    return db.session.scalars(select(ImportBatch).where(ImportBatch.job_id == job_id)).first()


def save_mapping(batch: ImportBatch, columns: dict[str, str], options: dict) -> ImportBatch:
    """Check and keep the mapping on the batch, and save it for the brand's next file of this
    kind and source. Every required field needs a column of the file."""
    if batch.job_id is not None:
        raise ServiceError("import_started", _l("该文件已开始导入，不能再修改列对应。"), "columns")
    fields = import_presets.FIELDS[batch.kind]
    clean: dict[str, str] = {}
    for f in fields:
        header = (columns.get(f.key) or "").strip()
        if header and header not in batch.headers:
            raise ServiceError("unknown_column", _l("文件中没有列 %(name)s。", name=header[:60]), f.key)
        if header:
            clean[f.key] = header
        elif f.required:
            raise ServiceError("column_required", _l("请为「%(field)s」选择一列。", field=f.label), f.key)
    clean_options = {}
    if batch.kind == "orders":
        mode = options.get("mode") or "promotion"
        if mode not in {m.value for m in OrderMode}:
            raise ServiceError("invalid_mode", _l("mode 只能是 promotion、consignment 或 wholesale。"), "mode")
        prefix = (options.get("prefix") or "").strip()
        if len(prefix) > PREFIX_MAX:
            raise ServiceError("invalid_prefix", _l("订单号前缀最长 20 个字符。"), "prefix")
        clean_options = {"mode": mode, "prefix": prefix}
    with transaction():
        batch.columns, batch.options = clean, clean_options
        mapping = saved_mapping(batch.brand_id, batch.kind, batch.source)
        if mapping is None:
            mapping = ImportMapping(brand_id=batch.brand_id, kind=batch.kind, source=batch.source)
            db.session.add(mapping)
        mapping.columns, mapping.options, mapping.updated_at = dict(clean), dict(clean_options), utcnow()
    return batch


# ---------------------------------------------------------------- reading a row


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value).strip() or None


def _fen(value, field: str, label) -> int | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return parse_yuan(text)
    except ValueError:
        raise RowError("invalid_amount", _l("「%(field)s」不是有效金额（元，最多两位小数）：%(value)s",
                                            field=label, value=text[:40]), field) from None


def _count(value, field: str, label) -> int | None:
    text = _text(value)
    if text is None:
        return None
    try:
        number = Decimal(text.replace(",", ""))
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number != number.to_integral_value() or abs(number) > 10**9:
        raise RowError("invalid_quantity", _l("「%(field)s」必须是整数：%(value)s", field=label, value=text[:40]), field)
    return int(number)


TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d",
                "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日")


def _time(value, field: str, label, tz: ZoneInfo) -> datetime | None:
    """A time cell: an XLSX date, ISO 8601, or the usual 2026-11-28 10:00[:00] (also with
    slashes); a time without an offset is in the brand's time zone."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = _text(value)
        if text is None:
            return None
        moment = None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            for fmt in TIME_FORMATS:
                try:
                    moment = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
        if moment is None:
            raise RowError("invalid_time", _l("「%(field)s」不是有效时间：%(value)s", field=label, value=text[:40]), field)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    try:
        return order_input.check_time(moment, field)
    except ServiceError as err:
        raise RowError(err.code, err.message, field) from None


def _flag(value) -> bool | None:
    text = (_text(value) or "").lower()
    if not text:
        return None
    return text in ("1", "是", "y", "yes", "true", "有", "上架", "在售", "on")


def _words(text: str | None, words: tuple[str, ...]) -> bool:
    text = (text or "").lower()
    return any(w in text for w in words)


def _labels(kind: str) -> dict[str, object]:
    return {f.key: f.label for f in import_presets.FIELDS[kind]}


def _values(batch: ImportBatch, cells: dict) -> dict:
    """The row's cells by our field names."""
    return {key: cells.get(header) for key, header in (batch.columns or {}).items()}


@dataclass
class OrderLine:
    """One row of an order export, read."""

    row_no: int
    external_id: str
    sku: str | None
    quantity: int | None
    unit_price_fen: int | None
    paid_fen: int | None
    refund_fen: int | None
    paid_at: datetime | None
    placed_at: datetime | None
    completed_at: datetime | None
    status: str | None
    promoter: str | None
    promoter_phone: str | None
    buyer_name: str | None
    buyer_phone: str | None
    buyer_address: str | None
    error: RowError | None = None


def read_order_line(batch: ImportBatch, row_no: int, cells: dict, tz: ZoneInfo) -> OrderLine | None:
    """An order row read; None for a row without an order number (a subtotal line)."""
    values = _values(batch, cells)
    labels = _labels("orders")
    number = _text(values.get("external_id"))
    if number is None:
        return None
    prefix = (batch.options or {}).get("prefix") or ""
    line = OrderLine(row_no=row_no, external_id=prefix + number, sku=None, quantity=None, unit_price_fen=None,
                     paid_fen=None, refund_fen=None, paid_at=None, placed_at=None, completed_at=None,
                     status=_text(values.get("status")), promoter=_text(values.get("promoter_code")),
                     promoter_phone=_text(values.get("promoter_phone")), buyer_name=_text(values.get("buyer_name")),
                     buyer_phone=_text(values.get("buyer_phone")), buyer_address=_text(values.get("buyer_address")))
    try:
        line.sku = _text(values.get("sku"))
        line.quantity = _count(values.get("quantity"), "quantity", labels["quantity"])
        line.unit_price_fen = _fen(values.get("unit_price"), "unit_price", labels["unit_price"])
        line.paid_fen = _fen(values.get("paid"), "paid", labels["paid"])
        line.refund_fen = _fen(values.get("refund"), "refund", labels["refund"])
        line.paid_at = _time(values.get("paid_at"), "paid_at", labels["paid_at"], tz)
        line.placed_at = _time(values.get("placed_at"), "placed_at", labels["placed_at"], tz)
        line.completed_at = _time(values.get("completed_at"), "completed_at", labels["completed_at"], tz)
        if line.sku is None:
            raise RowError("missing_sku", _l("缺少商品编码。"), "sku")
        if line.quantity is None:
            raise RowError("missing_quantity", _l("缺少数量。"), "quantity")
    except RowError as err:
        line.error = err
    return line


class Promoters:
    """Promoter codes for the names an order export uses: our invite code, the old system's
    id of an imported promoter, or the promoter's phone. Looked up once each."""

    def __init__(self, brand_id: int):
        self.brand_id = brand_id
        self.cache: dict[tuple[str, str], str | None] = {}

    def code(self, line: OrderLine) -> str | None:
        if line.promoter:
            return self._lookup("code", line.promoter)
        if line.promoter_phone:
            return self._lookup("phone", line.promoter_phone)
        return None

    def _lookup(self, how: str, value: str) -> str | None:
        key = (how, value)
        if key not in self.cache:
            self.cache[key] = self._find(how, value)
        found = self.cache[key]
        if found is None:
            if how == "phone":
                raise RowError("unknown_promoter", _l("没有手机号为 %(phone)s 的推客。", phone=value[:20]), "promoter_phone")
            raise RowError("unknown_promoter", _l("推客 %(code)s 不存在（既不是邀请码，也不是已导入推客的原编号）。",
                                                  code=value[:40]), "promoter_code")
        return found

    def _find(self, how: str, value: str) -> str | None:
        if how == "phone":
            return db.session.scalar(select(Promoter.code).join(User, User.id == Promoter.user_id).where(
                Promoter.brand_id == self.brand_id, User.phone == value))
        code = db.session.scalar(select(Promoter.code).where(Promoter.brand_id == self.brand_id,
                                                             Promoter.code == value.upper()))
        if code is not None:
            return code
        return db.session.scalar(select(Promoter.code).join(ImportKey, ImportKey.target_id == Promoter.id).where(
            ImportKey.brand_id == self.brand_id, ImportKey.kind == "promoters", ImportKey.external_id == value,
            Promoter.brand_id == self.brand_id).limit(1))


def order_body(batch: ImportBatch, lines: list[OrderLine], promoter_code: str | None) -> dict:
    """The ``POST /api/v1/orders`` body the rows of one order describe (docs/API.md)."""
    first = lines[0]
    buyer = {k: v for k, v in (("name", first.buyer_name), ("phone", first.buyer_phone),
                               ("address", first.buyer_address)) if v}
    items = []
    for line in lines:
        item = {"sku": line.sku, "quantity": line.quantity}
        if line.unit_price_fen is not None:
            item["unit_price_fen"] = line.unit_price_fen
        if line.paid_fen is not None:
            item["paid_fen"] = line.paid_fen
        items.append(item)
    body = {"external_id": first.external_id, "mode": (batch.options or {}).get("mode") or "promotion",
            "currency": "CNY", "items": items, "paid_at": first.paid_at.isoformat() if first.paid_at else None}
    if promoter_code:
        body["promoter_code"] = promoter_code
    if buyer:
        body["buyer"] = buyer
    return body


def _order_input(batch: ImportBatch, lines: list[OrderLine], promoters: Promoters) -> orders.OrderInput:
    """The order of these rows, read by the API's reading (``order_input_from``); RowError
    naming the row at fault."""
    for line in lines:
        if line.error is not None:
            raise _at(line, line.error)
    first = lines[0]
    if first.paid_at is None or _words(first.status, UNPAID_WORDS):
        raise _at(first, RowError("not_paid", _l("订单未付款，不导入。"), "paid_at"))
    try:
        code = promoters.code(first)
    except RowError as err:
        raise _at(first, err) from None
    try:
        data = order_input.order_input_from(order_body(batch, lines, code), source="import")
    except ServiceError as err:
        raise _at(_line_of(lines, err.field), RowError(err.code, err.message, err.field)) from None
    data.placed_at = first.placed_at or first.paid_at
    return data


class LineError(Exception):
    def __init__(self, line: OrderLine, error: RowError):
        super().__init__(str(error))
        self.line, self.error = line, error


def _at(line: OrderLine, error: RowError) -> LineError:
    return LineError(line, error)


def _line_of(lines: list[OrderLine], field: str | None) -> OrderLine:
    """The row a refusal names (``items[2].sku`` is the third row of the order)."""
    if field and field.startswith("items["):
        try:
            return lines[int(field[6:field.index("]")])]
        except (ValueError, IndexError):
            pass
    return lines[0]


def _reason(err) -> str:
    return f"{err.code}: {err.message}"[:400]


# ---------------------------------------------------------------- previewing


@dataclass
class PreviewRow:
    row_no: int
    values: dict[str, str]
    error: str | None


def preview(batch: ImportBatch, limit: int = PREVIEW_ROWS) -> list[PreviewRow]:
    """The first rows as the import would read them, each with what is wrong with it (read
    only: nothing is written). Orders are checked by the API's reading and against the
    catalogue and the network (unknown SKU or promoter), as placing them would."""
    header_row, _headers = import_files.read_header(file_path(batch), batch.file_format, batch.encoding)
    tz = _tz(batch.brand_id)
    out: list[PreviewRow] = []
    promoters = Promoters(batch.brand_id)
    rows = import_files.data_rows(file_path(batch), batch.file_format, batch.encoding, header_row, batch.headers)
    for row_no, cells in rows:
        values = {k: _text(v) or "" for k, v in _values(batch, cells).items()}
        error = None
        try:
            if batch.kind == "orders":
                error = _preview_order(batch, row_no, cells, tz, promoters)
            elif batch.kind == "promoters":
                read_promoter(batch, row_no, cells, tz)
            else:
                read_product(batch, cells)
        except RowError as err:
            error = str(err.message)
        out.append(PreviewRow(row_no, values, error))
        if len(out) >= limit:
            break
    return out


def _preview_order(batch, row_no, cells, tz, promoters) -> str | None:
    line = read_order_line(batch, row_no, cells, tz)
    if line is None:
        return str(_l("缺少订单号，该行不导入。"))
    try:
        data = _order_input(batch, [line], promoters)
    except LineError as err:
        return str(err.error.message)
    try:  # what placing it would refuse (unknown SKU or promoter, a price above the catalogue's, …)
        orders.check_order(batch.brand_id, data)
    except ServiceError as err:
        return str(err.message)
    return None


# ---------------------------------------------------------------- starting and running


def start(batch: ImportBatch, user_id: int | None) -> Job:
    """Queue the import as a background job (once per file)."""
    if not batch.columns:
        raise ServiceError("mapping_required", _l("请先保存列对应。"), "columns")
    if batch.job_id is not None:
        return db.session.get(Job, batch.job_id)
    return jobs.create_job("import", brand_id=batch.brand_id, created_by_id=user_id,
                           before_commit=lambda job: _link(batch, job))


def _link(batch: ImportBatch, job: Job) -> None:
    batch.job_id = job.id


def _tz(brand_id: int) -> ZoneInfo:
    brand = db.session.get(Brand, brand_id)
    name = getattr(brand, "timezone", None) or current_app.config["DISTWEB_TIMEZONE"]
    return ZoneInfo(name)


_ROWS = ImportRow.__table__
_NOTE = (update(_ROWS).where(_ROWS.c.batch_id == bindparam("b_batch"), _ROWS.c.row_no == bindparam("b_row"))
         .values(reason=bindparam("reason")))


class Recorder:
    """Row outcomes, written in chunks with the checkpoint (one transaction each)."""

    def __init__(self, batch: Snapshot, progress, total: int, keep: tuple = ()):
        self.batch, self.progress, self.total, self.keep = batch, progress, total, keep
        self.pending: list[dict] = []
        self.notes: list[dict] = []  # reasons for rows already recorded (an order placed in this run)
        self.seen = 0

    def add(self, row_no: int, outcome: str, external_id: str | None = None, reason=None) -> None:
        self.pending.append({"batch_id": self.batch.id, "row_no": row_no, "outcome": outcome,
                             "external_id": (external_id or "")[:64] or None,
                             "reason": str(reason)[:400] if reason else None})

    def note(self, row_no: int, reason) -> None:
        self.notes.append({"b_batch": self.batch.id, "b_row": row_no, "reason": str(reason)[:400]})

    def checkpoint(self, last_row: int, force: bool = False) -> None:
        if not force and len(self.pending) + len(self.notes) < CHUNK_ROWS:
            return
        with transaction():
            if self.pending:
                db.session.connection().execute(insert_ignoring_duplicates(ImportRow.__table__, ("batch_id", "row_no")),
                                                self.pending)
            if self.notes:
                db.session.connection().execute(_NOTE, self.notes)
            if last_row > self.batch.rows_done:
                self.batch.rows_done = last_row
                db.session.execute(update(ImportBatch).where(ImportBatch.id == self.batch.id)
                                   .values(rows_done=last_row))
        self.seen += len(self.pending)
        self.pending, self.notes = [], []
        done = db.session.scalar(select(func.count()).where(ImportRow.batch_id == self.batch.id))
        percent = 5 + int(90 * done / self.total) if self.total else 95
        self.progress(min(percent, 95), "importing")


@dataclass
class Snapshot:
    """What a run reads of its batch, read once: the batch row itself would be read again
    after every commit (one query per order), and the session lets go of everything else
    between orders (``_release``)."""

    id: int
    brand_id: int
    kind: str
    source: str
    columns: dict
    options: dict
    headers: list
    rows_done: int

    @classmethod
    def of(cls, batch: ImportBatch) -> Snapshot:
        return cls(batch.id, batch.brand_id, batch.kind, batch.source, dict(batch.columns or {}),
                   dict(batch.options or {}), list(batch.headers or []), batch.rows_done or 0)


@dataclass(frozen=True)
class BrandRef:
    """The brand as the services take it when they need only its id."""

    id: int


def _release(keep: tuple) -> None:
    """Let go of every object the session holds but ``keep``. An order, its items, lines and
    accounts reference each other, so the identity map would hold them until the garbage
    collector runs, and every commit expires all it holds: the cost of a commit would grow
    with the orders imported so far."""
    session = db.session()
    for obj in list(session.identity_map.values()):
        if obj in session and not any(obj is k for k in keep):
            session.expunge(obj)


def run(job: Job, progress) -> dict:
    """Carry out the import recorded for this job (safe to run again; resumes after its
    checkpoint)."""
    batch = batch_for_job(job.id)
    if batch is None:
        return {"rows": "0"}
    if batch.finished_at is not None:  # done, and its file deleted: the rows say what happened
        return {key: str(value) for key, value in counts(batch).items()}
    path = file_path(batch)
    header_row, _headers = import_files.read_header(path, batch.file_format, batch.encoding)
    if batch.total_rows is None:
        progress(2, "counting")
        with transaction():
            batch.total_rows = import_files.count_rows(path, batch.file_format, batch.encoding, header_row)
    snap = Snapshot.of(batch)
    recorder = Recorder(snap, progress, batch.total_rows, keep=(job,))
    rows = import_files.data_rows(path, batch.file_format, batch.encoding, header_row, snap.headers)
    if snap.kind == "orders":
        _run_orders(snap, rows, recorder)
    elif snap.kind == "promoters":
        _run_promoters(snap, rows, recorder)
    else:
        _run_products(snap, rows, recorder)
    batch = db.session.get(ImportBatch, snap.id)
    with transaction():
        batch.finished_at = utcnow()
    # The export holds buyers' names, phones and addresses: not kept once imported (the rows'
    # outcomes are in the database).
    path.unlink(missing_ok=True)
    return {key: str(value) for key, value in counts(batch).items()}


def counts(batch: ImportBatch) -> dict[str, int]:
    found = dict(db.session.execute(select(ImportRow.outcome, func.count()).where(ImportRow.batch_id == batch.id)
                                    .group_by(ImportRow.outcome)).all())
    return {outcome: found.get(outcome, 0) for outcome in OUTCOMES}


def _recorded(batch: ImportBatch) -> dict[int, str]:
    """Rows past the checkpoint that a killed run recorded in their own transaction."""
    return dict(db.session.execute(select(ImportRow.row_no, ImportRow.outcome).where(
        ImportRow.batch_id == batch.id, ImportRow.row_no > (batch.rows_done or 0))).all())


# ---------------------------------------------------------------- orders


def _order_groups(batch: ImportBatch, rows, tz: ZoneInfo, recorder: Recorder) -> Iterator[list[OrderLine]]:
    """Consecutive rows with the same order number: one order (one row per item)."""
    group: list[OrderLine] = []
    for row_no, cells in rows:
        if row_no <= (batch.rows_done or 0):
            continue
        line = read_order_line(batch, row_no, cells, tz)
        if line is None:
            recorder.add(row_no, "skipped", None, _reason(RowError("missing_external_id", _l("缺少订单号。"))))
            continue
        if group and group[0].external_id != line.external_id:
            yield group
            group = []
        group.append(line)
    if group:
        yield group


def _run_orders(batch: ImportBatch, rows, recorder: Recorder) -> None:
    tz = _tz(batch.brand_id)
    promoters = Promoters(batch.brand_id)
    recorded = _recorded(batch)
    done_ids: set[str] = set()
    last_row = batch.rows_done or 0
    brand = BrandRef(batch.brand_id)
    for group in _order_groups(batch, rows, tz, recorder):
        _import_order(batch, brand, group, promoters, recorder, recorded, done_ids)
        _release(recorder.keep)
        last_row = group[-1].row_no
        recorder.checkpoint(last_row)
    recorder.checkpoint(last_row, force=True)


def _import_order(batch, brand, group: list[OrderLine], promoters: Promoters, recorder: Recorder,
                  recorded: dict[int, str], done_ids: set[str]) -> None:
    external_id = group[0].external_id
    if external_id in done_ids:
        for line in group:
            recorder.add(line.row_no, "skipped", external_id,
                         _reason(RowError("rows_apart", _l("同一订单的行在文件中不相邻，这些行未导入（请把同一订单的行放在一起）。"))))
        return
    done_ids.add(external_id)
    order = db.session.scalars(select(Order).where(Order.brand_id == batch.brand_id,
                                                   Order.external_id == external_id)).first()
    outcome, reason = None, None
    if order is None:
        if _words(group[0].status, CANCELLED_WORDS):
            for line in group:
                recorder.add(line.row_no, "skipped", external_id,
                             _reason(RowError("order_closed", _l("订单已取消或关闭，不导入。"))))
            return
        try:
            data = _order_input(batch, group, promoters)
            order = orders.place_order(brand, data, before_commit=lambda o: _record_created(batch, group))
            outcome = "created"
        except LineError as err:
            _skip_group(group, recorder, err.line, _reason(err.error))
            return
        except ServiceError as err:
            db.session.rollback()
            _skip_group(group, recorder, _line_of(group, err.field), _reason(err))
            return
    elif recorded.get(group[0].row_no) == "created":
        outcome = "created"  # placed by a run that was killed before its checkpoint
    try:
        changed = _apply_changes(batch, order, group)
    except ServiceError as err:
        db.session.rollback()
        changed, reason = None, _reason(err)
    if outcome is None:
        outcome = changed or ("skipped" if reason else "unchanged")
    elif changed and changed != "created":
        reason = reason or {"refunded": _l("已同时导入退款。"), "updated": _l("已同时更新状态。")}[changed]
    for line in group:
        if outcome == "created":  # its rows were written with the order
            if reason:
                recorder.note(line.row_no, reason)
            recorder.add(line.row_no, outcome, external_id, reason)  # a no-op unless that write was lost
        else:
            recorder.add(line.row_no, outcome, external_id, reason)


def _record_created(batch: ImportBatch, group: list[OrderLine]) -> None:
    """The order's rows, written in its own transaction: a resumed run knows it placed it."""
    db.session.connection().execute(insert_ignoring_duplicates(ImportRow.__table__, ("batch_id", "row_no")), [
        {"batch_id": batch.id, "row_no": line.row_no, "outcome": "created", "external_id": line.external_id,
         "reason": None} for line in group])


def _skip_group(group: list[OrderLine], recorder: Recorder, at: OrderLine, reason: str) -> None:
    for line in group:
        if line is at:
            recorder.add(line.row_no, "skipped", line.external_id, reason)
        else:
            recorder.add(line.row_no, "skipped", line.external_id,
                         _l("同一订单的第 %(row)s 行有误，整单未导入。", row=at.row_no))


def _apply_changes(batch: ImportBatch, order: Order, group: list[OrderLine]) -> str | None:
    """What the file says beyond the order as it stands: more refunded, completed or
    cancelled. Returns "refunded", "updated" or None (nothing to do)."""
    changed = None
    status = group[0].status
    if not (_words(status, CANCELLED_WORDS + COMPLETED_WORDS)
            or any(line.refund_fen or line.completed_at for line in group)):
        return None  # the file says nothing beyond the order itself
    if _words(status, CANCELLED_WORDS):
        if order.status in (OrderStatus.CREATED, OrderStatus.PAID):
            orders.cancel(batch.brand_id, order.id, _text(status))
            return "updated"
        return None
    refunds = []
    by_sku = {item.sku: item for item in order.items}
    for line in group:
        item = by_sku.get(line.sku)
        if item is None or line.refund_fen is None:
            continue
        more = line.refund_fen - item.refunded_fen
        if more > 0:
            refunds.append(orders.RefundItemInput(sku=item.sku, amount_fen=more))
    if refunds and order.status not in (OrderStatus.CREATED, OrderStatus.CANCELLED):
        total_after = order.refunded_fen + sum(r.amount_fen for r in refunds)
        orders.refund(batch.brand_id, order.id, f"import-{total_after}", refunds, reason=_text(status))
        changed = "refunded"
    completed_at = next((line.completed_at for line in group if line.completed_at), None)
    if (completed_at or _words(status, COMPLETED_WORDS)) and order.status in (OrderStatus.PAID, OrderStatus.SHIPPED):
        orders.complete(batch.brand_id, order.id, completed_at)
        changed = changed or "updated"
    return changed


# ---------------------------------------------------------------- promoters


@dataclass
class PromoterLine:
    row_no: int
    external_id: str
    name: str | None
    phone: str | None
    upline: str | None
    rank: str | None
    distributor: bool
    joined_at: datetime | None


RANKS = {"推客": "promoter", "导师": "mentor", "合伙人": "partner"}


def read_promoter(batch: ImportBatch, row_no: int, cells: dict, tz: ZoneInfo) -> PromoterLine:
    values = _values(batch, cells)
    labels = _labels("promoters")
    external_id = _text(values.get("external_id"))
    if external_id is None:
        raise RowError("missing_external_id", _l("缺少原编号。"), "external_id")
    if len(external_id) > 64:
        raise RowError("invalid_external_id", _l("原编号最长 64 个字符。"), "external_id")
    rank = _text(values.get("rank"))
    rank = RANKS.get(rank, rank.lower() if rank else None)
    return PromoterLine(row_no=row_no, external_id=external_id, name=_text(values.get("name")),
                        phone=_text(values.get("phone")), upline=_text(values.get("upline")), rank=rank,
                        distributor=bool(_flag(values.get("distributor"))),
                        joined_at=_time(values.get("joined_at"), "joined_at", labels["joined_at"], tz))


def _run_promoters(batch: ImportBatch, rows, recorder: Recorder) -> None:
    """Promoters with their uplines, which may come later in the file than their downlines:
    the rows are read first (small), then created parents first. A row whose upline is
    neither in the file, nor imported before, nor one of our invite codes is reported; so is
    every row of a cycle (and the rows below a row that failed)."""
    tz = _tz(batch.brand_id)
    recorded = _recorded(batch)
    brand = BrandRef(batch.brand_id)
    known: dict[str, int] = dict(db.session.execute(select(ImportKey.external_id, ImportKey.target_id).where(
        ImportKey.brand_id == batch.brand_id, ImportKey.kind == "promoters", ImportKey.source == batch.source)).all())
    lines: dict[str, PromoterLine] = {}
    last_row = 0
    for row_no, cells in rows:
        last_row = row_no
        if row_no in recorded:
            continue
        try:
            line = read_promoter(batch, row_no, cells, tz)
        except RowError as err:
            recorder.add(row_no, "skipped", None, _reason(err))
            continue
        if line.external_id in lines:
            recorder.add(row_no, "skipped", line.external_id, _reason(RowError("duplicate_id", _l(
                "原编号 %(id)s 在第 %(row)s 行已出现。", id=line.external_id, row=lines[line.external_id].row_no))))
            continue
        if line.external_id in known:
            recorder.add(row_no, "unchanged", line.external_id, _l("已导入过。"))
            continue
        lines[line.external_id] = line
    recorder.checkpoint(0, force=True)
    children: dict[str, list[PromoterLine]] = {}
    ready: list[tuple[PromoterLine, str | None]] = []
    for line in sorted(lines.values(), key=lambda x: x.row_no):
        upline = line.upline
        if not upline:
            ready.append((line, None))
        elif upline == line.external_id:
            recorder.add(line.row_no, "skipped", line.external_id,
                         _reason(RowError("cycle", _l("上级是自己（循环）。"), "upline")))
        elif upline in lines:
            children.setdefault(upline, []).append(line)
        elif upline in known:
            ready.append((line, _code_of(known[upline])))
        elif (found := network.by_code(upline.upper(), batch.brand_id)) is not None:
            ready.append((line, found.code))
        else:
            recorder.add(line.row_no, "skipped", line.external_id, _reason(RowError("unknown_upline", _l(
                "上级 %(upline)s 既不在文件中，也不是已有推客。", upline=upline[:40]), "upline")))
    placed: set[str] = set()
    while ready:
        line, upline_code = ready.pop()
        try:
            promoter = network.import_promoter(
                brand, line.name or "", line.phone, upline_code, line.rank, distributor=line.distributor,
                joined_at=line.joined_at, before_commit=lambda p, line=line: _record_promoter(batch, line, p))
        except ServiceError as err:
            db.session.rollback()
            recorder.add(line.row_no, "skipped", line.external_id, _reason(err))
            _skip_below(line, children, recorder, placed)
            continue
        placed.add(line.external_id)
        ready.extend((child, promoter.code) for child in children.pop(line.external_id, []))
        _release(recorder.keep)
        recorder.checkpoint(0)
    # What is left is in a cycle of uplines, or below one.
    remaining = {line.external_id: line for stuck in children.values() for line in stuck
                 if line.external_id not in placed}
    in_cycle: set[str] = set()
    for start_id in remaining:
        path, current = [], start_id
        while current in remaining and current not in path:
            path.append(current)
            current = remaining[current].upline
        if current in path:
            in_cycle.update(path[path.index(current):])
    for line in sorted(remaining.values(), key=lambda x: x.row_no):
        if line.external_id in in_cycle:
            error = RowError("cycle", _l("上级关系成环（%(id)s 的上级链回到了自己），无法导入。", id=line.external_id[:40]),
                             "upline")
        else:
            error = RowError("upline_in_cycle", _l("上级 %(upline)s 处在成环的上级关系中，无法导入。",
                                                   upline=(line.upline or "")[:40]), "upline")
        recorder.add(line.row_no, "skipped", line.external_id, _reason(error))
    recorder.checkpoint(last_row, force=True)


def _code_of(promoter_id: int) -> str | None:
    return db.session.scalar(select(Promoter.code).where(Promoter.id == promoter_id))


def _skip_below(line: PromoterLine, children: dict, recorder: Recorder, placed: set[str]) -> None:
    stack = list(children.pop(line.external_id, []))
    while stack:
        child = stack.pop()
        recorder.add(child.row_no, "skipped", child.external_id, _reason(RowError("upline_failed", _l(
            "上级（第 %(row)s 行）未能导入。", row=line.row_no), "upline")))
        stack.extend(children.pop(child.external_id, []))


def _record_promoter(batch: ImportBatch, line: PromoterLine, promoter: Promoter) -> None:
    db.session.add(ImportKey(brand_id=batch.brand_id, kind="promoters", source=batch.source,
                             external_id=line.external_id, target_id=promoter.id))
    db.session.add(ImportRow(batch_id=batch.id, row_no=line.row_no, outcome="created", external_id=line.external_id,
                             reason=None))


# ---------------------------------------------------------------- products


def read_product(batch: ImportBatch, cells: dict) -> tuple[str, catalogue.ProductInput]:
    values = _values(batch, cells)
    labels = _labels("products")
    sku = _text(values.get("sku"))
    if sku is None:
        raise RowError("missing_sku", _l("缺少商品编码。"), "sku")
    price = _fen(values.get("price"), "price", labels["price"])
    if price is None:
        raise RowError("missing_price", _l("缺少售价。"), "price")
    modes_text = _text(values.get("modes")) or "promotion"
    names = {"推广": "promotion", "代销": "consignment", "经销": "wholesale"}
    modes = tuple(names.get(m.strip(), m.strip().lower()) for m in modes_text.replace("，", ",").replace("、", ",").split(",")
                  if m.strip())
    active = _flag(values.get("active"))
    data = catalogue.ProductInput(
        name=_text(values.get("name")) or "", price_fen=price,
        supply_cost_fen=_fen(values.get("supply_cost"), "supply_cost", labels["supply_cost"]) or 0,
        wholesale_price_fen=_fen(values.get("wholesale_price"), "wholesale_price", labels["wholesale_price"]),
        supplier_code=_text(values.get("supplier")), category=_text(values.get("category")), modes=modes,
        active=active is not False)
    return sku, data


def _run_products(batch: ImportBatch, rows, recorder: Recorder) -> None:
    recorded = _recorded(batch)
    brand = BrandRef(batch.brand_id)
    last_row = batch.rows_done or 0
    for row_no, cells in rows:
        if row_no <= (batch.rows_done or 0) or row_no in recorded:
            continue
        last_row = row_no
        try:
            sku, data = read_product(batch, cells)
        except RowError as err:
            recorder.add(row_no, "skipped", None, _reason(err))
            continue
        try:
            catalogue.upsert_product(brand, sku, data, before_commit=lambda p, created, row_no=row_no, sku=sku:
                                     _record_product(batch, row_no, sku, created))
        except ServiceError as err:
            db.session.rollback()
            recorder.add(row_no, "skipped", sku, _reason(err))
        _release(recorder.keep)
        recorder.checkpoint(last_row)
    recorder.checkpoint(last_row, force=True)


def _record_product(batch: ImportBatch, row_no: int, sku: str, created: bool) -> None:
    db.session.add(ImportRow(batch_id=batch.id, row_no=row_no, outcome="created" if created else "updated",
                             external_id=sku[:64], reason=None))


# ---------------------------------------------------------------- the summary


SUMMARY_CHUNK = 2000


def summary_rows(batch: ImportBatch) -> Iterator[tuple[int, str | None, str, str | None]]:
    """(row, external id, outcome, reason) for every recorded row, in row order, read in
    chunks (a 100,000-row summary never sits in memory at once)."""
    after = 0
    while True:
        chunk = db.session.execute(select(ImportRow.row_no, ImportRow.external_id, ImportRow.outcome, ImportRow.reason)
                                   .where(ImportRow.batch_id == batch.id, ImportRow.row_no > after)
                                   .order_by(ImportRow.row_no).limit(SUMMARY_CHUNK)).all()
        if not chunk:
            return
        yield from (tuple(row) for row in chunk)
        after = chunk[-1][0]


def skipped_rows(batch: ImportBatch, limit: int = 50) -> list[ImportRow]:
    return list(db.session.scalars(select(ImportRow).where(ImportRow.batch_id == batch.id,
                                                          ImportRow.outcome == "skipped")
                                   .order_by(ImportRow.row_no).limit(limit)))


def discard(batch: ImportBatch) -> None:
    """Forget an upload that was never started (its file too)."""
    if batch.job_id is not None:
        raise ServiceError("import_started", _l("已开始的导入不能删除。"))
    path = file_path(batch)
    with transaction():
        db.session.execute(delete(ImportRow).where(ImportRow.batch_id == batch.id))
        db.session.delete(batch)
    path.unlink(missing_ok=True)
