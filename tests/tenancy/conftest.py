"""Fixtures of the two-tenant isolation suite."""

from __future__ import annotations

import pytest

from salescopilot.tasks.broker import get_broker
from tests.tenancy.isolation_seed import OwnerDatabase, record_ids, seed_tenant, started


@pytest.fixture
async def seeded(no_scheduler, app, settings, tenant_a, tenant_b):
    """(A, B, owner database): both tenants with rows in every tenant-owned table."""
    database = OwnerDatabase(settings)
    async with started(app):
        a = await seed_tenant(app, tenant_a)
        b = await seed_tenant(app, tenant_b)
        # The seeding enqueued work (sender wake-ups a second away): let it finish, or it
        # would write A's sending state in the middle of a before/after comparison.
        await get_broker().wait_settled(horizon=60)
        for tenant in (a, b):
            await record_ids(database, tenant)
        yield a, b, database
