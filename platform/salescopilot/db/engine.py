"""Database engines built from settings, and the binding of every table to the app's engine.

Two connections exist on PostgreSQL: the *app* engine (a role that does not own the tables, so
row-level security binds it) and the *owner* engine (migrations only). On SQLite both are the same
file. Tables are bound explicitly at start-up instead of through Piccolo's engine finder, so no
table can silently fall back to the owner connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from salescopilot.db.sqlite_pool import PooledSQLiteEngine, sqlite_engine
from salescopilot.settings import Settings

os.environ.setdefault("PICCOLO_CONF", "salescopilot.db.piccolo_conf")

_app_engine: Engine | None = None
_app_engine_url: str | None = None
#: How many holders started the database (the web app, a test, a worker); the pool closes with
#: the last one, so an app started inside a test does not pull the engine from under the test.
_holders = 0


def engine_from_url(url: str) -> Engine:
    """An engine for `sqlite:///path` or `postgresql://...`; raises ValueError on anything else."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        # A generous busy timeout: in embedded mode web requests, tasks and the CLI share the file.
        # Pooled while started (see sqlite_pool.py); otherwise a connection per transaction.
        return sqlite_engine(str(path), timeout=30)
    if urlsplit(url).scheme in ("postgres", "postgresql"):
        # No extensions: the app role may not create them, and UUIDs are generated in Python.
        return PostgresEngine(config={"dsn": url}, extensions=())
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r}")


def is_postgres(engine: Engine) -> bool:
    return isinstance(engine, PostgresEngine)


def advisory_lock_key(purpose: str, tenant_id: uuid.UUID) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for (`purpose`, tenant)."""
    digest = hashlib.sha256(f"salescopilot.{purpose}:".encode() + tenant_id.bytes).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def all_tables() -> list[type[Table]]:
    from salescopilot.db.piccolo_app import APP_CONFIG

    return list(APP_CONFIG.table_classes)


def bind_tables(engine: Engine) -> None:
    """Point every table of the app at `engine`."""
    global _app_engine
    _app_engine = engine
    for table in all_tables():
        table._meta.db = engine


def get_engine() -> Engine:
    """The engine the app's tables are bound to. Raises if `configure_database` has not run."""
    if _app_engine is None:
        raise RuntimeError("database not configured: call configure_database(settings) first")
    return _app_engine


def configure_database(settings: Settings) -> Engine:
    """Build the app engine from settings and bind every table to it."""
    engine = engine_from_url(settings.database.url)
    bind_tables(engine)
    return engine


async def start_database(settings: Settings) -> Engine:
    """Configure the app engine and open its connection pool (PostgreSQL). A second start for the
    same URL shares the running engine."""
    global _app_engine_url, _holders
    if _app_engine is not None and _holders and _app_engine_url == settings.database.url:
        _holders += 1
        return _app_engine
    engine = configure_database(settings)
    _app_engine_url = settings.database.url
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(
            min_size=settings.database.pool_min_size, max_size=settings.database.pool_max_size,
            reset=_nothing_left_in_the_session,
        )
    elif isinstance(engine, PooledSQLiteEngine):
        await engine.start_connection_pool(max_size=settings.database.pool_max_size)
    _holders = 1
    return engine


async def _nothing_left_in_the_session(connection: object) -> None:
    """asyncpg's pool `reset` hook: nothing to do. asyncpg always ends a connection's open
    transaction before this hook; its default reset then runs one more query
    (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`), a round trip on every
    release (two or three per API request), for session state this app never creates: settings
    are `SET LOCAL` or `set_config(..., true)` (the tenant's id included), advisory locks are
    `_xact_` ones, nothing listens and no cursor outlives its transaction.
    tests/integration/db/test_pool_reset.py checks the pool hands out clean connections."""


async def stop_database() -> None:
    global _holders
    _holders = max(0, _holders - 1)
    if _holders:
        return
    engine = _app_engine
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        await engine.close_connection_pool()
    elif isinstance(engine, PooledSQLiteEngine):
        await engine.close_connection_pool()


@contextlib.asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[Engine]:
    """For commands and workers: the app engine started for the duration of the block."""
    engine = await start_database(settings)
    try:
        yield engine
    finally:
        await stop_database()


async def execute_many(statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run `statement` (with `{}` placeholders) once per row of values, in the current
    transaction, through the driver's own executemany: for batch inserts (a CSV import), where
    building one query per row, or one huge multi-row query, costs more than the insert itself.
    Values must be what the driver takes (the app's SQLite adapters convert UUIDs and times)."""
    engine = get_engine()
    transaction = engine.current_transaction.get()
    if transaction is None:
        raise RuntimeError("execute_many runs inside a transaction (a tenant scope)")
    if not rows:
        return
    if is_postgres(engine):
        parts = statement.split("{}")
        sql = "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))
        await transaction.connection.executemany(sql, rows)
    else:
        await transaction.connection.executemany(statement.replace("{}", "?"), rows)


async def fetch_all(statement: str, values: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows of one query (with `{}` placeholders) run in the current transaction straight on
    the driver: for lookups with a long `IN (...)` list of a batch's values, which Piccolo's query
    builder takes longer to assemble than the database takes to answer."""
    engine = get_engine()
    transaction = engine.current_transaction.get()
    if transaction is None:
        raise RuntimeError("fetch_all runs inside a transaction (a tenant scope)")
    if is_postgres(engine):
        parts = statement.split("{}")
        sql = "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))
        return [dict(row) for row in await transaction.connection.fetch(sql, *values)]
    return await transaction.connection.execute(statement.replace("{}", "?"), tuple(values))


async def commit_without_waiting_for_disk() -> None:
    """Let the current transaction's COMMIT return before its WAL is on disk (PostgreSQL's
    `synchronous_commit = off`, for this transaction only; nothing on SQLite).

    For batch work that is all-or-nothing and redone when lost (a scheduler pass): a server
    crash within the WAL writer's delay (a fraction of a second) loses the whole transaction,
    never part of it, and the next pass does it again. Nothing can act on its rows first: a
    transaction that reads them and commits as usual (the sender's claim of its messages)
    flushes the WAL through this commit before its own, since the WAL is one sequence."""
    engine = get_engine()
    transaction = engine.current_transaction.get()
    if transaction is None:
        raise RuntimeError("commit_without_waiting_for_disk runs inside a transaction (a tenant scope)")
    if is_postgres(engine):
        await transaction.connection.execute("SET LOCAL synchronous_commit TO OFF")


def among(
    table: str, columns: str, tenant_id: Any, column: str, wanted: Sequence[str]
) -> tuple[str, list[Any]]:
    """A `fetch_all` statement and its values: `columns` of the tenant's rows of `table` whose
    text `column` (unique per tenant) is one of `wanted` (a batch of a thousand). On PostgreSQL
    one array parameter and an index lookup per value, whatever the plan (an `= ANY($1)` filter
    under a generic plan compares each row with every value); `IN (...)` on SQLite."""
    if is_postgres(get_engine()):
        # LATERAL: one probe of the (tenant, column) index per value. A plain join let the planner
        # pick a hash join over a scan of the whole table while it grew during an import.
        return (
            f"SELECT {columns} FROM unnest({{}}::text[]) AS wanted(item) CROSS JOIN LATERAL "
            f"(SELECT * FROM {table} WHERE {table}.tenant = {{}} AND {table}.{column} = wanted.item "
            f"LIMIT 1) AS {table}",
            [list(wanted), tenant_id],
        )
    marks = ", ".join("{}" for _ in range(max(len(wanted), 1)))
    return f"SELECT {columns} FROM {table} WHERE tenant = {{}} AND {column} IN ({marks})", [tenant_id, *wanted]


def uuid_in(column: str, ids: Sequence[Any]) -> tuple[str, list[Any]]:
    """A `fetch_all` condition and its values: `column` is one of `ids` (a batch of UUIDs). One
    array parameter on PostgreSQL (a statement of one shape whatever the batch size)."""
    if is_postgres(get_engine()):
        return f"{column} = ANY({{}}::uuid[])", [list(ids)]
    if not ids:
        return "1 = 0", []
    return f"{column} IN ({', '.join('{}' for _ in ids)})", list(ids)


#: PostgreSQL array types of the column classes the batch writes use.
_PG_ARRAY_TYPES = {
    "UUID": "uuid[]", "Varchar": "text[]", "Text": "text[]", "Integer": "integer[]", "BigInt": "bigint[]",
    "Boolean": "boolean[]", "Timestamptz": "timestamptz[]", "JSON": "json[]",
}


def pg_array_type(column: Any) -> str:
    """The array type to pass a batch of `column`'s values as one parameter (`unnest`)."""
    return _PG_ARRAY_TYPES[type(column).__name__]


def pg_batch_columns(
    columns: Sequence[Any], values: Sequence[list[Any]], *, arrays: Sequence[int] = (0,)
) -> tuple[list[str], str, list[Any], list[Any]]:
    """The parts of a PostgreSQL statement over a batch of rows given column by column
    (`values[i]` is `columns[i]`'s value in every row, JSON already as text): each column's
    expression, the `unnest(...) AS v(...)` source, and the parameters of the expressions and of
    the source, in that order of the statement's `{}` placeholders.

    A column whose values are all the same (the tenant, a state, a time, a campaign's window) is
    one typed parameter instead of an array: the driver encodes every array element on its
    own, and a thousand copies of a value cost more than the statement's work. The columns at
    the `arrays` indexes are always arrays (the key, so the source has at least one)."""
    expressions: list[str] = []
    names: list[str] = []
    scalars: list[Any] = []
    source_values: list[Any] = []
    array_types: list[str] = []
    for index, (column, column_values) in enumerate(zip(columns, values, strict=True)):
        name = column._meta.db_column_name
        kind = pg_array_type(column)
        first = column_values[0] if column_values else None
        if index not in arrays and column_values and column_values.count(first) == len(column_values):
            expressions.append(f"{{}}::{kind[:-2]}")
            scalars.append(first)
        else:
            expressions.append(f'v."{name}"')
            names.append(f'"{name}"')
            array_types.append(f"{{}}::{kind}")
            source_values.append(column_values)
    source = f"unnest({', '.join(array_types)}) AS v({', '.join(names)})"
    return expressions, source, scalars, source_values
