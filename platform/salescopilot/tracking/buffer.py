"""The in-memory buffer between the tracking endpoints and the database.

An open pixel must answer in microseconds, so a hit is only appended here; a background task
writes the hits in batches (one transaction per tenant per batch). Nothing is lost on shutdown:
`close()` stops the task and writes what is left before the database goes away. While the
database cannot be written, hits stay in the buffer (up to `buffer_limit`) and are tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable

import structlog

from salescopilot.tenancy.context import TenantRef
from salescopilot.tracking.service import Hit

log = structlog.get_logger("salescopilot.tracking")

Writer = Callable[[TenantRef, list[Hit]], Awaitable[int]]


async def write_hits(tenant: TenantRef, hits: list[Hit]) -> int:
    """The default writer: one transaction for one tenant's hits."""
    from salescopilot.tenancy.context import tenant_scope
    from salescopilot.tracking.service import TrackingService

    async with tenant_scope(tenant):
        return await TrackingService().record_hits(hits)


class EventBuffer:
    def __init__(self, writer: Writer = write_hits, *, batch: int = 500, interval: float = 0.5,
                 limit: int = 100_000) -> None:
        self._writer = writer
        self._batch = batch
        self._interval = interval
        self._limit = limit
        self._pending: deque[Hit] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._flushing = asyncio.Lock()
        #: Hits written, hits that named no message of their tenant, hits dropped (buffer full).
        self.written = 0
        self.unknown = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, hit: Hit) -> None:
        """Queue one hit (never blocks, never raises)."""
        if len(self._pending) >= self._limit:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(hit)
        if len(self._pending) >= self._batch:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="tracking-buffer")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - logged; the hits stay queued and are tried again
                log.exception("tracking_buffer_flush_failed", pending=len(self._pending))
                await asyncio.sleep(self._interval)

    async def flush(self) -> int:
        """Write every queued hit now; returns how many were written. On a failure the unwritten
        hits go back to the front of the queue and the error propagates."""
        async with self._flushing:
            written = 0
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), self._batch * 4))]
                by_tenant: dict[tuple, list[Hit]] = defaultdict(list)
                for hit in batch:
                    by_tenant[(hit.tenant_id, hit.tenant_slug)].append(hit)
                done: set[tuple] = set()
                try:
                    for key, hits in by_tenant.items():
                        stored = await self._writer(TenantRef(id=key[0], slug=key[1]), hits)
                        done.add(key)
                        written += stored
                        self.written += stored
                        self.unknown += len(hits) - stored
                except BaseException:
                    left = [hit for hit in batch if (hit.tenant_id, hit.tenant_slug) not in done]
                    self._pending.extendleft(reversed(left))
                    raise
            return written

    async def close(self) -> None:
        """Stop the background task and write everything still queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:  # noqa: BLE001 - one more try, then say exactly what was lost
            try:
                await self.flush()
            except Exception:  # noqa: BLE001
                log.exception("tracking_events_lost_on_shutdown", lost=len(self._pending))
