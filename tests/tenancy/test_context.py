import pytest

from salescopilot.errors import TenantNotResolved
from salescopilot.tenancy.context import current_tenant, tenant_scope


async def test_reading_an_empty_context_raises(db):
    with pytest.raises(TenantNotResolved):
        current_tenant()


async def test_scope_sets_and_clears_the_tenant(tenant_a):
    async with tenant_scope(tenant_a):
        assert current_tenant() == tenant_a
    with pytest.raises(TenantNotResolved):
        current_tenant()


async def test_a_scope_for_another_tenant_cannot_nest(tenant_a, tenant_b):
    async with tenant_scope(tenant_a):
        with pytest.raises(RuntimeError):
            async with tenant_scope(tenant_b):
                pass
