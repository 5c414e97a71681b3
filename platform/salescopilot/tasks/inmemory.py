"""The embedded broker: tasks run inside the process that enqueues them (no Redis).

taskiq's `InMemoryBroker` with two changes:

- each task runs in a *fresh* `contextvars.Context`. `asyncio.create_task` would otherwise copy
  the enqueuer's context into the task: the web request's tenant, its structlog bindings, and
  Piccolo's current-transaction variable, so a task enqueued inside a request would silently join
  that request's (soon committed) transaction and tenant scope;
- the `delay` label is honoured (retries with backoff): the task waits before running. Delayed
  tasks live only in this process; on shutdown they are dropped with a warning, like everything
  else in an in-memory queue. Use the Redis broker where that matters.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable

import structlog
from taskiq import InMemoryBroker
from taskiq.exceptions import UnknownTaskError
from taskiq.message import BrokerMessage

from salescopilot.tasks.retry import delay_seconds

log = structlog.get_logger("salescopilot.tasks")

Sleep = Callable[[float], Awaitable[None]]


class EmbeddedBroker(InMemoryBroker):
    def __init__(
        self, *, sleep: Sleep = asyncio.sleep, shutdown_timeout: float = 10.0, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        #: Injected so tests can check delays without waiting for them.
        self.sleep = sleep
        self.shutdown_timeout = shutdown_timeout
        #: Delayed tasks still sleeping, with the loop time they are due.
        self._delayed: dict[asyncio.Task, float] = {}

    async def kick(self, message: BrokerMessage) -> None:
        if self.find_task(message.task_name) is None:
            raise UnknownTaskError(task_name=message.task_name)
        delay = delay_seconds(message.labels)
        coroutine = (
            self._run_later(message.message, delay)
            if delay > 0
            else self.receiver.callback(message=message.message)
        )
        task = asyncio.create_task(coroutine, context=contextvars.Context())
        self._running_tasks.add(task)
        task.add_done_callback(self._running_tasks.discard)
        if delay > 0:
            self._delayed[task] = asyncio.get_running_loop().time() + delay
            task.add_done_callback(self._forget_delayed)

    async def _run_later(self, data: bytes, delay: float) -> None:
        await self.sleep(delay)
        self._forget_delayed(asyncio.current_task())
        await self.receiver.callback(message=data)

    def _forget_delayed(self, task: asyncio.Task | None) -> None:
        self._delayed.pop(task, None)  # type: ignore[arg-type]

    async def wait_all(self) -> None:
        """Wait until no task is running or waiting, including retries enqueued meanwhile."""
        while self._running_tasks:
            await asyncio.gather(*list(self._running_tasks), return_exceptions=True)

    async def wait_settled(self, horizon: float) -> None:
        """Wait until no task is running and none is due within `horizon` seconds (tasks
        delayed past it, such as a wake-up for a message due next week, are left waiting)."""
        loop = asyncio.get_running_loop()
        while True:
            cutoff = loop.time() + horizon
            pending = [t for t in self._running_tasks if self._delayed.get(t, 0.0) <= cutoff]
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    async def shutdown(self) -> None:
        if self._delayed:
            log.warning("tasks.delayed_dropped", count=len(self._delayed))
            for task in list(self._delayed):
                task.cancel()
        running = [t for t in self._running_tasks if not t.done()]
        if running:
            _, pending = await asyncio.wait(running, timeout=self.shutdown_timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("tasks.cancelled_on_shutdown", count=len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
        await super().shutdown()
