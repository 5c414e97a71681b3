"""A scheduler pass commits without waiting for the disk: on PostgreSQL that is
`synchronous_commit = off` for its own transaction only, never for the pooled connection's next
one; on SQLite nothing changes. Outside a transaction it refuses."""

from __future__ import annotations

import pytest

from salescopilot.db.engine import commit_without_waiting_for_disk, fetch_all, get_engine, is_postgres
from salescopilot.tenancy.context import tenant_scope


async def _setting() -> str | None:
    if not is_postgres(get_engine()):
        return None
    return (await fetch_all("SELECT current_setting('synchronous_commit') AS value", []))[0]["value"]


async def test_only_the_calling_transaction_commits_without_waiting(db, tenant_a):
    postgres = is_postgres(get_engine())
    for _ in range(3):  # the pool hands the same connection out again
        async with tenant_scope(tenant_a):
            assert await _setting() == ("on" if postgres else None)
            await commit_without_waiting_for_disk()
            assert await _setting() == ("off" if postgres else None)
    async with tenant_scope(tenant_a):
        assert await _setting() == ("on" if postgres else None)
    with pytest.raises(RuntimeError):
        await commit_without_waiting_for_disk()
