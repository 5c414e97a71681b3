"""Background work of campaigns: `campaigns.run_due` runs scheduler passes for one tenant (each
pass its own transaction) and wakes the sender for what it queued; `campaigns.sweep` runs it for
every active tenant each minute."""

from __future__ import annotations

import datetime as dt
import uuid

from salescopilot.campaigns.scheduler import BATCH, CampaignScheduler
from salescopilot.clock import Clock, system_clock
from salescopilot.settings import get_settings
from salescopilot.tasks.tenant_task import enqueue_for_active_tenants, system_task, tenant_task
from salescopilot.tenancy.context import current_tenant, tenant_scope

#: One task runs passes for at most this long, then leaves the rest to the next sweep.
PASS_BUDGET = dt.timedelta(seconds=50)


async def run_due_passes(clock: Clock = system_clock, *, limit: int = BATCH) -> int:
    """Scheduler passes for the current tenant until nothing is due (or the budget is spent);
    returns how many messages were queued. Each pass commits on its own."""
    settings = get_settings()
    tenant = current_tenant()
    started = clock.now()
    queued = 0
    while True:
        async with tenant_scope(tenant):
            result = await CampaignScheduler(settings.outbox, clock).run_pass(limit)
        queued += result.queued
        if result.evaluated < limit or clock.now() - started >= PASS_BUDGET:
            return queued


@tenant_task("campaigns.run_due", own_transactions=True, max_retries=2)
async def run_due(tenant_id: uuid.UUID) -> int:
    """Move every due enrollment of the tenant's campaigns on; returns messages queued."""
    queued = await run_due_passes()
    if queued:
        from salescopilot.outbox.tasks import wake_sender

        await wake_sender(tenant_id, system_clock.now())
    return queued


@system_task("campaigns.sweep", cron="* * * * *")
async def sweep() -> int:
    """Every minute, a scheduler run per active tenant."""
    return await enqueue_for_active_tenants(run_due)
