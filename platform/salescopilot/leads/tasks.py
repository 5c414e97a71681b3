"""Background work of the leads domain."""

from __future__ import annotations

import uuid

from salescopilot.clock import system_clock
from salescopilot.leads.import_runner import run_import
from salescopilot.settings import get_settings
from salescopilot.tasks import tenant_task
from salescopilot.tasks.tenant_task import load_active_tenant


@tenant_task("leads.import_csv", own_transactions=True)
async def import_csv(tenant_id: uuid.UUID, import_id: str) -> dict:
    """Run (or resume) a CSV import: one transaction per batch, checkpoint included."""
    tenant = await load_active_tenant(tenant_id)
    return await run_import(
        tenant, uuid.UUID(str(import_id)), clock=system_clock, var_dir=get_settings().var_dir
    )
