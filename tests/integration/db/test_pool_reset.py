"""The PostgreSQL pool hands connections back without asyncpg's reset query (a round trip per
release), which is safe only while the app leaves no session state behind: after the kinds of
transaction the app runs, every pooled connection has no tenant set, the default settings, no
advisory lock and no listener."""

from __future__ import annotations

import asyncio

import pytest

from salescopilot.db.engine import commit_without_waiting_for_disk, fetch_all, get_engine
from salescopilot.tenancy.context import tenant_scope
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL engine only")

STATE = (
    "SELECT coalesce(current_setting('app.tenant_id', true), '') AS tenant, "
    "current_setting('synchronous_commit') AS sync, current_setting('plan_cache_mode') AS plans, "
    "current_setting('transaction_read_only') AS read_only, "
    "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks, "
    "(SELECT count(*) FROM pg_listening_channels()) AS channels"
)
CLEAN = {"tenant": "", "sync": "on", "plans": "auto", "read_only": "off", "locks": 0, "channels": 0}


async def _use_every_kind_of_scope(tenant) -> None:
    async with tenant_scope(tenant):
        await fetch_all("SELECT pg_advisory_xact_lock(42)", [])
        await fetch_all("SET LOCAL plan_cache_mode = force_generic_plan", [])
        await commit_without_waiting_for_disk()
    async with tenant_scope(tenant, write=False):
        await fetch_all("SELECT 1", [])


async def test_pooled_connections_come_back_clean(db, tenant_a):
    pool = get_engine().pool
    assert pool._reset is not None  # the app's hook replaces asyncpg's reset query
    size = pool.get_max_size()
    # Several scopes at once, so more than one of the pool's connections is used.
    await asyncio.gather(*(_use_every_kind_of_scope(tenant_a) for _ in range(size)))

    held = [await pool.acquire() for _ in range(size)]  # every connection the pool has
    try:
        states = [dict(await connection.fetchrow(STATE)) for connection in held]
    finally:
        for connection in held:
            await pool.release(connection)
    assert states == [CLEAN] * size
