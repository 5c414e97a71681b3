"""Background delivery: `webhooks.deliver` sends a tenant's due deliveries; `webhooks.sweep`
looks at every tenant each minute (retries whose time came, lost wake-ups)."""

from __future__ import annotations

import uuid

from salescopilot.clock import system_clock
from salescopilot.tasks.tenant_task import enqueue_for_active_tenants, system_task, tenant_task
from salescopilot.tenancy.context import current_tenant, tenant_scope

#: Passes one task makes at most before leaving the rest to the next wake-up.
MAX_PASSES = 20


@tenant_task("webhooks.deliver", own_transactions=True, max_retries=0)
async def deliver_due(tenant_id: uuid.UUID) -> int:
    """Deliver what is due now; returns how many deliveries were tried."""
    from salescopilot.webhooks.service import WebhookService

    async with tenant_scope(current_tenant(), write=False):
        service = WebhookService(system_clock)
        if not await service.has_due():
            return 0
    total = 0
    for _ in range(MAX_PASSES):
        tried = await service.deliver_due()
        total += tried
        if tried == 0:
            break
    return total


@system_task("webhooks.sweep", cron="* * * * *")
async def sweep() -> int:
    """Every minute, a delivery pass per active tenant."""
    return await enqueue_for_active_tenants(deliver_due)
