"""A SQLite engine that keeps its connections open between transactions.

Piccolo's `SQLiteEngine` opens a new aiosqlite connection (a new thread plus `sqlite3.connect`)
for every transaction and every query outside one, and spends four round trips to that thread
on each query (`PRAGMA foreign_keys`, execute, fetch, close the cursor). For a request reading a
page of rows that was most of its CPU time (measured by `benchmarks/api_list.py`).

While started (`start_connection_pool`, called by `start_database`), this engine keeps up to
`max_idle` idle connections and gives each transaction, or each query outside one, a connection
of its own for its whole duration, so SQLite's locking and isolation are exactly as before: one
writer at a time, every reader on its own snapshot (WAL). A query is one round trip (execute and
fetch together); `PRAGMA foreign_keys = 1` is set once per connection. A connection returns to the
pool only outside a transaction; one that cannot be cleaned up is closed instead.

Not started (migrations, one-off scripts) it opens and closes a connection each time, like
Piccolo's engine, so nothing stays open without an owner to close it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import Any

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory

#: Before 3.35 SQLite has no RETURNING; Piccolo then reads inserted keys with a second query.
_RETURNING = sqlite3.sqlite_version_info >= (3, 35)


class PooledSQLiteTransaction(SQLiteTransaction):
    __slots__ = ()

    async def get_connection(self) -> aiosqlite.Connection:
        return await self.engine.acquire()

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception is not None:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                await self.commit()
        finally:
            # Also when COMMIT itself failed: the connection is cleaned up or closed, never lost.
            await self.engine.release(self.connection)
            self.engine.current_transaction.reset(self.context)
        return exception is None


class PooledSQLiteEngine(SQLiteEngine):
    def __init__(self, path: str, *, max_idle: int = 10, **connection_kwargs: Any) -> None:
        super().__init__(path=path, **connection_kwargs)
        self.max_idle = max_idle
        self._idle: list[aiosqlite.Connection] = []
        self._pooling = False

    # -- pool life cycle (same names as PostgresEngine) -----------------------------------------

    async def start_connection_pool(self, max_size: int | None = None, **_: Any) -> None:
        if max_size is not None:
            self.max_idle = max_size
        self._pooling = True

    async def close_connection_pool(self) -> None:
        self._pooling = False
        idle, self._idle = self._idle, []
        for connection in idle:
            await _close(connection)

    @property
    def pooling(self) -> bool:
        return self._pooling

    # -- connections ----------------------------------------------------------------------------

    async def _connect(self) -> aiosqlite.Connection:
        connection = aiosqlite.connect(**self.connection_kwargs)
        # A pooled connection's worker thread must never keep the interpreter alive at exit when
        # some caller forgot to stop the database (aiosqlite's threads are not daemons).
        thread = getattr(connection, "_thread", connection)
        if isinstance(thread, threading.Thread) and not thread.is_alive():
            thread.daemon = True
        await connection
        connection.row_factory = dict_factory
        await connection.execute_fetchall("PRAGMA foreign_keys = 1")
        return connection

    async def acquire(self) -> aiosqlite.Connection:
        """A connection for the caller alone until `release`: an idle one, else a new one."""
        import os, asyncio
        limit = int(os.environ.get("XPOOL", "0"))
        if limit and self._pooling:
            if not hasattr(self, "_sem"):
                self._sem = asyncio.Semaphore(limit)
            await self._sem.acquire()
        if self._idle:
            return self._idle.pop()
        return await self._connect()

    async def release(self, connection: aiosqlite.Connection) -> None:
        if hasattr(self, "_sem"):
            self._sem.release()
        if self._pooling and len(self._idle) < self.max_idle:
            try:
                if connection.in_transaction:
                    await connection.rollback()
            except Exception:  # noqa: BLE001 - a broken connection is closed below
                pass
            else:
                self._idle.append(connection)
                return
        await _close(connection)

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.deferred,
        allow_nested: bool = True,
    ) -> PooledSQLiteTransaction:
        return PooledSQLiteTransaction(
            engine=self, transaction_type=transaction_type, allow_nested=allow_nested
        )

    # -- queries --------------------------------------------------------------------------------

    async def _run_in_existing_connection(
        self, connection, query: str, args: list[Any] | None = None,
        query_type: str = "generic", table=None,
    ):
        if query_type == "insert" and not _RETURNING:
            return await super()._run_in_existing_connection(connection, query, args, query_type, table)
        return await connection.execute_fetchall(query, args or [])

    async def _run_in_new_connection(
        self, query: str, args: list[Any] | None = None, query_type: str = "generic", table=None,
    ):
        if not self._pooling or (query_type == "insert" and not _RETURNING):
            return await super()._run_in_new_connection(query, args, query_type, table)
        # isolation_level=None: outside a transaction every statement commits on its own.
        connection = await self.acquire()
        try:
            return await connection.execute_fetchall(query, args or [])
        finally:
            await self.release(connection)


async def _close(connection: aiosqlite.Connection) -> None:
    with contextlib.suppress(Exception):
        await connection.close()
