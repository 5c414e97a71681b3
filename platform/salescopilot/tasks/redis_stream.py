"""The scale-out broker: a Redis stream read through one consumer group (acknowledged delivery).

Built on taskiq-redis's `RedisStreamBroker` (1.2), changing what crash recovery needs:

- **Redelivery that does not wait for new traffic.** Upstream runs `XAUTOCLAIM` only after a read
  that returned new messages, behind a lock without a timeout (taskiq-redis #131): a message whose
  worker died may wait forever on a quiet queue. Here every listener reclaims on a timer, lock-free
  (`XAUTOCLAIM` is atomic: two workers never claim the same entry).
- **Heartbeat for work in flight.** A live worker re-claims its own in-flight entries (`XCLAIM
  ... JUSTID`, which resets their idle time) every third of `redelivery_timeout`, so the timeout
  bounds how long a *crashed* worker's task waits, not how long a task may run.
- **One message per read.** `XREADGROUP COUNT 1`: an idle worker never hoards a batch that busy
  or dying workers would sit on.
- **Acknowledge = XACK + XDEL.** Acknowledged entries are deleted, so the stream holds only work
  not yet done (upstream keeps every entry forever unless trimmed, and trimming can drop pending
  ones).
- **Delayed delivery.** A message with a `delay` label (retries with backoff) waits in a sorted
  set `<queue>:delayed` scored by its due time; listeners move due entries to the stream with an
  atomic script, so each is delivered once however many workers run.
- **Start from the stream's beginning.** The group is created at id `0`, so messages enqueued
  before any worker ever started are delivered (upstream's `$` skips them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AckableMessage
from taskiq.message import BrokerMessage
from taskiq_redis import RedisStreamBroker

from salescopilot.clock import Clock, system_clock
from salescopilot.tasks.retry import delay_seconds

log = structlog.get_logger("salescopilot.tasks")

GROUP = "workers"
#: Due entries moved per listener iteration.
RELEASE_BATCH = 100
#: Abandoned entries claimed per reclaim pass (small: a reviving worker should not hoard).
RECLAIM_BATCH = 10

# Moves due delayed messages to the stream, atomically (ZREM + XADD in one script).
_RELEASE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('XADD', KEYS[2], '*', 'data', member)
end
return #due
"""

# Resets the idle time of this consumer's own pending entries; skips any another consumer took.
_TOUCH_OWN = """
local touched = 0
for i = 3, #ARGV do
  local entry = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if entry[1] and entry[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    touched = touched + 1
  end
end
return touched
"""


def _raise_if_cancelled() -> None:
    """Honour a cancellation that was requested but swallowed on the way down.

    On Python 3.11 `asyncio.wait_for` (which redis-py uses to send commands) drops a
    cancellation that arrives as the awaited write completes (CPython gh-86296). The listener
    would then keep looping and never yield on an idle queue, and the worker's shutdown, which
    cancels the pending read and waits for it, would hang. The task still counts the request.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class ReliableRedisStreamBroker(RedisStreamBroker):
    def __init__(
        self,
        url: str,
        *,
        queue_name: str,
        redelivery_timeout: float,
        clock: Clock = system_clock,
        xread_block_ms: int = 1000,
        **connection_kwargs: Any,
    ) -> None:
        if redelivery_timeout <= 0:
            raise ValueError("redelivery_timeout must be > 0 seconds")
        super().__init__(
            url,
            queue_name=queue_name,
            consumer_group_name=GROUP,
            consumer_id="0",
            xread_block=xread_block_ms,
            xread_count=1,
            idle_timeout=int(redelivery_timeout * 1000),
            unacknowledged_batch_size=RECLAIM_BATCH,
            **connection_kwargs,
        )
        self.delayed_key = f"{queue_name}:delayed"
        self.redelivery_timeout = redelivery_timeout
        self.clock = clock
        #: Entries delivered to this listener and not yet acknowledged.
        self.in_flight: set[str] = set()
        self._heartbeat: asyncio.Task | None = None

    # -- sending -----------------------------------------------------------------------------

    async def kick(self, message: BrokerMessage) -> None:
        delay = delay_seconds(message.labels)
        async with Redis(connection_pool=self.connection_pool) as redis:
            if delay > 0:
                due = self.clock.now().timestamp() + delay
                await redis.zadd(self.delayed_key, {message.message: due})
            else:
                await redis.xadd(self.queue_name, {b"data": message.message})

    async def release_due(self, redis: Redis | None = None) -> int:
        """Move delayed messages whose time has come to the stream; returns how many."""
        now = self.clock.now().timestamp()
        if redis is None:
            async with Redis(connection_pool=self.connection_pool) as own:
                return await self.release_due(own)
        return int(
            await redis.eval(
                _RELEASE_DUE, 2, self.delayed_key, self.queue_name, repr(now), RELEASE_BATCH
            )
        )

    # -- receiving ---------------------------------------------------------------------------

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        self._start_heartbeat()
        reclaim_every = max(0.5, self.redelivery_timeout / 2)
        next_reclaim = 0.0
        try:
            async with Redis(connection_pool=self.connection_pool) as redis:
                while True:
                    _raise_if_cancelled()
                    try:
                        await self.release_due(redis)
                        claimed = []
                        if time.monotonic() >= next_reclaim:
                            next_reclaim = time.monotonic() + reclaim_every
                            claimed = await self._reclaim(redis)
                        # Deliver reclaimed entries first: they have waited long enough.
                        fetched = (
                            None
                            if claimed
                            else await redis.xreadgroup(
                                GROUP,
                                self.consumer_name,
                                {self.queue_name: ">"},
                                block=self.block,
                                count=1,
                                noack=False,
                            )
                        )
                    except ResponseError as error:
                        if not str(error).startswith(("NOGROUP", "UNBLOCKED")):
                            raise
                        # The stream or its group vanished (Redis restarted without persistence,
                        # FLUSHDB): recreate the group and carry on rather than crash-loop.
                        log.warning("tasks.consumer_group_recreated", error=str(error))
                        await self._declare_consumer_group()
                        continue
                    for entry_id, fields in claimed:
                        if (message := await self._deliver(entry_id, fields)) is not None:
                            yield message
                    for _stream, entries in fetched or []:
                        for entry_id, fields in entries:
                            if (message := await self._deliver(entry_id, fields)) is not None:
                                yield message
        finally:
            self._stop_heartbeat()

    async def _reclaim(self, redis: Redis) -> list[tuple[Any, Any]]:
        response = await redis.xautoclaim(
            self.queue_name,
            GROUP,
            self.consumer_name,
            min_idle_time=self.idle_timeout,
            start_id="0-0",
            count=RECLAIM_BATCH,
        )
        claimed = list(response[1]) if response and len(response) > 1 else []
        if claimed:
            log.warning(
                "tasks.redelivered",
                count=len(claimed),
                consumer=self.consumer_name,
                redelivery_timeout=self.redelivery_timeout,
            )
        return claimed

    async def _deliver(self, entry_id: Any, fields: Any) -> AckableMessage | None:
        if entry_id is None:
            return None
        entry = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        data = (fields or {}).get(b"data")
        if data is None:
            # Not ours (written by hand or by something else): drop it rather than crash-loop.
            log.warning("tasks.malformed_stream_entry", entry_id=entry)
            await self._ack(entry)()
            return None
        self.in_flight.add(entry)
        return AckableMessage(data=data, ack=self._ack(entry))

    def _ack(self, entry: str) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            async with (
                Redis(connection_pool=self.connection_pool) as redis,
                redis.pipeline(transaction=True) as pipe,
            ):
                pipe.xack(self.queue_name, GROUP, entry)
                pipe.xdel(self.queue_name, entry)
                await pipe.execute()
            self.in_flight.discard(entry)

        return ack

    # -- heartbeat ---------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._heartbeat_loop())

    def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    async def _heartbeat_loop(self) -> None:
        interval = self.redelivery_timeout / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.touch_in_flight()
            except Exception as error:  # noqa: BLE001 - Redis hiccup: try again next beat
                log.warning("tasks.heartbeat_failed", error=str(error))

    async def touch_in_flight(self) -> int:
        """Reset the idle time of this listener's unacknowledged entries; returns how many."""
        entries = sorted(self.in_flight)
        if not entries:
            return 0
        async with Redis(connection_pool=self.connection_pool) as redis:
            return int(
                await redis.eval(
                    _TOUCH_OWN, 1, self.queue_name, GROUP, self.consumer_name, *entries
                )
            )

    async def shutdown(self) -> None:
        self._stop_heartbeat()
        if self.is_worker_process:
            await self._forget_consumer()
        await super().shutdown()

    async def _forget_consumer(self) -> None:
        """Remove this listener from the group when it holds nothing, so consumer names of past
        processes do not pile up; with pending entries it stays, and they are reclaimed."""
        try:
            async with Redis(connection_pool=self.connection_pool) as redis:
                pending = await redis.xpending_range(
                    self.queue_name,
                    GROUP,
                    min="-",
                    max="+",
                    count=1,
                    consumername=self.consumer_name,
                )
                if not pending:
                    await redis.xgroup_delconsumer(self.queue_name, GROUP, self.consumer_name)
        except Exception as error:  # noqa: BLE001 - best effort on the way out
            log.warning("tasks.consumer_cleanup_failed", error=str(error))
