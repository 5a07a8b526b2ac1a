"""The one transaction helper services use."""

from __future__ import annotations

import itertools
import weakref
from contextlib import contextmanager

from flask import g
from flask.globals import _cv_request
from psycopg import errors, pq
from psycopg._queries import PostgresQuery  # what psycopg's cursors use for the same job
from psycopg.adapt import Transformer
from sqlalchemy.exc import OperationalError

from distweb.db_setup import connection_lost, sqlite_write
from distweb.extensions import db


@contextmanager
def transaction():
    """Commit what the block did, or roll all of it back; nothing half-written survives.
    On SQLite the block holds the write lock from its start (``db_setup.sqlite_write``)."""
    session = db.session()
    if session.get_bind().dialect.name == "sqlite":
        with sqlite_write(session):
            yield from _committed(session)
    else:
        yield from _committed(session)


def _committed(session):
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def read(statement, params: dict | None = None):
    """Run a read-only statement that returns plain rows (columns, no ORM entities) on the
    session's connection, inside the session's transaction (the same snapshot as the rest
    of the request). It skips the ORM's per-statement set-up and result processing, which
    cost several times the query itself for the small statements the pages run on every
    request. Pending changes are flushed first, as the session would before a query."""
    session = db.session()
    _flush_pending(session)
    return session.connection().execute(statement, params)


def _flush_pending(session) -> None:
    """Write the session's pending changes first, as the session does before a query."""
    if session.new or session.dirty or session.deleted:
        session.flush()


class FastRead:
    """A read-only statement for the pages every signed-in user opens many times a day (the
    session's user, the promoter home), run the short way.

    ``read()`` still pays, per execution, for SQLAlchemy's general machinery: expanding IN
    lists, binding and converting each parameter through the compiled statement, building a
    result object — three times the cost of the query itself on SQLite. Here the statement is
    compiled once per database (and per length of its one expanding list, if any) into SQL
    text plus the bind and result processors SQLAlchemy itself chose for each parameter and
    column, and each execution is one DBAPI cursor call. Rows are plain named tuples with the
    statement's column names.

    Where it runs: inside the session's transaction when the session has one (or has pending
    changes, flushed first), so it sees what the request wrote; otherwise, in a GET or HEAD
    request, on the request's *reader*, a pooled connection in autocommit mode that each
    statement reads committed data on: a page that only reads (the promoter home) then never
    starts an ORM session, whose transaction set-up and teardown cost more than its queries.
    Released at the end of the app context (``release_reader``). Anything else (a POST, a job,
    a command) starts the session's transaction and reads in it.

    ``expanding`` names the statement's one list parameter (``bindparam(name, expanding=True)``),
    if it has one; other IN lists must be constants, written as literal SQL."""

    def __init__(self, statement, expanding: str | None = None):
        self.statement = statement
        self.expanding = expanding
        self._plans: dict = {}

    def __call__(self, params: dict) -> list:
        dbapi_connection, dialect = _connection_for_fast_read()
        size = len(params[self.expanding]) if self.expanding else None
        plan = self._plans.get((dialect.name, size))
        if plan is None:
            plan = self._plans[(dialect.name, size)] = _FastPlan(self.statement, dialect, self.expanding, size)
        try:
            if dialect.driver == "psycopg" and dbapi_connection.autocommit:  # the reader
                rows = _pg_exec_prepared(dbapi_connection, plan, params)
            else:
                cursor = dbapi_connection.cursor()
                try:
                    cursor.execute(plan.sql, plan.bind(params))
                    rows = cursor.fetchall()
                finally:
                    cursor.close()
        except errors.Error as err:
            if not connection_lost(err, dbapi_connection):
                raise
            _discard_lost(dbapi_connection, err)
            # As SQLAlchemy would have raised it: the app answers 503, and the session's
            # rollback skips the connection it now knows is gone (a raw psycopg error was a 500,
            # and the rollback at the end of the request failed on the dead connection).
            raise OperationalError(plan.sql, None, err, connection_invalidated=True) from err
        return [plan.row(values) for values in rows]

    def first(self, params: dict):
        rows = self(params)
        return rows[0] if rows else None


_READER = "_distweb_reader"


def _discard_lost(dbapi_connection, err: BaseException) -> None:
    """The server ended the connection a fast read ran on: tell its owner (the session's
    connection, or the pool for the reader), which discards it."""
    registry = db.session.registry
    if registry.has() and registry().in_transaction():
        connection = registry().connection()
        if connection.connection.dbapi_connection is dbapi_connection:
            connection.invalidate(err)
            return
    reader = g.get(_READER)
    if reader is not None and reader.dbapi_connection is dbapi_connection:
        g.pop(_READER)
        reader.invalidate(err)


def _connection_for_fast_read():
    """(DBAPI connection, dialect): the session's when it is in a transaction, else the reader."""
    registry = db.session.registry
    if registry.has():
        session = registry()
        _flush_pending(session)
        if session.in_transaction():
            connection = session.connection()
            return connection.connection.dbapi_connection, connection.dialect
    # The reader only serves requests that read (GET, HEAD): a request that is there to write
    # reads inside its own transaction, on one connection, as before.
    ctx = _cv_request.get(None)
    if ctx is None or ctx.request.method not in ("GET", "HEAD"):
        connection = db.session().connection()
        return connection.connection.dbapi_connection, connection.dialect
    reader = g.get(_READER)
    if reader is None:
        engine = db.engine
        reader = engine.raw_connection()  # the pool's checkout checks it, as for the session
        if engine.dialect.driver == "psycopg":
            reader.driver_connection.autocommit = True
        # SQLite: its connections run without an implicit transaction (db_setup) unless BEGIN.
        setattr(g, _READER, reader)
    return reader.dbapi_connection, db.engine.dialect


# --- PostgreSQL: the reader's statements as one libpq call ----------------------------------
#
# psycopg runs a query as a Python generator that sends, polls and receives in separate steps,
# each releasing and retaking the GIL. Alone that costs little; in a web worker's threads every
# release hands the GIL to another thread and the thread must queue to get it back: measured
# in-process with four threads, the promoter home made about 40 futex calls per request this
# way, against 9 with libpq's blocking PQexecPrepared, which holds the GIL released for the
# whole round trip (and the home served 21 % more requests per second). So on the autocommit
# reader the statement is prepared once per connection under its own name and executed with
# PQexecPrepared, its parameters dumped and its rows loaded by psycopg's own adapters (the
# same Python values as through a cursor). Only there: an error inside a transaction would
# abort it, and the reader has none.

_PG_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # libpq connection -> names
_PG_NAMES = itertools.count(1)
_PG_UNDEFINED_STATEMENT = b"26000"  # invalid_sql_statement_name


def _pg_exec_prepared(connection, plan, params: dict) -> list:
    transformer = Transformer(connection)
    query = PostgresQuery(transformer)
    query.convert(plan.sql, plan.bind(params))
    if plan.pg_name is None:
        plan.pg_name = b"distweb_fast_read_%d" % next(_PG_NAMES)
    pgconn = connection.pgconn
    prepared = _PG_PREPARED.get(pgconn)
    if prepared is None:
        prepared = _PG_PREPARED[pgconn] = set()
    for attempt in (1, 2):
        if plan.pg_name not in prepared:
            result = pgconn.prepare(plan.pg_name, query.query, query.types)
            if result.status != pq.ExecStatus.COMMAND_OK:
                raise errors.error_from_result(result)
            prepared.add(plan.pg_name)
        result = pgconn.exec_prepared(plan.pg_name, query.params, query.formats)
        if result.status == pq.ExecStatus.TUPLES_OK:
            break
        if attempt == 1 and result.error_field(pq.DiagnosticField.SQLSTATE) == _PG_UNDEFINED_STATEMENT:
            # psycopg deallocates every prepared statement of a connection when a transaction
            # on it rolls back (DEALLOCATE ALL): prepare it again.
            prepared.discard(plan.pg_name)
            continue
        raise errors.error_from_result(result)
    transformer.set_pgresult(result)
    return transformer.load_rows(0, result.ntuples, tuple)


def release_reader() -> None:
    """Give the app context's reader back to the pool (teardown)."""
    reader = g.pop(_READER, None)
    if reader is None:
        return
    try:
        if reader.dbapi_connection is not None and db.engine.dialect.driver == "psycopg":
            reader.driver_connection.autocommit = False  # as the pool hands connections out
    finally:
        reader.close()


def _sql_literal(bind, value, dialect) -> str | None:
    """A constant parameter as SQL text, for plain integers and strings only (SQLAlchemy's own
    literal rendering for its type); None to keep it a parameter."""
    if type(value) is not int and not isinstance(value, str):  # enum members are str too
        return None
    try:
        render = bind.type.literal_processor(dialect)
    except NotImplementedError:
        return None
    return render(value) if render is not None else None


class _FastPlan:
    def __init__(self, statement, dialect, expanding: str | None, size: int | None):
        from collections import namedtuple

        compiled = statement.compile(dialect=dialect)
        sql = compiled.string
        binds = compiled.binds
        names = list(compiled.positiontup) if compiled.positional else list(compiled.bind_names.values())
        # Each placeholder: the caller's parameter (or the element of the list) it takes, or
        # the constant built into the statement, and SQLAlchemy's processor for its type.
        self._sources: list[tuple[str, object, object]] = []
        for name in names:
            bind = binds[name]
            if bind.expanding and name != expanding:
                raise ValueError(f"FastRead: {name!r} is an IN list; use literal SQL for constants")
            processor = bind.type._cached_bind_processor(dialect)
            if name == expanding:
                token = f"__[POSTCOMPILE_{name}]"
                if compiled.positional:
                    placeholders = ", ".join(["?"] * size)
                else:
                    placeholders = ", ".join(f"%({name}_{n})s" for n in range(size))
                sql = sql.replace(token, placeholders)
                self._sources += [(f"{name}_{n}", (name, n), processor) for n in range(size)]
            elif bind.required:
                self._sources.append((name, name, processor))
            else:  # a value written into the statement (a 0 in coalesce(), an account kind)
                value = bind.effective_value
                literal = None if compiled.positional else _sql_literal(bind, value, dialect)
                if literal is not None:
                    # Written into the SQL text: one parameter fewer to convert and send on
                    # every execution (the home's statement has twenty such constants).
                    sql = sql.replace(f"%({name})s", literal.replace("%", "%%"))
                    continue
                self._sources.append((name, ("constant", processor(value) if processor else value), None))
        if "__[POSTCOMPILE_" in sql:
            raise ValueError("FastRead: an IN list other than the expanding parameter; use literal SQL for constants")
        self.sql = sql
        self.pg_name: bytes | None = None  # its prepared statement's name on the reader
        self._positional = compiled.positional
        columns = compiled._result_columns
        self._processors = [column.type._cached_result_processor(dialect, None) for column in columns]
        self._convert = any(p is not None for p in self._processors)
        self._row_class = namedtuple("Row", [column.keyname for column in columns], rename=True)

    def bind(self, params: dict):
        values = []
        for _name, source, processor in self._sources:
            if type(source) is str:
                value = params[source]
            elif source[0] == "constant":
                values.append(source[1])
                continue
            else:
                value = params[source[0]][source[1]]
            values.append(processor(value) if processor is not None else value)
        if self._positional:
            return values
        return {name: value for (name, _, _), value in zip(self._sources, values, strict=True)}

    def row(self, values):
        if self._convert:
            values = [p(v) if p is not None else v for p, v in zip(self._processors, values, strict=True)]
        return self._row_class._make(values)
