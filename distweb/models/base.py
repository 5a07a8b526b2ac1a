from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, TypeDecorator
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps are stored in UTC and always come back timezone-aware.

    SQLite has no time zones, so naive values read back are declared UTC; writing a naive
    datetime is a programming error and refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use distweb.models.base.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_INSERT_IGNORING: dict[tuple[str, str, tuple[str, ...]], object] = {}


def dialect_insert(table):
    """The engine's dialect's own ``insert(table)``, the construct that can say
    ``ON CONFLICT``: PostgreSQL and SQLite spell it alike, each through its own class."""
    from distweb.extensions import db

    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def insert_ignoring_duplicates(table, index_elements: tuple[str, ...]):
    """``INSERT … ON CONFLICT (index_elements) DO NOTHING`` on ``table``: one statement with
    one meaning on PostgreSQL and SQLite (each dialect's SQLAlchemy construct spells it),
    for rows a concurrent writer may have just written (the first one stands). Built once."""
    from distweb.extensions import db

    name = db.engine.dialect.name
    key = (name, table.name, tuple(index_elements))
    statement = _INSERT_IGNORING.get(key)
    if statement is None:
        statement = _INSERT_IGNORING[key] = dialect_insert(table).on_conflict_do_nothing(
            index_elements=list(index_elements))
    return statement


class json_object(FunctionElement):  # noqa: N801 — used like func.json_object
    """A JSON object built in SQL from alternating keys and values: PostgreSQL's
    ``json_build_object``, SQLite's ``json_object`` (the same result, spelled per dialect
    when the statement is compiled)."""

    type = JSON()
    inherit_cache = True
    name = "json_object"


@compiles(json_object)
def _json_object_default(element, compiler, **kw):
    return f"json_object({compiler.process(element.clauses, **kw)})"


@compiles(json_object, "postgresql")
def _json_object_postgresql(element, compiler, **kw):
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


def json_rows(param: str, columns: list[tuple[str, object]]):
    """A SELECT of rows sent as one JSON array of objects in the bind parameter ``param``
    (``[{"a": 1, "b": "x"}, ...]``), with these (name, SQLAlchemy type) columns: thousands
    of rows in one statement whose text never changes, so the driver and the server keep it
    prepared, for ``insert(...).from_select`` of rows computed in Python. PostgreSQL reads
    them with ``json_to_recordset``, SQLite with ``json_each``: one statement, one meaning,
    spelled per dialect (the values are plain numbers, strings and nulls)."""
    from sqlalchemy import String, bindparam, cast, column, func, select

    from distweb.extensions import db

    rows = bindparam(param, type_=String)
    if db.engine.dialect.name == "postgresql":
        source = (func.json_to_recordset(cast(rows, JSON))
                  .table_valued(*[column(name, type_) for name, type_ in columns])
                  .render_derived(name="r", with_types=True))
        return select(*[source.c[name] for name, _type in columns])
    source = func.json_each(rows).table_valued("value", name="r")
    return select(*[func.json_extract(source.c.value, f"$.{name}", type_=type_).label(name)
                    for name, type_ in columns])
