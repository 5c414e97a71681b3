"""A periodic task for the scheduler-process test. Imported only by the subprocesses (not by the
test process), so no other test's scheduler fires it."""

from __future__ import annotations

import os

from redis.asyncio import Redis

from salescopilot.settings import get_settings
from salescopilot.tasks import system_task


@system_task("probe.tick", cron="* * * * *")
async def tick() -> None:
    settings = get_settings()
    redis = Redis.from_url(settings.redis.url)
    try:
        await redis.rpush(f"{settings.tasks.queue}:ticks", os.getpid())
    finally:
        await redis.aclose()
