"""The Redis stream broker in-process against a real Redis: delayed delivery on a fake clock,
acknowledgement, redelivery of a dead consumer's message, and the heartbeat that protects a live
one's."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from salescopilot.clock import FakeClock
from salescopilot.tasks import set_broker, system_task
from salescopilot.tasks.redis_stream import GROUP, ReliableRedisStreamBroker

pytestmark = pytest.mark.redis


@system_task("testredis.echo")
async def echo(value: int) -> int:
    return value


def make_broker(settings, *, redelivery_timeout=1.0, clock=None) -> ReliableRedisStreamBroker:
    return ReliableRedisStreamBroker(
        settings.redis.url,
        queue_name=settings.tasks.queue,
        redelivery_timeout=redelivery_timeout,
        clock=clock or FakeClock(),
        xread_block_ms=100,
    )


@pytest.fixture
async def redis(redis_settings):
    client = aioredis.Redis.from_url(redis_settings.redis.url)
    yield client
    await client.aclose()


@pytest.fixture
async def brokers(redis_settings):
    """Makes brokers; shuts every one down afterwards."""
    made: list[ReliableRedisStreamBroker] = []

    def factory(**kwargs) -> ReliableRedisStreamBroker:
        broker = make_broker(redis_settings, **kwargs)
        made.append(broker)
        return broker

    yield factory
    set_broker(None)
    for broker in made:
        await broker.shutdown()


async def receive(broker, timeout: float):
    """The next message `broker` delivers within `timeout` seconds, or None."""
    stream = broker.listen()
    try:
        return await asyncio.wait_for(anext(stream), timeout)
    except TimeoutError:
        return None
    finally:
        await stream.aclose()


async def test_a_delayed_message_waits_until_it_is_due(brokers, redis, redis_settings):
    clock = FakeClock()
    broker = brokers(clock=clock)
    await broker.startup()
    set_broker(broker)

    await echo.kicker().with_labels(delay=30).kiq(7)

    assert await broker.release_due() == 0
    assert await redis.zcard(broker.delayed_key) == 1
    assert await redis.xlen(broker.queue_name) == 0
    clock.advance(seconds=29)
    assert await broker.release_due() == 0
    clock.advance(seconds=2)
    assert await broker.release_due() == 1
    assert await redis.zcard(broker.delayed_key) == 0
    message = await receive(broker, 5)
    assert message is not None and b"testredis.echo" in message.data


async def test_acknowledging_removes_the_message_from_the_stream(brokers, redis):
    broker = brokers()
    await broker.startup()
    set_broker(broker)
    await echo.kiq(1)

    message = await receive(broker, 5)
    assert message is not None
    assert len(broker.in_flight) == 1
    assert (await redis.xpending(broker.queue_name, GROUP))["pending"] == 1

    await message.ack()

    assert broker.in_flight == set()
    assert (await redis.xpending(broker.queue_name, GROUP))["pending"] == 0
    assert await redis.xlen(broker.queue_name) == 0


async def test_messages_sent_before_any_worker_started_are_delivered(brokers):
    sender = brokers()
    set_broker(sender)
    await echo.kiq(2)  # no consumer group exists yet

    worker = brokers()
    await worker.startup()
    message = await receive(worker, 5)
    assert message is not None and b"testredis.echo" in message.data


async def test_a_dead_consumers_message_is_redelivered_after_the_timeout(brokers):
    first, second = brokers(redelivery_timeout=1.0), brokers(redelivery_timeout=1.0)
    await first.startup()
    await second.startup()
    set_broker(first)
    await echo.kiq(3)
    taken = await receive(first, 5)  # delivered to `first`, which then "dies" without acking
    assert taken is not None
    first._stop_heartbeat()
    started = time.monotonic()

    redelivered = await receive(second, 6)

    assert redelivered is not None
    assert redelivered.data == taken.data
    assert time.monotonic() - started >= 0.5  # not before the entry went idle
    await redelivered.ack()


async def test_a_live_consumers_message_is_not_taken_away(brokers, redis):
    first, second = brokers(redelivery_timeout=2.0), brokers(redelivery_timeout=2.0)
    await first.startup()
    await second.startup()
    set_broker(first)
    await echo.kiq(4)
    stream = first.listen()
    taken = await asyncio.wait_for(anext(stream), 5)  # the heartbeat runs while `first` works
    try:
        assert await receive(second, 5) is None  # over two redelivery timeouts, still first's
        pending = await redis.xpending_range(first.queue_name, GROUP, "-", "+", 10)
        assert [p["consumer"].decode() for p in pending] == [first.consumer_name]
        assert await first.touch_in_flight() == 1
    finally:
        await stream.aclose()
    await taken.ack()


async def test_a_foreign_entry_in_the_stream_is_dropped(brokers, redis):
    broker = brokers()
    await broker.startup()
    set_broker(broker)
    await redis.xadd(broker.queue_name, {"something": "else"})
    await echo.kiq(5)

    message = await receive(broker, 5)

    assert message is not None and b"testredis.echo" in message.data
    await message.ack()
    assert await redis.xlen(broker.queue_name) == 0


async def test_a_listener_recreates_a_vanished_stream_and_group(brokers, redis):
    broker = brokers()
    await broker.startup()
    set_broker(broker)
    stream = broker.listen()
    pending = asyncio.ensure_future(anext(stream))
    try:
        await asyncio.sleep(0.3)  # the listener is blocked reading the stream
        await redis.delete(broker.queue_name)  # as after a Redis restart without persistence
        await asyncio.sleep(0.3)
        await echo.kiq(6)
        message = await asyncio.wait_for(pending, 5)
        assert b"testredis.echo" in message.data
        await message.ack()
    finally:
        pending.cancel()
        await stream.aclose()
