"""The embedded mode end to end (kiq → result in the same process), the broker factory, and the
in-process scheduler the web app runs in embedded mode."""

from __future__ import annotations

import asyncio

import pytest
from taskiq import TaskiqEvents
from taskiq.serializers import JSONSerializer

from salescopilot.settings import Settings
from salescopilot.tasks import create_broker, get_broker, set_broker, system_task
from salescopilot.tasks.inmemory import EmbeddedBroker
from salescopilot.tasks.redis_stream import ReliableRedisStreamBroker
from salescopilot.tasks.scheduler import (
    InProcessSchedulerLock,
    SchedulerAlreadyRunning,
    run_scheduler,
)
from salescopilot.tasks.worker import task_runtime

ticks: list[str] = []


@system_task("testembedded.add")
async def add(a: int, b: int) -> int:
    return a + b


@system_task("testembedded.tick", cron="* * * * *")
async def tick() -> None:
    ticks.append("tick")


async def test_kiq_runs_the_task_and_returns_its_result(broker):
    task = await add.kiq(2, 3)
    result = await task.wait_result(timeout=5)
    assert not result.is_err
    assert result.return_value == 5


async def test_arguments_are_cast_to_the_annotated_types(broker):
    result = await (await add.kiq("2", "40")).wait_result(timeout=5)
    assert result.return_value == 42


def test_the_factory_builds_the_embedded_broker_by_default(settings):
    assert isinstance(create_broker(settings), EmbeddedBroker)


def test_the_factory_builds_the_redis_stream_broker_for_scale_out():
    settings = Settings(
        tasks={"broker": "redis", "queue": "sc:test", "redelivery_timeout": 12},
        redis={"url": "redis://127.0.0.1:6379/15"},
    )
    broker = create_broker(settings)

    assert isinstance(broker, ReliableRedisStreamBroker)
    assert broker.queue_name == "sc:test"
    assert broker.delayed_key == "sc:test:delayed"
    assert broker.idle_timeout == 12_000
    assert broker.consumer_id == "0"
    assert isinstance(broker.result_backend.serializer, JSONSerializer)  # never pickle
    assert broker.result_backend.prefix_str == "sc:test:result"
    assert broker.event_handlers[TaskiqEvents.WORKER_STARTUP]
    assert broker.event_handlers[TaskiqEvents.WORKER_SHUTDOWN]


@pytest.mark.parametrize("queue", ["", "has space", "x" * 101, "{evil}", "a\nb"])
def test_the_factory_refuses_an_unsafe_queue_name(queue):
    settings = Settings(tasks={"broker": "redis", "queue": queue}, redis={"url": "redis://x"})
    with pytest.raises(ValueError, match="tasks.queue"):
        create_broker(settings)


def test_the_process_broker_is_built_lazily_and_can_be_replaced(settings):
    from salescopilot.tasks import broker as broker_module

    set_broker(None)
    built = broker_module.broker  # what `taskiq worker salescopilot.tasks.broker:broker` reads
    assert built is get_broker()
    replacement = EmbeddedBroker()
    set_broker(replacement)
    assert broker_module.broker is replacement
    set_broker(None)


async def test_the_web_runtime_runs_periodic_tasks_in_process(settings, db):
    ticks.clear()
    async with task_runtime(settings) as broker:
        assert get_broker() is broker
        for _ in range(100):
            if ticks:
                break
            await asyncio.sleep(0.05)
    assert ticks, "the embedded scheduler did not enqueue the every-minute task"
    assert InProcessSchedulerLock._held == set()  # released on the way out


async def test_only_one_embedded_scheduler_runs_per_process(settings, db):
    async with task_runtime(settings, run_scheduler=False) as broker:
        held = InProcessSchedulerLock()
        assert await held.acquire()
        try:
            with pytest.raises(SchedulerAlreadyRunning):
                await run_scheduler(broker, InProcessSchedulerLock(), stop=asyncio.Event())
        finally:
            await held.release()


class LosingLock:
    """A lock that is granted, then taken over by someone else at the first renewal."""

    def __init__(self) -> None:
        self.released = False

    async def acquire(self) -> bool:
        return True

    async def renew(self) -> bool:
        return False

    async def release(self) -> None:
        self.released = True

    async def holder(self) -> str | None:
        return "someone else"


async def test_a_scheduler_that_loses_its_lock_stops(settings, db):
    lock = LosingLock()
    async with task_runtime(settings, run_scheduler=False) as broker:
        with pytest.raises(RuntimeError, match="lock lost"):
            await asyncio.wait_for(
                run_scheduler(broker, lock, stop=asyncio.Event(), lock_ttl=0.3), timeout=5
            )
    assert lock.released


noted: list[str] = []


@system_task("testembedded.note")
async def note(what: str) -> None:
    noted.append(what)


async def test_settling_waits_for_tasks_due_soon_but_not_for_those_due_later():
    broker = EmbeddedBroker()
    set_broker(broker)
    await broker.startup()
    noted.clear()
    try:
        await note.kiq("now")
        await note.kicker().with_labels(delay=0.05).kiq("soon")
        await note.kicker().with_labels(delay=3600).kiq("next hour")

        await asyncio.wait_for(broker.wait_settled(horizon=1), timeout=5)

        assert sorted(noted) == ["now", "soon"]
    finally:
        await broker.shutdown()
        set_broker(None)
    assert "next hour" not in noted
