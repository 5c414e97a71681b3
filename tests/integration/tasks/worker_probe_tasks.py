"""Tasks the worker-process tests run in a real `salescopilot worker` (imported there as an extra
module, and here to enqueue them)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import structlog

from salescopilot.tasks import tenant_task
from salescopilot.tenancy.context import current_tenant


@tenant_task("probe.whoami")
async def whoami(tenant_id: uuid.UUID) -> dict:
    """Reports where and for whom it ran."""
    tenant = current_tenant()
    return {
        "tenant_id": str(tenant.id),
        "slug": tenant.slug,
        "pid": os.getpid(),
        "log_tenant_id": structlog.contextvars.get_contextvars().get("tenant_id"),
    }


@tenant_task("probe.hang_first_time", write=False)
async def hang_first_time(tenant_id: uuid.UUID, marker: str, hold_seconds: float) -> dict:
    """Records each run in `marker`; the first run hangs (its worker is killed meanwhile)."""
    path = Path(marker)
    first = not path.exists()
    with path.open("a") as file:  # noqa: ASYNC230 - a test probe
        file.write(f"{os.getpid()}\n")
    if first:
        await asyncio.sleep(hold_seconds)
    return {"pid": os.getpid(), "runs": path.read_text().split()}


@tenant_task("probe.fail_twice", write=False)
async def fail_twice(tenant_id: uuid.UUID, marker: str) -> int:
    """Fails on its first two runs, then returns how many runs it took."""
    path = Path(marker)
    with path.open("a") as file:  # noqa: ASYNC230 - a test probe
        file.write("run\n")
    runs = len(path.read_text().split())
    if runs <= 2:
        raise ConnectionError(f"provider unavailable (run {runs})")
    return runs
