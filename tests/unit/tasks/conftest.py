"""Fixtures for task tests on the embedded (in-memory) broker: no Redis, no sleeping."""

from __future__ import annotations

import random

import pytest

from salescopilot.tasks import retry as retry_module
from salescopilot.tasks.broker import create_broker, set_broker
from salescopilot.tasks.retry import RetryMiddleware


class RecordingSleep:
    """Stands in for asyncio.sleep: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class RecordingLog:
    """Stands in for the tasks' structlog logger and keeps every event."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def _record(self, level: str, event: str, **fields) -> None:
        self.events.append({"level": level, "event": event, **fields})

    def debug(self, event, **fields):
        self._record("debug", event, **fields)

    def info(self, event, **fields):
        self._record("info", event, **fields)

    def warning(self, event, **fields):
        self._record("warning", event, **fields)

    def error(self, event, **fields):
        self._record("error", event, **fields)

    def exception(self, event, **fields):
        self._record("exception", event, **fields)

    def named(self, event: str) -> list[dict]:
        return [e for e in self.events if e["event"] == event]


@pytest.fixture
def fake_sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def task_log(monkeypatch) -> RecordingLog:
    recorder = RecordingLog()
    monkeypatch.setattr(retry_module, "log", recorder)
    return recorder


@pytest.fixture
async def broker(settings, db, fake_sleep):
    """The embedded broker for this test's settings, installed as the process's broker, with a
    seeded jitter source and a sleep that does not wait."""
    broker = create_broker(settings)
    broker.sleep = fake_sleep
    for middleware in broker.middlewares:
        if isinstance(middleware, RetryMiddleware):
            middleware.rng = random.Random(7)
    set_broker(broker)
    await broker.startup()
    yield broker
    await broker.shutdown()
    set_broker(None)
