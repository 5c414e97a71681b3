"""Background work on taskiq (DESIGN.md §6).

Declare tasks with `@tenant_task("domain.name")` (first argument `tenant_id`, body runs in that
tenant's scope) or `@system_task("domain.name", cron=...)`; enqueue with `await task.kiq(...)`,
the one way to enqueue. Brokers: `broker.py`; retries: `retry.py`; periodic tasks and the single
scheduler: `scheduler.py`; task discovery and the web app's runtime: `worker.py`.
"""

from salescopilot.tasks.broker import create_broker, get_broker, set_broker
from salescopilot.tasks.registry import AppTask, TaskNameTaken, all_tasks, find_task
from salescopilot.tasks.retry import backoff_delay
from salescopilot.tasks.tenant_task import (
    TaskTenantInactive,
    TaskTenantInvalid,
    TaskTenantNotFound,
    enqueue_for_active_tenants,
    system_task,
    tenant_task,
)

__all__ = [
    "AppTask",
    "TaskNameTaken",
    "TaskTenantInactive",
    "TaskTenantInvalid",
    "TaskTenantNotFound",
    "all_tasks",
    "backoff_delay",
    "create_broker",
    "enqueue_for_active_tenants",
    "find_task",
    "get_broker",
    "set_broker",
    "system_task",
    "tenant_task",
]
