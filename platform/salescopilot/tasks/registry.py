"""The process-wide catalogue of tasks, independent of any broker object.

Tasks are registered on taskiq's *shared* registry (`AsyncBroker.global_task_registry`), not on a
concrete broker: importing a task module therefore needs no settings and opens no connection, and
every broker built by `create_broker` (the web process's, a worker's, a test's) finds every task by
its stable name. `AppTask.kicker()` resolves the broker at enqueue time through `get_broker()`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from copy import copy
from dataclasses import dataclass, field
from typing import Any

from taskiq.brokers.shared_broker import AsyncSharedBroker
from taskiq.decor import AsyncTaskiqDecoratedTask
from taskiq.kicker import AsyncKicker

#: `domain.name`, lowercase, at least one dot: `outbox.send_due`, `crm_hubspot.sync_contacts`.
TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True)
class TaskPolicy:
    """How a task is retried. Lives on the registered task object, never on the wire, so a
    message cannot change it (exception types could not be serialized anyway)."""

    #: Retries after the first try; None means `tasks.max_retries` from settings.
    max_retries: int | None = None
    #: Exception types that fail the task at once (besides `DomainError`s with status < 500).
    no_retry_on: tuple[type[BaseException], ...] = ()
    #: Whether the body runs inside a tenant scope (tenant tasks) or not (system tasks).
    tenant_scoped: bool = False
    #: The scheduler's cron expression (UTC), for system tasks.
    cron: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class AppTask(AsyncTaskiqDecoratedTask):
    """A registered task. Enqueue it with `await task.kiq(*args)` — the one way to enqueue.

    Calling the task object directly (`await task(tenant_id, ...)`) runs it in place, inside the
    caller's process, with the same tenant checks; tests use that to exercise a body without a
    broker.
    """

    policy: TaskPolicy
    #: The function the author wrote (the registered function may be a wrapper around it).
    body: Callable[..., Any]

    def kicker(self) -> AsyncKicker:
        from salescopilot.tasks.broker import get_broker

        # Copy the labels: AsyncKicker.with_labels mutates its dict in place, and taskiq's own
        # shared task hands out the task's dict itself.
        return AsyncKicker(
            task_name=self.task_name,
            broker=get_broker(),
            labels=copy(self.labels),
            return_type=self.return_type,
        )

    def __repr__(self) -> str:
        return f"AppTask({self.task_name})"


class TaskNameTaken(ValueError):
    """Two different functions claim the same task name."""


task_registry = AsyncSharedBroker()
task_registry.decorator_class = AppTask


def register_task(
    name: str,
    function: Callable[..., Any],
    *,
    body: Callable[..., Any],
    policy: TaskPolicy,
    labels: dict[str, Any] | None = None,
) -> AppTask:
    """Register `function` under `name`; re-registering the same body (a module imported twice,
    discovery run twice) returns the existing task, a different body raises `TaskNameTaken`."""
    if not TASK_NAME.match(name):
        raise ValueError(
            f"task name {name!r} must be dotted lowercase with a domain prefix, e.g. "
            "'outbox.send_due'"
        )
    existing = find_task(name)
    if existing is not None:
        if _same_function(existing.body, body):
            return existing
        raise TaskNameTaken(
            f"task name {name!r} is already used by {_describe(existing.body)}; "
            f"cannot register {_describe(body)}"
        )
    task = task_registry.task(name, **(labels or {}))(function)
    task.policy = policy
    task.body = body
    return task


def find_task(name: str) -> AppTask | None:
    task = AsyncSharedBroker.global_task_registry.get(name)
    return task if isinstance(task, AppTask) else None


def all_tasks() -> dict[str, AppTask]:
    """Every registered application task by name."""
    return {
        name: task
        for name, task in AsyncSharedBroker.global_task_registry.items()
        if isinstance(task, AppTask)
    }


def _same_function(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    if a is b:
        return True
    # A module re-imported under importlib.reload (or a test module imported twice) creates a new
    # function object with the same identity.
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def _describe(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"
