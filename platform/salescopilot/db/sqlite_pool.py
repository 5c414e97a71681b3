"""The app's SQLite engine: pooled connections; cheap reads on the event loop, everything that
may wait for a lock on the connection's own thread.

Why: Piccolo's `SQLiteEngine` (through aiosqlite) opens a new connection and thread for every
transaction and every query outside one, and makes four round trips to that thread per query
(`PRAGMA foreign_keys`, execute, fetch, close the cursor). A round trip costs far more than a
small indexed read itself (tens of microseconds against a few), and a request that authenticates
an API key and reads one page of a list made five of them (measured by `benchmarks/api_list.py`).

How it stays correct:

- Each transaction, and each query outside one, has a connection to itself for its whole
  duration, so SQLite's locking and isolation are exactly as with Piccolo's engine.
- A statement runs on the event loop only when it cannot wait for a lock and its work is small
  or bounded, and only on a database in WAL mode, where readers never wait for writers: a SELECT
  (bounded below), a `BEGIN DEFERRED`, the COMMIT/ROLLBACK of a transaction that has written
  nothing, and a one-row INSERT in a transaction that already holds the write lock. Everything
  else (BEGIN IMMEDIATE, the first write of a transaction, UPDATE/DELETE, many-row inserts, DDL,
  PRAGMA, the COMMIT of a write, which syncs the file) runs on the connection's thread, where the
  busy timeout can run out without stalling other requests.
- A read on the event loop has a time budget (`INLINE_BUDGET_S`, enforced by SQLite's progress
  handler): one that takes longer is interrupted and run again on the thread, so a large export
  cannot stall the process. An interrupted SELECT keeps its transaction and snapshot.

While started (`start_connection_pool`, called by `start_database`) the engine keeps up to
`max_idle` idle connections; not started (migrations, one-off scripts) it closes each connection
after use. Idle worker threads end with the interpreter (`concurrent.futures` joins them).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType

T = TypeVar("T")

#: Before 3.35 SQLite has no RETURNING, and Piccolo reads inserted keys through a cursor of its
#: own; the app then uses Piccolo's engine unchanged (see `sqlite_engine`).
SUPPORTED = sqlite3.sqlite_version_info >= (3, 35)
#: Longest a read may run on the event loop before it moves to the connection's thread.
INLINE_BUDGET_S = 0.002
#: SQLite virtual-machine steps between two checks of the budget (a few microseconds of work).
PROGRESS_STEPS = 1000

_READS = ("SELECT",)
_NEXT_ROW = re.compile(r"\)\s*,\s*\(")
_BEGIN_READ = ("BEGIN", "BEGIN DEFERRED")
_ENDS = ("COMMIT", "ROLLBACK", "END")


class SQLiteConnection:
    """One sqlite3 connection and the single worker thread that runs its lock-taking statements.

    Used by one transaction (or query) at a time; the pool guarantees it."""

    def __init__(self, connection_kwargs: dict[str, Any]) -> None:
        self._kwargs = {**connection_kwargs, "check_same_thread": False}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        self.inline_reads = False
        #: A statement that may have written ran since the last COMMIT/ROLLBACK.
        self._wrote = False
        #: The open transaction holds the database's write lock.
        self._locked = False
        self._deadline = math.inf
        self._interrupted = False
        #: Statements run on the worker thread so far (the rest ran on the event loop).
        self.offloaded = 0

    async def open(self) -> SQLiteConnection:
        self._conn = await self._in_thread(self._connect)
        return self

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(**self._kwargs)
        connection.execute("PRAGMA foreign_keys = 1")
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        self.inline_reads = str(mode).lower() == "wal"
        if self.inline_reads:
            connection.set_progress_handler(self._over_budget, PROGRESS_STEPS)
        return connection

    @property
    def in_transaction(self) -> bool:
        return self._conn is not None and self._conn.in_transaction

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict]:
        """Run one statement; its rows as dicts (empty for statements without rows)."""
        if self._conn is None:
            raise sqlite3.ProgrammingError("connection is closed")
        head = " ".join(sql[:20].split()).upper()
        if head.startswith(_READS):
            if self.inline_reads:
                rows = self._read_inline(sql, parameters)
                if rows is not None:
                    return rows
            return await self._in_thread(self._fetchall, sql, parameters)
        wrote, inline = self._wrote, False
        if head.startswith("BEGIN"):
            # BEGIN IMMEDIATE/EXCLUSIVE take the write lock at once (and may wait for it).
            self._wrote = head not in _BEGIN_READ
            inline = not self._wrote
        elif head in _ENDS:
            self._wrote = self._locked = False
            # Ending a transaction that wrote syncs the file; ending a read releases a snapshot.
            inline = not wrote
        else:
            self._wrote = True
            # Once this transaction holds the write lock, a one-row INSERT waits for nobody and
            # does a small, bounded amount of work.
            inline = self._locked and head.startswith("INSERT") and _one_row_insert(sql)
        if inline and self.inline_reads:
            return _dicts(self._conn.execute(sql, parameters))
        rows = await self._in_thread(self._fetchall, sql, parameters)
        # Here the statement succeeded: a transaction that began IMMEDIATE or has written now
        # holds the write lock until it ends.
        self._locked = self._wrote and self._conn is not None and self._conn.in_transaction
        return rows

    #: Piccolo's and aiosqlite's name for the same thing.
    execute_fetchall = execute

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One write statement for many rows of values, on the connection's thread."""
        if self._conn is None:
            raise sqlite3.ProgrammingError("connection is closed")
        self._wrote = True
        await self._in_thread(self._conn.executemany, sql, rows)
        self._locked = self._conn is not None and self._conn.in_transaction

    async def rollback(self) -> None:
        if self.in_transaction:
            await self.execute("ROLLBACK")

    async def close(self) -> None:
        if self._conn is not None:
            connection, self._conn = self._conn, None
            try:
                # On the thread: closing the last connection checkpoints the WAL (file I/O).
                await self._in_thread(connection.close)
            finally:
                self._executor.shutdown(wait=False)

    # -- internals ------------------------------------------------------------------------------

    def _fetchall(self, sql: str, parameters: Sequence[Any]) -> list[dict]:
        assert self._conn is not None
        return _dicts(self._conn.execute(sql, parameters))

    def _read_inline(self, sql: str, parameters: Sequence[Any]) -> list[dict] | None:
        """The rows, or None when the budget ran out (the caller reruns it on the thread)."""
        assert self._conn is not None
        self._deadline = time.perf_counter() + INLINE_BUDGET_S
        try:
            return _dicts(self._conn.execute(sql, parameters))
        except sqlite3.OperationalError:
            if not self._interrupted:
                raise
            return None
        finally:
            self._deadline = math.inf
            self._interrupted = False

    def _over_budget(self) -> int:
        if time.perf_counter() > self._deadline:
            self._interrupted = True
            return 1  # SQLite interrupts the statement
        return 0

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        self.offloaded += 1
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)


class PooledSQLiteTransaction(SQLiteTransaction):
    __slots__ = ()

    async def get_connection(self) -> SQLiteConnection:
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
        self._idle: list[SQLiteConnection] = []
        self._pooling = False

    # -- pool life cycle (the names PostgresEngine uses) ----------------------------------------

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

    async def acquire(self) -> SQLiteConnection:
        """A connection for the caller alone until `release`: an idle one, else a new one."""
        if self._idle:
            return self._idle.pop()
        return await SQLiteConnection(self.connection_kwargs).open()

    async def release(self, connection: SQLiteConnection) -> None:
        if self._pooling and len(self._idle) < self.max_idle:
            try:
                await connection.rollback()
            except Exception:  # noqa: BLE001 - a connection that cannot be cleaned is closed
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

    # -- queries (Piccolo calls these) ----------------------------------------------------------

    async def _run_in_existing_connection(
        self, connection: SQLiteConnection, query: str, args: list[Any] | None = None,
        query_type: str = "generic", table=None,
    ):
        return await connection.execute(query, args or [])

    async def _run_in_new_connection(
        self, query: str, args: list[Any] | None = None, query_type: str = "generic", table=None,
    ):
        # isolation_level=None: outside a transaction every statement commits on its own.
        connection = await self.acquire()
        try:
            return await connection.execute(query, args or [])
        finally:
            await self.release(connection)


def sqlite_engine(path: str, **connection_kwargs: Any) -> SQLiteEngine:
    """The app's engine for a SQLite file: this one where SQLite has RETURNING, else Piccolo's."""
    if SUPPORTED:
        return PooledSQLiteEngine(path=path, **connection_kwargs)
    return SQLiteEngine(path=path, **connection_kwargs)


def _one_row_insert(sql: str) -> bool:
    """An INSERT of one VALUES row (no INSERT ... SELECT, no list of rows)."""
    text = sql.upper()
    if "SELECT" in text or text.count("VALUES") != 1:
        return False
    return _NEXT_ROW.search(text.split("VALUES", 1)[1]) is None


def _dicts(cursor: sqlite3.Cursor) -> list[dict]:
    """The cursor's rows as dicts (what Piccolo's `dict_factory` gives, built once per result
    instead of once per row)."""
    rows = cursor.fetchall()
    if not rows:
        return []
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in rows]


async def _close(connection: SQLiteConnection) -> None:
    with contextlib.suppress(Exception):
        await connection.close()
