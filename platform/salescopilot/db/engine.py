"""Database engines built from settings, and the binding of every table to the app's engine.

Two connections exist on PostgreSQL: the *app* engine (a role that does not own the tables, so
row-level security binds it) and the *owner* engine (migrations only). On SQLite both are the same
file. Tables are bound explicitly at start-up instead of through Piccolo's engine finder, so no
table can silently fall back to the owner connection.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
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
            min_size=settings.database.pool_min_size, max_size=settings.database.pool_max_size
        )
    elif isinstance(engine, PooledSQLiteEngine):
        await engine.start_connection_pool(max_size=settings.database.pool_max_size)
    _holders = 1
    return engine


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
