"""On PostgreSQL a read scope is a READ ONLY transaction: a GET handler that writes without
declaring `opt={"writes": True}` fails in the tests at once, instead of as a rare "database is
locked" under load on SQLite."""

from __future__ import annotations

import asyncpg
import pytest

from salescopilot.accounts.repository import ApiKeyRepository
from salescopilot.accounts.tables import ApiKey
from salescopilot.tenancy.context import tenant_scope
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL engine only")


async def test_a_read_scope_refuses_writes_and_a_write_scope_takes_them(db, tenant_a):
    key = ApiKey(name="ro", prefix="ro0000000000", key_hash="0" * 64, role="viewer")
    with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
        async with tenant_scope(tenant_a, write=False):
            await ApiKeyRepository().add(key)
    async with tenant_scope(tenant_a):
        await ApiKeyRepository().add(key)
    async with tenant_scope(tenant_a, write=False):
        assert (await ApiKeyRepository().by_prefix("ro0000000000")) is not None

