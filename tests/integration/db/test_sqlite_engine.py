"""The app's SQLite engine (`salescopilot.db.sqlite_pool`): pooled connections, reads on the event
loop, lock-taking statements on the connection's thread, and SQLite's isolation unchanged."""

from __future__ import annotations

import asyncio
import contextvars
import time

import pytest

from salescopilot.accounts.repository import ApiKeyRepository
from salescopilot.accounts.tables import ApiKey
from salescopilot.db.sqlite_pool import PooledSQLiteEngine
from salescopilot.tenancy.context import tenant_scope
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite engine only")

#: Long enough to run out the event-loop budget of a read many times over.
SLOW_READ = (
    "SELECT (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) "
    "SELECT count(*) FROM c) AS n"
)


def _key(name: str) -> ApiKey:
    return ApiKey(name=name, prefix=name.ljust(12, "0")[:12], key_hash="0" * 64, role="viewer")


async def _connection(engine: PooledSQLiteEngine):
    return engine.current_transaction.get().connection


async def test_a_started_engine_reuses_its_connections(db, tenant_a):
    assert isinstance(db, PooledSQLiteEngine) and db.pooling
    async with tenant_scope(tenant_a, write=False):
        first = await _connection(db)
    async with tenant_scope(tenant_a, write=False):
        assert await _connection(db) is first


async def test_reads_run_on_the_event_loop_and_writes_on_the_thread(db, tenant_a):
    async with tenant_scope(tenant_a, write=False):
        connection = await _connection(db)
        before = connection.offloaded
        await ApiKeyRepository().by_prefix("nothing")
        await ApiKeyRepository().count()
        assert connection.offloaded == before  # BEGIN DEFERRED and both reads stayed inline
    assert connection.offloaded == before  # so did the COMMIT of a read-only transaction

    async with tenant_scope(tenant_a):
        await ApiKeyRepository().add(_key("written"))
    # BEGIN IMMEDIATE (may wait for the write lock) and COMMIT (syncs) ran on the thread; the
    # one-row INSERT in between, under the lock already held, ran inline.
    assert connection.offloaded == before + 2
    async with tenant_scope(tenant_a, write=False):
        assert (await ApiKeyRepository().by_prefix("written00000")).name == "written"


async def test_statements_that_may_wait_or_grow_run_on_the_thread(db, tenant_a):
    async with tenant_scope(tenant_a, write=False):
        connection = await _connection(db)
        before = connection.offloaded
        # The first write of a read transaction must take the write lock: thread.
        await ApiKeyRepository().add(_key("upgrade"))
        assert connection.offloaded == before + 1
        # Now the lock is held: another one-row INSERT runs inline...
        await ApiKeyRepository().add(_key("second"))
        assert connection.offloaded == before + 1
        # ...but an UPDATE or a many-row INSERT can touch any number of rows: thread.
        await ApiKeyRepository().update_where({"role": "admin"}, ApiKey.name == "upgrade")
        await ApiKeyRepository().add_many([_key("many1"), _key("many2")])
        assert connection.offloaded == before + 3
    assert connection.offloaded == before + 4  # the COMMIT of a write
    async with tenant_scope(tenant_a, write=False):
        assert await ApiKeyRepository().count() == 4


def test_only_one_row_inserts_count_as_one_row():
    from salescopilot.db.sqlite_pool import _one_row_insert

    assert _one_row_insert('INSERT INTO "t" ("a", "b") VALUES (?, ?)')
    assert _one_row_insert('INSERT INTO "t" ("a") VALUES (?) ON CONFLICT DO NOTHING')
    assert not _one_row_insert('INSERT INTO "t" ("a") VALUES (?), (?)')
    assert not _one_row_insert('INSERT INTO "t" ("a") VALUES (?),(?)')
    assert not _one_row_insert('INSERT INTO "t" ("a") SELECT "a" FROM "u"')
    assert _one_row_insert('INSERT INTO "t" DEFAULT VALUES')


async def test_a_slow_read_moves_to_the_thread_without_stalling_the_loop(db, tenant_a):
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    async with tenant_scope(tenant_a, write=False):
        connection = await _connection(db)
        before = connection.offloaded
        rows = await ApiKey.raw(SLOW_READ)
        assert connection.offloaded == before + 1
        # The interrupted read kept its transaction: later reads in it still work.
        assert await ApiKeyRepository().count() == 0
    done.set()
    await ticking
    assert rows == [{"n": 2_000_000}]
    # Other tasks kept running while the read took its time on the thread.
    assert max(gaps) < 0.25


async def test_a_read_transaction_keeps_its_snapshot(db, tenant_a):
    async with tenant_scope(tenant_a, write=False):
        assert await ApiKeyRepository().count() == 0

        async def write_elsewhere() -> None:
            async with tenant_scope(tenant_a):
                await ApiKeyRepository().add(_key("meanwhile"))

        # A fresh context, as another request has: its own scope, connection and transaction
        # (a task copying this context would join this scope instead).
        await asyncio.create_task(write_elsewhere(), context=contextvars.Context())
        assert await ApiKeyRepository().count() == 0
    async with tenant_scope(tenant_a, write=False):
        assert await ApiKeyRepository().count() == 1


async def test_concurrent_write_transactions_take_turns(db, tenant_a):
    async def writer(index: int) -> None:
        async with tenant_scope(tenant_a):
            await ApiKeyRepository().add(_key(f"w{index}"))
            await asyncio.sleep(0.01)  # hold the write lock across an await

    await asyncio.gather(*(writer(i) for i in range(6)))
    async with tenant_scope(tenant_a, write=False):
        assert await ApiKeyRepository().count() == 6


async def test_a_failed_scope_rolls_back_and_returns_a_clean_connection(db, tenant_a):
    with pytest.raises(RuntimeError):
        async with tenant_scope(tenant_a):
            await ApiKeyRepository().add(_key("lost"))
            connection = await _connection(db)
            raise RuntimeError("boom")
    assert not connection.in_transaction
    async with tenant_scope(tenant_a, write=False):
        assert await _connection(db) is connection
        assert await ApiKeyRepository().count() == 0


async def test_closing_the_pool_closes_idle_connections(db, tenant_a):
    async with tenant_scope(tenant_a, write=False):
        connection = await _connection(db)
    await db.close_connection_pool()
    assert not db.pooling
    with pytest.raises(Exception):
        await connection.execute("SELECT 1")
    # Not started, the engine still works: a connection per use, closed afterwards.
    async with tenant_scope(tenant_a, write=False):
        assert await ApiKeyRepository().count() == 0
    await db.start_connection_pool()
