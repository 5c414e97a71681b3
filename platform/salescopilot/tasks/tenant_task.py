"""`@tenant_task` and `@system_task`: how background work is declared.

    @tenant_task("leads.import_csv")
    async def import_csv(tenant_id: uuid.UUID, upload_id: str) -> int: ...

    await import_csv.kiq(tenant.id, upload_id)      # the one way to enqueue

A tenant task's first argument is the tenant's id. Before the body runs, the wrapper loads the
tenant, refuses an unknown or inactive one (a non-retryable error, so the message is dead-lettered
at once instead of retried), and runs the body inside `tenant_scope(...)`: repositories see only
that tenant's rows, and on PostgreSQL row-level security binds the connection to it. The tenant id
and task name are bound into structlog's context for every log line the body writes.

System tasks (the scheduler's fan-outs, installation-wide housekeeping) run without a tenant; to do
per-tenant work they enqueue a tenant task per tenant (`enqueue_for_active_tenants`).
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pycron
import structlog

from salescopilot.errors import DomainError
from salescopilot.tasks.registry import AppTask, TaskPolicy, register_task
from salescopilot.tenancy.context import TenantRef, tenant_context, tenant_scope

R = TypeVar("R")

#: The only tenant status whose tasks run; anything else (suspended, deleted, ...) fails closed.
ACTIVE = "active"


class TaskTenantInvalid(DomainError):
    code = "TASK_TENANT_INVALID"
    status_code = 400
    default_message = "The task's tenant id is not a valid id."


class TaskTenantNotFound(DomainError):
    code = "TASK_TENANT_NOT_FOUND"
    status_code = 404
    default_message = "The task's tenant does not exist."


class TaskTenantInactive(DomainError):
    code = "TASK_TENANT_INACTIVE"
    status_code = 409
    default_message = "The task's tenant is not active."


def tenant_task(
    name: str,
    *,
    max_retries: int | None = None,
    no_retry_on: Iterable[type[BaseException]] = (),
    write: bool = True,
    own_transactions: bool = False,
) -> Callable[[Callable[..., Awaitable[R]]], AppTask]:
    """Declare an async function as the tenant task `name` (dotted, stable: it is what the queue
    stores). Its first parameter must be `tenant_id`.

    `own_transactions=True` is for long jobs that commit as they go (a CSV import in batches,
    sending mail between writes): the tenant is still checked and is the current tenant, but the
    body runs outside any transaction and opens `tenant_scope(...)` itself for each unit of work,
    so each commits on its own.

    `max_retries` overrides `tasks.max_retries`; `no_retry_on` lists exception types that fail
    at once; `write=False` runs the body in a read transaction (on SQLite a deferred one, which
    does not hold the database's write lock while the task waits on the network).
    """
    policy = TaskPolicy(
        max_retries=_check_retries(max_retries),
        no_retry_on=_check_exception_types(no_retry_on),
        tenant_scoped=True,
    )

    def decorate(body: Callable[..., Awaitable[R]]) -> AppTask:
        _check_async(name, body)
        parameters = list(inspect.signature(body).parameters)
        if not parameters or parameters[0] != "tenant_id":
            raise TypeError(f"tenant task {name!r}: the first parameter must be `tenant_id`")

        @functools.wraps(body)
        async def run_for_tenant(tenant_id: Any, *args: Any, **kwargs: Any) -> R:
            tenant = await load_active_tenant(tenant_id)
            with structlog.contextvars.bound_contextvars(
                tenant_id=str(tenant.id), tenant=tenant.slug, task=name
            ):
                if own_transactions:
                    with tenant_context(tenant):
                        return await body(tenant.id, *args, **kwargs)
                async with tenant_scope(tenant, write=write):
                    return await body(tenant.id, *args, **kwargs)

        return register_task(name, run_for_tenant, body=body, policy=policy)

    return decorate


def system_task(
    name: str,
    *,
    cron: str | None = None,
    max_retries: int | None = None,
    no_retry_on: Iterable[type[BaseException]] = (),
) -> Callable[[Callable[..., Awaitable[R]]], AppTask]:
    """Declare an async function as the installation-wide task `name`, which runs without a
    tenant. `cron` (five fields, UTC) makes `salescopilot scheduler` enqueue it periodically;
    periodic tasks must be idempotent, since a scheduler restart may repeat the current minute."""
    if cron is not None:
        _check_cron(name, cron)
    policy = TaskPolicy(
        max_retries=_check_retries(max_retries),
        no_retry_on=_check_exception_types(no_retry_on),
        cron=cron,
    )
    # LabelScheduleSource reads this label from the registered task; a stable schedule_id keeps
    # the scheduler's bookkeeping stable across schedule refreshes.
    labels = {"schedule": [{"cron": cron, "schedule_id": name}]} if cron else {}

    def decorate(body: Callable[..., Awaitable[R]]) -> AppTask:
        _check_async(name, body)

        @functools.wraps(body)
        async def run_system(*args: Any, **kwargs: Any) -> R:
            with structlog.contextvars.bound_contextvars(task=name):
                return await body(*args, **kwargs)

        return register_task(name, run_system, body=body, policy=policy, labels=labels)

    return decorate


async def load_active_tenant(tenant_id: Any) -> TenantRef:
    """The tenant a task runs for; raises a non-retryable `DomainError` when the id is malformed,
    unknown, or the tenant is not active."""
    from salescopilot.tenancy.tables import Tenant

    try:
        tenant_uuid = tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
    except (TypeError, ValueError, AttributeError):
        raise TaskTenantInvalid(details={"tenant_id": repr(tenant_id)[:80]}) from None
    row = await (
        Tenant.select(Tenant.id, Tenant.slug, Tenant.status).where(Tenant.id == tenant_uuid).first()
    )
    if row is None:
        raise TaskTenantNotFound(
            f"tenant {tenant_uuid} does not exist", details={"tenant_id": str(tenant_uuid)}
        )
    if row["status"] != ACTIVE:
        raise TaskTenantInactive(
            f"tenant {row['slug']} is {row['status']}; its tasks do not run",
            details={"tenant_id": str(tenant_uuid), "status": row["status"]},
        )
    return TenantRef(id=row["id"], slug=row["slug"])


async def active_tenant_ids() -> list[uuid.UUID]:
    from salescopilot.tenancy.tables import Tenant

    rows = await Tenant.select(Tenant.id).where(Tenant.status == ACTIVE).order_by(Tenant.slug)
    return [row["id"] for row in rows]


async def enqueue_for_active_tenants(task: AppTask, *args: Any, **kwargs: Any) -> int:
    """Enqueue the tenant task once per active tenant (a scheduler fan-out); returns how many."""
    if not task.policy.tenant_scoped:
        raise TypeError(f"{task.task_name} is not a tenant task")
    count = 0
    for tenant_id in await active_tenant_ids():
        await task.kiq(tenant_id, *args, **kwargs)
        count += 1
    return count


def _check_async(name: str, body: Callable[..., Any]) -> None:
    if not inspect.iscoroutinefunction(body):
        raise TypeError(f"task {name!r}: the function must be `async def`")


def _check_retries(max_retries: int | None) -> int | None:
    if max_retries is not None and (not isinstance(max_retries, int) or max_retries < 0):
        raise ValueError("max_retries must be a non-negative int or None")
    return max_retries


def _check_exception_types(
    types: Iterable[type[BaseException]],
) -> tuple[type[BaseException], ...]:
    result = tuple(types)
    for kind in result:
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise TypeError(f"no_retry_on takes exception classes, got {kind!r}")
    return result


#: (lowest, highest) of each cron field: minute, hour, day of month, month, day of week.
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _check_cron(name: str, cron: str) -> None:
    """Refuse what pycron would silently never match (`61 * * * *`) or misread."""
    fields = cron.split() if isinstance(cron, str) else []
    if len(fields) != 5:
        raise ValueError(f"task {name!r}: cron {cron!r} must have five fields (UTC)")
    for index, (field_text, (low, high)) in enumerate(zip(fields, _CRON_RANGES, strict=True)):
        for item in field_text.split(","):
            if not _cron_item_ok(item, low, high, day_names=index == 4):
                raise ValueError(f"task {name!r}: invalid cron field {field_text!r} in {cron!r}")
    try:
        pycron.is_now(cron, datetime.now(UTC))
    except ValueError as error:
        raise ValueError(f"task {name!r}: invalid cron {cron!r}: {error}") from None


def _cron_item_ok(item: str, low: int, high: int, *, day_names: bool) -> bool:
    base, _, step = item.partition("/")
    if step and not (step.isdigit() and 1 <= int(step) <= high):
        return False
    if base == "*":
        return True
    bounds = base.split("-")
    if len(bounds) > 2:
        return False
    values = [_cron_value(b, day_names) for b in bounds]
    if any(v is None or not low <= v <= high for v in values):
        return False
    return len(values) == 1 or values[0] <= values[1]


def _cron_value(text: str, day_names: bool) -> int | None:
    if text.isdigit():
        return int(text)
    if day_names and text[:3].lower() in _DAY_NAMES:
        return _DAY_NAMES.index(text[:3].lower())
    return None
