"""Finding every task, the worker's broker factory, and the embedded task runtime of the web app.

Tasks come from two places:

- each domain's `salescopilot/<domain>/tasks.py` (or `tasks/` package), found on disk and
  imported — a broken tasks module stops the worker at start-up instead of silently missing;
- plugins, through the `register_tasks` hook. Each result list may hold module names (imported),
  modules, registered tasks (`@tenant_task` objects), or `TaskDefinition`s
  (`salescopilot.plugin_system.interfaces`), which are registered here: a tenant task, plus a
  scheduled fan-out (`<name>.fan_out`, enqueueing it for every active tenant) when it has a
  schedule; or a system task with that schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import pkgutil
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import structlog
from taskiq import AsyncBroker

from salescopilot.settings import Settings
from salescopilot.tasks.registry import AppTask, all_tasks

log = structlog.get_logger("salescopilot.tasks")

_loaded = False


def domain_task_modules() -> list[str]:
    """`salescopilot.<domain>.tasks` for every domain that has one, found without importing
    unrelated packages."""
    import salescopilot

    names = []
    for root in salescopilot.__path__:
        for info in pkgutil.iter_modules([root]):
            if not info.ispkg or info.name == "tasks":
                continue
            folder = Path(root) / info.name
            if (folder / "tasks.py").is_file() or (folder / "tasks" / "__init__.py").is_file():
                names.append(f"salescopilot.{info.name}.tasks")
    return sorted(names)


def plugin_task_contributions() -> list[Any]:
    """Everything plugins return from `register_tasks`, flattened; [] when the plugin system is
    not available in this build."""
    try:
        from salescopilot.plugin_system.manager import get_plugin_manager
    except ImportError as error:
        if error.name not in ("salescopilot.plugin_system.manager", "salescopilot.plugin_system"):
            raise  # a bug inside the plugin system, not its absence
        log.warning("tasks.plugin_manager_unavailable", error=str(error))
        return []
    hook = getattr(get_plugin_manager().hook, "register_tasks", None)
    if hook is None:
        log.warning("tasks.register_tasks_hook_missing")
        return []
    contributions: list[Any] = []
    for result in hook():
        if result is None:
            continue
        if isinstance(result, (str, ModuleType, AppTask)) or not isinstance(result, (list, tuple)):
            contributions.append(result)
        else:
            contributions.extend(result)
    return contributions


def load_all_tasks(*, extra_modules: list[str] | tuple[str, ...] = ()) -> dict[str, AppTask]:
    """Import every task module and register every plugin task (once per process); returns the
    registered tasks by name. Raises on a module that fails to import or a bad contribution."""
    global _loaded
    if not _loaded:
        for name in domain_task_modules():
            importlib.import_module(name)
        for item in plugin_task_contributions():
            _register_contribution(item)
        _loaded = True
    for name in extra_modules:
        importlib.import_module(name)
    return all_tasks()


def _register_contribution(item: Any) -> None:
    if isinstance(item, str):
        importlib.import_module(item)
    elif isinstance(item, (ModuleType, AppTask)):
        return  # importing it registered its tasks already
    elif all(hasattr(item, attribute) for attribute in ("name", "function", "per_tenant")):
        _register_definition(item)
    else:
        raise TypeError(
            f"register_tasks returned {item!r}; expected a module name, a module, a task, "
            "or a TaskDefinition"
        )


def _register_definition(definition: Any) -> None:
    from salescopilot.tasks.tenant_task import (
        enqueue_for_active_tenants,
        system_task,
        tenant_task,
    )

    schedule = getattr(definition, "schedule", None)
    if not definition.per_tenant:
        system_task(definition.name, cron=schedule)(definition.function)
        return
    task = tenant_task(definition.name)(definition.function)
    if schedule:

        async def fan_out() -> int:
            return await enqueue_for_active_tenants(task)

        fan_out.__qualname__ = f"fan_out[{definition.name}]"
        fan_out.__module__ = getattr(definition.function, "__module__", __name__)
        system_task(f"{definition.name}.fan_out", cron=schedule)(fan_out)


def freeze_startup_heap() -> None:
    """Take what the process built at start-up (modules, the app, the task registry) out of
    the garbage collector's sight, once it is ready to work.

    A full collection walks every tracked object; in a ready process that is a few hundred
    thousand objects that live as long as the process, and each full pass paused the event
    loop for 20–40 ms. A claim of 1,000 messages allocates enough to trigger one every few
    claims: those pauses were the claim's 95th percentile (`benchmarks/outbox_claim.py`).
    Frozen objects are still freed if they become garbage only after `gc.unfreeze()`: they are
    the process's permanent furniture, so that never matters here."""
    gc.collect()
    gc.freeze()


def worker_broker() -> AsyncBroker:
    """Broker factory for taskiq's worker (`salescopilot.tasks.worker:worker_broker`): loads
    every task in the worker process itself, then returns the process's broker. (The process
    may have been spawned rather than forked, so registrations must not rely on the parent.)"""
    from salescopilot.tasks.broker import get_broker

    load_all_tasks()
    broker = get_broker()
    freeze_startup_heap()
    return broker


@contextlib.asynccontextmanager
async def task_runtime(
    settings: Settings, *, run_scheduler: bool = True
) -> AsyncIterator[AsyncBroker]:
    """The web process's side of background work, for its lifespan.

    Installs and starts the broker built from `settings` (the database must already be
    started). With the in-memory broker tasks run here, and so do periodic tasks: the embedded
    scheduler starts too unless `run_scheduler=False`. With Redis only the client side runs
    here; workers and `salescopilot scheduler` are separate processes.
    """
    from salescopilot.tasks import scheduler as scheduling
    from salescopilot.tasks.broker import create_broker, set_broker

    load_all_tasks()
    broker = create_broker(settings)
    set_broker(broker)
    await broker.startup()
    stop = asyncio.Event()
    embedded: asyncio.Task | None = None
    if run_scheduler and settings.tasks.broker == "inmemory":
        embedded = asyncio.create_task(
            scheduling.run_scheduler(broker, scheduling.InProcessSchedulerLock(), stop=stop)
        )
        embedded.add_done_callback(_report_embedded_scheduler_end)
    watcher: asyncio.Task | None = None
    if settings.mail.imap_idle and settings.tasks.broker == "inmemory":
        # Embedded, this process is the worker: it also keeps the IMAP IDLE connections.
        from salescopilot.inbound.watcher import IdleWatcher

        watcher = asyncio.create_task(IdleWatcher(settings).run(stop))
    try:
        yield broker
    finally:
        if embedded is not None or watcher is not None:
            stop.set()
            await asyncio.gather(*(t for t in (embedded, watcher) if t is not None), return_exceptions=True)
        await broker.shutdown()
        set_broker(None)
        from salescopilot.ai.client import close_task_model_client

        await close_task_model_client()


def _report_embedded_scheduler_end(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        error = task.exception()
        log.error("scheduler.embedded_failed", error_type=type(error).__name__, error=str(error))
