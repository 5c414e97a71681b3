"""Background sending: `outbox.send_due` runs sender passes for one tenant; `outbox.sweep` makes
sure every tenant is looked at each minute even if a wake-up was lost.

A pass that ends with work left for later schedules exactly one delayed wake-up for the tenant
(`SendingPolicy.wake_at` records it), so wake-ups never multiply.
"""

from __future__ import annotations

import datetime as dt
import uuid

from salescopilot.clock import system_clock
from salescopilot.mailboxes.repository import SendingPolicyRepository
from salescopilot.mailboxes.tables import SendingPolicy
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.outbox.sender import OutboxSender
from salescopilot.settings import get_settings
from salescopilot.tasks.tenant_task import enqueue_for_active_tenants, system_task, tenant_task
from salescopilot.tenancy.context import current_tenant, tenant_scope

#: One task keeps sending for at most this long, then hands over to a fresh task.
PASS_BUDGET = dt.timedelta(seconds=50)
#: A recorded wake-up this far overdue is presumed lost and replaced.
STALE_WAKE = dt.timedelta(minutes=2)


@tenant_task("outbox.send_due", own_transactions=True, max_retries=0)
async def send_due(tenant_id: uuid.UUID) -> int:
    """Send everything that may go now; returns how many messages were claimed."""
    settings = get_settings()
    clock = system_clock
    sender = OutboxSender(settings, clock)
    tenant = current_tenant()
    async with tenant_scope(tenant, write=False):
        pending_wake = await SendingPolicyRepository().exists(SendingPolicy.wake_at.is_not_null())
    if pending_wake:  # an idle tenant's pass takes no write lock at all
        async with tenant_scope(tenant):
            await SendingPolicyRepository().clear_wake()
    started = clock.now()
    total = 0
    while clock.now() - started < PASS_BUDGET:
        claimed = await sender.run_pass()
        total += claimed
        if claimed == 0:
            break
    async with tenant_scope(tenant, write=False):
        next_due = await OutboxRepository().next_due()
    if total and clock.now() - started >= PASS_BUDGET:
        next_due = clock.now()
    if next_due is not None:
        await wake_sender(tenant_id, next_due)
    return total


async def wake_sender(tenant_id: uuid.UUID, at: dt.datetime) -> bool:
    """Make sure a sender pass runs for the tenant at `at` (or sooner): enqueues a delayed
    `outbox.send_due` unless one is already due by then. Call inside the tenant's context."""
    now = system_clock.now()
    at = max(at, now)
    async with tenant_scope(current_tenant()):
        if not await SendingPolicyRepository().claim_wake(at, now, STALE_WAKE):
            return False
    delay = (at - now).total_seconds()
    kicker = send_due.kicker()
    if delay > 0.5:
        kicker = kicker.with_labels(delay=round(delay, 3))
    await kicker.kiq(tenant_id)
    return True


@system_task("outbox.sweep", cron="* * * * *")
async def sweep() -> int:
    """Every minute, a sender pass per active tenant: catches messages whose time came."""
    return await enqueue_for_active_tenants(send_due)
