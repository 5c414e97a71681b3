"""Periodic tasks: exactly one scheduler enqueues the `system_task(..., cron=...)` tasks.

The scheduler is taskiq's `TaskiqScheduler` with a `LabelScheduleSource` over the task registry
(the `schedule` label `system_task` sets), driven by taskiq's `SchedulerLoop`. It only enqueues;
workers run the tasks. It needs no database.

Exactly one: the scheduler holds a lock while it runs. With Redis it is a key set with `NX` and a
TTL, renewed every third of the TTL by the holder; a second `salescopilot scheduler` finds the key
and refuses to start; a scheduler that cannot renew in time (Redis gone, process frozen) stops
itself, since another may have taken over. Embedded (in-memory broker) the scheduler runs inside
the web process, and the lock is an in-process one: no pidfile, nothing to clean up after a crash.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from typing import ClassVar, Protocol

import structlog
from redis.asyncio import Redis
from taskiq import AsyncBroker
from taskiq.cli.scheduler.run import SchedulerLoop
from taskiq.schedule_sources import LabelScheduleSource
from taskiq.scheduler.scheduler import TaskiqScheduler

from salescopilot.settings import Settings
from salescopilot.tasks.broker import queue_name
from salescopilot.tasks.registry import task_registry

log = structlog.get_logger("salescopilot.tasks")

#: Lock lifetime without renewal, seconds: how long a crashed scheduler blocks a new one.
LOCK_TTL = 30.0

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class SchedulerAlreadyRunning(RuntimeError):
    def __init__(self, holder: str | None) -> None:
        self.holder = holder
        super().__init__(f"another scheduler is running (holder: {holder or 'unknown'})")


class SchedulerLock(Protocol):
    async def acquire(self) -> bool: ...
    async def renew(self) -> bool: ...
    async def release(self) -> None: ...
    async def holder(self) -> str | None: ...


class RedisSchedulerLock:
    """A lease in Redis: `SET key token NX PX ttl`; renewed and released only by its holder."""

    def __init__(self, redis_url: str, key: str, *, ttl: float = LOCK_TTL) -> None:
        self.redis = Redis.from_url(redis_url)
        self.key = key
        self.ttl_ms = int(ttl * 1000)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def acquire(self) -> bool:
        return bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def renew(self) -> bool:
        return bool(await self.redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    async def release(self) -> None:
        try:
            await self.redis.eval(_RELEASE, 1, self.key, self.token)
        finally:
            await self.redis.aclose()

    async def holder(self) -> str | None:
        value = await self.redis.get(self.key)
        return value.decode(errors="replace") if value is not None else None


class InProcessSchedulerLock:
    """Embedded mode: one scheduler per process (the web process starts it once)."""

    _held: ClassVar[set[str]] = set()

    def __init__(self, key: str = "embedded") -> None:
        self.key = key
        self.token = f"pid {os.getpid()}"

    async def acquire(self) -> bool:
        if self.key in self._held:
            return False
        self._held.add(self.key)
        return True

    async def renew(self) -> bool:
        return self.key in self._held

    async def release(self) -> None:
        self._held.discard(self.key)

    async def holder(self) -> str | None:
        return self.token if self.key in self._held else None


def scheduler_lock(settings: Settings) -> SchedulerLock:
    if settings.tasks.broker == "redis":
        return RedisSchedulerLock(settings.redis.url, f"{queue_name(settings)}:scheduler-lock")
    return InProcessSchedulerLock()


def build_scheduler(broker: AsyncBroker) -> TaskiqScheduler:
    """A taskiq scheduler enqueueing on `broker` every registered task that has a schedule."""
    # The label source only accepts tasks registered on the broker it is given, which for our
    # tasks is the shared registry (see registry.py); enqueueing goes to the real broker.
    return TaskiqScheduler(broker=broker, sources=[LabelScheduleSource(task_registry)])


async def run_scheduler(
    broker: AsyncBroker,
    lock: SchedulerLock,
    *,
    stop: asyncio.Event,
    lock_ttl: float = LOCK_TTL,
) -> None:
    """Hold `lock` and enqueue scheduled tasks until `stop` is set or the lock is lost.

    The caller starts and stops `broker` (in the web process it is shared with everything else).
    Raises `SchedulerAlreadyRunning` when another scheduler holds the lock, and `RuntimeError`
    when the lock is lost while running (the caller should exit non-zero).
    """
    if not await lock.acquire():
        holder = await lock.holder()
        await lock.release()  # not ours: releases nothing, closes the connection
        raise SchedulerAlreadyRunning(holder)
    lost = asyncio.Event()
    scheduler = build_scheduler(broker)
    keeper = asyncio.create_task(_keep_lock(lock, lock_ttl, lost))
    waiters: list[asyncio.Task] = []
    started_sources = []
    try:
        for source in scheduler.sources:
            await source.startup()
            started_sources.append(source)
        schedules = [s for source in scheduler.sources for s in await source.get_schedules()]
        log.info(
            "scheduler.started",
            holder=getattr(lock, "token", None),
            schedules=sorted(f"{s.task_name} [{s.cron}]" for s in schedules),
        )
        loop_task = asyncio.create_task(SchedulerLoop(scheduler).run(skip_first_run=False))
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(lost.wait()), loop_task]
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if loop_task in done:
            loop_task.result()  # re-raise whatever stopped the loop
        if lost.is_set():
            raise RuntimeError("scheduler lock lost; stopping so that only one scheduler runs")
    finally:
        for task in [*waiters, keeper]:
            task.cancel()
        await asyncio.gather(*waiters, keeper, return_exceptions=True)
        for source in reversed(started_sources):
            await source.shutdown()
        await lock.release()
        log.info("scheduler.stopped")


async def _keep_lock(lock: SchedulerLock, ttl: float, lost: asyncio.Event) -> None:
    """Renew every third of the TTL; give up (set `lost`) when renewal is refused or has not
    succeeded for a whole TTL."""
    last_renewed = time.monotonic()
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            if await lock.renew():
                last_renewed = time.monotonic()
                continue
            log.error("scheduler.lock_taken_over")
            lost.set()
            return
        except Exception as error:  # noqa: BLE001 - transient Redis trouble: retry until TTL
            log.warning("scheduler.lock_renew_failed", error=str(error))
            if time.monotonic() - last_renewed >= ttl:
                lost.set()
                return
