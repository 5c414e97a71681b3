"""The scheduler's Redis lease: one holder, renewed and released only by it, expiring after a
crash."""

from __future__ import annotations

import asyncio

import pytest

from salescopilot.tasks.scheduler import RedisSchedulerLock

pytestmark = pytest.mark.redis


@pytest.fixture
def key(redis_settings) -> str:
    return f"{redis_settings.tasks.queue}:scheduler-lock"


async def test_only_one_holder_at_a_time(redis_settings, key):
    first = RedisSchedulerLock(redis_settings.redis.url, key, ttl=5)
    second = RedisSchedulerLock(redis_settings.redis.url, key, ttl=5)
    try:
        assert await first.acquire()
        assert not await second.acquire()
        assert await second.holder() == first.token
        assert not await second.renew()  # renewing someone else's lease fails
        await second.release()  # and releasing it does nothing
        assert await first.holder() == first.token
        assert await first.renew()
    finally:
        await first.release()
    third = RedisSchedulerLock(redis_settings.redis.url, key, ttl=5)
    try:
        assert await third.acquire()  # free again once the holder released it
    finally:
        await third.release()


async def test_a_crashed_holders_lease_expires(redis_settings, key):
    crashed = RedisSchedulerLock(redis_settings.redis.url, key, ttl=0.3)
    assert await crashed.acquire()
    await crashed.redis.aclose()  # gone without releasing
    successor = RedisSchedulerLock(redis_settings.redis.url, key, ttl=5)
    try:
        assert not await successor.acquire()
        await asyncio.sleep(0.5)
        assert await successor.acquire()
    finally:
        await successor.release()
