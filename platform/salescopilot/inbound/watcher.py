"""The IDLE watcher: a long-running part of each worker process that keeps one waiting
connection per mailbox (IMAP IDLE where the server offers it, else the provider's polling) and
enqueues `inbound.sync` for the mailbox the moment new mail is announced, so a reply stops a
sequence within seconds instead of at the next minutely sweep.

A connection that fails is retried after a growing, jittered delay (5 s doubling up to 10 min);
the list of mailboxes is read again every few minutes, so new, changed or removed mailboxes are
picked up. Enabled with `SALESCOPILOT_MAIL__IMAP_IDLE=true` (the minutely sweep alone is the
default and suffices for small installations).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import structlog

from salescopilot.crypto import SecretBox
from salescopilot.mailboxes.providers import provider_instances
from salescopilot.mailboxes.repository import MailboxRepository
from salescopilot.settings import Settings
from salescopilot.tasks.tenant_task import active_tenant_ids, load_active_tenant
from salescopilot.tenancy.context import TenantRef, tenant_scope

log = structlog.get_logger(__name__)

#: RFC 2177: re-issue IDLE at least every 29 minutes.
IDLE_SECONDS = 25 * 60
FIRST_RETRY = 5.0
MAX_RETRY = 600.0
REFRESH_SECONDS = 300.0
#: How long stopping waits for the watches to end.
STOP_SECONDS = 5.0


def retry_delay(failures: int, rng: random.Random | None = None) -> float:
    """Seconds before reconnecting after `failures` failures in a row: doubling, capped, with
    ±20 % jitter so many mailboxes of one server do not reconnect in step."""
    base = min(MAX_RETRY, FIRST_RETRY * 2 ** max(0, failures - 1))
    return base * (rng or random).uniform(0.8, 1.2)


class IdleWatcher:
    def __init__(self, settings: Settings, *, announce: Any = None, idle_seconds: float = IDLE_SECONDS,
                 refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.box = SecretBox.from_settings(settings)
        self.idle_seconds = idle_seconds
        self.refresh_seconds = refresh_seconds
        #: async (tenant_id, mailbox_id) -> None: what to do on new mail (default: enqueue a sync).
        self.announce = announce or _enqueue_sync
        self._watching: dict[tuple[uuid.UUID, uuid.UUID, int], asyncio.Task] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Watch every mailbox of every active tenant until `stop` is set."""
        try:
            while not stop.is_set():
                await self.refresh()
                try:
                    await asyncio.wait_for(stop.wait(), self.refresh_seconds)
                except (TimeoutError, asyncio.TimeoutError):
                    pass
        finally:
            await self.stop_all()

    async def refresh(self) -> None:
        wanted: dict[tuple[uuid.UUID, uuid.UUID, int], TenantRef] = {}
        for tenant_id in await active_tenant_ids():
            tenant = await load_active_tenant(tenant_id)
            async with tenant_scope(tenant, write=False):
                for mailbox in await MailboxRepository().all():
                    if mailbox.status != "disabled":
                        wanted[(tenant.id, mailbox.id, mailbox.settings_version)] = tenant
        for key in [k for k in self._watching if k not in wanted]:
            self._watching.pop(key).cancel()
        for key, tenant in wanted.items():
            if key not in self._watching:
                self._watching[key] = asyncio.create_task(self.watch(tenant, key[1]))

    async def watch(self, tenant: TenantRef, mailbox_id: uuid.UUID) -> None:
        failures = 0
        while True:
            try:
                async with tenant_scope(tenant, write=False):
                    row = await MailboxRepository().get(mailbox_id)
                    if row is None:
                        return
                    provider = await provider_instances.for_mailbox(row, self.box)
                changed = await provider.wait_for_new_messages(self.idle_seconds)
                failures = 0
                if changed:
                    await self.announce(tenant.id, mailbox_id)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - logged; the connection is retried later
                failures += 1
                delay = retry_delay(failures)
                log.warning("inbound.idle_failed", mailbox=str(mailbox_id), failures=failures,
                            retry_in=round(delay, 1), error=str(error)[:300])
                await asyncio.sleep(delay)

    async def stop_all(self) -> None:
        """Cancel every watch; one stuck in a library call that ignores the cancellation is left
        behind after a few seconds (logged) rather than holding up the process's shutdown."""
        tasks = list(self._watching.values())
        self._watching.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_SECONDS)
            if pending:
                log.warning("inbound.idle_watch_not_stopped", watches=len(pending))


async def _enqueue_sync(tenant_id: uuid.UUID, mailbox_id: uuid.UUID) -> None:
    from salescopilot.inbound.tasks import sync

    await sync.kiq(tenant_id, str(mailbox_id))
