"""The broker factory and the process's broker.

`create_broker(settings)` builds one of two brokers from `tasks.broker`:

- `inmemory` (embedded default): tasks run inside the process that enqueues them — the web
  process — with no Redis. Results are kept in memory.
- `redis` (scale-out): a Redis stream with a consumer group, so a message is acknowledged only
  after its task finished and is redelivered when its worker dies (`redis_stream.py`); results go
  to Redis (JSON, not pickle: whoever can write Redis must not be able to run code in a worker).

`broker` (this module's attribute, which `taskiq worker salescopilot.tasks.broker:broker` imports)
is built lazily on first access from `get_settings()` — through a module `__getattr__` rather
than at import, so that importing task modules or this one reads no settings and opens nothing,
and so a forked worker process builds its own connection pool instead of inheriting its parent's.
Tests and the web app's start-up may install their own with `set_broker()`.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import uuid

import structlog
from taskiq import AsyncBroker, TaskiqEvents, TaskiqState
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisAsyncResultBackend

from salescopilot.clock import Clock, system_clock
from salescopilot.settings import Settings, get_settings
from salescopilot.tasks.inmemory import EmbeddedBroker
from salescopilot.tasks.redis_stream import ReliableRedisStreamBroker
from salescopilot.tasks.retry import RetryMiddleware, RetrySettings

log = structlog.get_logger("salescopilot.tasks")

#: How long task results stay readable in Redis, seconds.
RESULT_TTL = 24 * 3600
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")

_broker: AsyncBroker | None = None


def create_broker(settings: Settings, *, clock: Clock = system_clock) -> AsyncBroker:
    """A new, not yet started broker for `settings.tasks.broker` (call `startup()` on it)."""
    tasks = settings.tasks
    retry = RetryMiddleware(RetrySettings.from_settings(tasks))
    if tasks.broker == "inmemory":
        broker: AsyncBroker = EmbeddedBroker()
    elif tasks.broker == "redis":
        if not settings.redis.url:
            raise ValueError("tasks.broker=redis needs SALESCOPILOT_REDIS__URL")
        queue = queue_name(settings)
        broker = ReliableRedisStreamBroker(
            settings.redis.url,
            queue_name=queue,
            redelivery_timeout=tasks.redelivery_timeout,
            clock=clock,
            consumer_name=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        ).with_result_backend(
            RedisAsyncResultBackend(
                settings.redis.url,
                result_ex_time=RESULT_TTL,
                serializer=JSONSerializer(),
                prefix_str=f"{queue}:result",
            )
        )
        _add_worker_lifecycle(broker, settings)
    else:  # settings validation makes this unreachable; kept for a clear message
        raise ValueError(f"unknown tasks.broker {tasks.broker!r}")
    broker.add_middlewares(retry)
    return broker


def queue_name(settings: Settings) -> str:
    """The Redis stream's key; the delayed set, results and the scheduler lock derive from it."""
    name = settings.tasks.queue
    if not _QUEUE_NAME.match(name):
        raise ValueError(f"tasks.queue {name!r} must be 1-100 of A-Z a-z 0-9 _ . : -")
    return name


def _add_worker_lifecycle(broker: AsyncBroker, settings: Settings) -> None:
    """A worker process opens the database when it starts and closes it when it stops. (The
    embedded broker gets no such handlers: its host process owns the database.)"""

    async def start(state: TaskiqState) -> None:
        from salescopilot.db.engine import start_database

        await start_database(settings)
        if settings.mail.imap_idle:
            from salescopilot.inbound.watcher import IdleWatcher

            state.idle_stop = asyncio.Event()
            state.idle_watcher = asyncio.create_task(IdleWatcher(settings).run(state.idle_stop))
        log.info("worker.started", pid=os.getpid(), queue=settings.tasks.queue)

    async def stop(state: TaskiqState) -> None:
        from salescopilot.db.engine import stop_database

        watcher = getattr(state, "idle_watcher", None)
        if watcher is not None:
            state.idle_stop.set()
            await asyncio.gather(watcher, return_exceptions=True)
        from salescopilot.ai.client import close_task_model_client

        await close_task_model_client()
        await stop_database()
        log.info("worker.stopped", pid=os.getpid())

    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, start)
    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, stop)


def get_broker() -> AsyncBroker:
    """The process's broker: the one installed with `set_broker`, else one built from
    `get_settings()` on first use."""
    global _broker
    if _broker is None:
        _broker = create_broker(get_settings())
    return _broker


def set_broker(broker: AsyncBroker | None) -> None:
    """Install `broker` as the process's broker (None: build from settings on next use)."""
    global _broker
    _broker = broker


def __getattr__(name: str) -> AsyncBroker:
    if name == "broker":
        return get_broker()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
