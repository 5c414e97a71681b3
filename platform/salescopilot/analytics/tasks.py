"""Background work of analytics: `analytics.promote_winners` promotes the significant A/B winners
of the tenant's campaigns that ask for it; `analytics.sweep` runs it for every active tenant
each hour."""

from __future__ import annotations

import uuid

from salescopilot.clock import system_clock
from salescopilot.tasks.tenant_task import enqueue_for_active_tenants, system_task, tenant_task


@tenant_task("analytics.promote_winners", max_retries=2)
async def promote_winners(tenant_id: uuid.UUID) -> int:
    """Promote every significant winner not yet promoted; returns how many steps changed."""
    from salescopilot.analytics.service import AnalyticsService

    return await AnalyticsService(system_clock).promote_significant_winners()


@system_task("analytics.sweep", cron="17 * * * *")
async def sweep() -> int:
    """Each hour, a promotion run per active tenant."""
    return await enqueue_for_active_tenants(promote_winners)
