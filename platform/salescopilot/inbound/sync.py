"""Reading new mail of every mailbox of a tenant and storing it (`InboxSync`).

Each mailbox is read outside any transaction (the mail server may be slow), then each batch is
stored with its effects and the new cursor in one transaction: a crash between the two reads the
batch again, and the stored messages' dedupe keys make that change nothing. A mailbox that fails
is retried later with a growing delay (reconnection with backoff); the others go on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog

from salescopilot.clock import Clock, system_clock
from salescopilot.crypto import SecretBox
from salescopilot.inbound.repository import MailboxSyncStateRepository
from salescopilot.inbound.service import InboundService, StoredBatch
from salescopilot.mailboxes.providers import provider_instances
from salescopilot.mailboxes.repository import MailboxRepository
from salescopilot.mailboxes.tables import Mailbox
from salescopilot.plugin_system.interfaces import MailProvider
from salescopilot.settings import Settings
from salescopilot.tenancy.context import current_tenant, tenant_scope

log = structlog.get_logger(__name__)

#: Messages per fetch (and per storing transaction).
BATCH = 100
#: Batches one run reads of one mailbox; a mailbox with more continues on the next run.
MAX_BATCHES = 50
#: Mailboxes of one tenant read at the same time.
CONCURRENT_MAILBOXES = 8
#: The delay after the first failure; it doubles with each failure in a row, up to the maximum.
FIRST_BACKOFF = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(minutes=30)


@dataclass(slots=True)
class SyncReport:
    mailboxes: int = 0
    stored: int = 0
    already_known: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    skipped: int = 0


def backoff(failures: int) -> dt.timedelta:
    return min(MAX_BACKOFF, FIRST_BACKOFF * (2 ** max(0, failures - 1)))


class InboxSync:
    def __init__(self, settings: Settings, clock: Clock = system_clock, *, plugin_manager: Any = None) -> None:
        self.settings = settings
        self.clock = clock
        self.plugin_manager = plugin_manager
        self.box = SecretBox.from_settings(settings)

    async def sync_tenant(self, *, only: uuid.UUID | None = None, force: bool = False) -> SyncReport:
        """Read every mailbox of the current tenant (or `only` that one) that is not disabled and
        not waiting out a backoff (`force` ignores the backoff)."""
        tenant = current_tenant()
        report = SyncReport()
        now = self.clock.now()
        async with tenant_scope(tenant, write=False):
            mailboxes = [m for m in await MailboxRepository().all() if m.status != "disabled"]
            if only is not None:
                mailboxes = [m for m in mailboxes if m.id == only]
            states = await MailboxSyncStateRepository().all_by_mailbox()
            work: list[tuple[Mailbox, MailProvider, str]] = []
            for mailbox in mailboxes:
                state = states.get(mailbox.id)
                if state is not None and state.next_attempt_at and state.next_attempt_at > now and not force:
                    report.skipped += 1
                    continue
                provider = await provider_instances.for_mailbox(mailbox, self.box)
                work.append((mailbox, provider, state.cursor if state is not None else ""))
        report.mailboxes = len(work)
        slots = asyncio.Semaphore(CONCURRENT_MAILBOXES)

        async def one(mailbox: Mailbox, provider: MailProvider, cursor: str) -> None:
            async with slots:
                try:
                    stored, known = await self.sync_mailbox(mailbox.id, provider, cursor)
                    report.stored += stored
                    report.already_known += known
                except Exception as error:  # noqa: BLE001 - recorded on the mailbox, retried later
                    report.failed[str(mailbox.id)] = f"{type(error).__name__}: {error}"[:500]
                    await self._record_failure(mailbox.id, error)

        await asyncio.gather(*(one(*item) for item in work))
        return report

    async def sync_mailbox(self, mailbox: uuid.UUID, provider: MailProvider, cursor: str) -> tuple[int, int]:
        """Read and store the mailbox's new messages; returns (stored, already known)."""
        tenant = current_tenant()
        stored = known = 0
        for _ in range(MAX_BATCHES):
            fetched = await provider.fetch_new_messages(cursor or None, limit=BATCH)
            if not fetched.messages and fetched.cursor == cursor:
                await self._clear_failure(mailbox)
                break
            async with tenant_scope(tenant):
                state = await MailboxSyncStateRepository().lock(mailbox)
                service = InboundService(self.clock, plugin_manager=self.plugin_manager, box=self.box)
                batch = await service.store(mailbox, fetched.messages)
                state.cursor = fetched.cursor
                state.last_synced_at = self.clock.now()
                state.last_error, state.failures, state.next_attempt_at = "", 0, None
                state.messages_stored += len(batch.stored)
                await MailboxSyncStateRepository().save(state)
            await self._announce(mailbox, batch)
            await self._read_intents(batch)
            stored, known, cursor = stored + len(batch.stored), known + batch.already_known, fetched.cursor
            if not fetched.has_more:
                break
        return stored, known

    async def _clear_failure(self, mailbox: uuid.UUID) -> None:
        """After a quiet read: forget an earlier failure (an idle mailbox writes nothing)."""
        async with tenant_scope(current_tenant(), write=False):
            state = await MailboxSyncStateRepository().for_mailbox(mailbox)
        if state is not None and (state.failures or state.last_error):
            async with tenant_scope(current_tenant()):
                await MailboxSyncStateRepository().update_where(
                    {"failures": 0, "last_error": "", "next_attempt_at": None,
                     "last_synced_at": self.clock.now()},
                    MailboxSyncStateRepository.table.mailbox == mailbox,
                )

    async def _record_failure(self, mailbox: uuid.UUID, error: BaseException) -> None:
        log.warning("inbound.sync_failed", mailbox=str(mailbox), error=str(error)[:300])
        async with tenant_scope(current_tenant()):
            repository = MailboxSyncStateRepository()
            state = await repository.lock(mailbox)
            delay = backoff(state.failures + 1)
            await repository.record_failure(mailbox, str(error) or type(error).__name__, self.clock.now() + delay)

    async def _read_intents(self, batch: StoredBatch) -> None:
        """After the commit, a task per stored reply reads what it wants, when the tenant has an
        AI model; a lost enqueue only leaves the intent to be read by hand."""
        from salescopilot.ai.engine import resolve_tenant_ai
        from salescopilot.inbound.intent import can_have_intent
        from salescopilot.inbound.tasks import classify_intent

        wanted = [row.id for row in batch.stored if can_have_intent(row)]
        if not wanted or (await resolve_tenant_ai(self.settings.ai, self.box)).provider is None:
            return
        tenant = current_tenant()
        for message in wanted:
            try:
                await classify_intent.kiq(tenant.id, str(message))
            except Exception:  # noqa: BLE001 - the message is stored; a person can still ask
                log.warning("inbound.intent_not_queued", message=str(message), exc_info=True)

    async def _announce(self, mailbox: uuid.UUID, batch: StoredBatch) -> None:
        """`on_reply_received` for each human reply, after the commit; a plugin's failure is
        logged and never undoes the stored message."""
        if not batch.replies or self.plugin_manager is None:
            return
        from salescopilot.plugin_system.manager import fire_event

        for lead, message, in_reply_to in batch.replies:
            try:
                await fire_event(self.plugin_manager, "on_reply_received", tenant=current_tenant(),
                                 lead_id=lead, mailbox_id=mailbox, message=message, in_reply_to=in_reply_to)
            except Exception:  # noqa: BLE001 - a plugin's failure is logged, the sync goes on
                log.exception("inbound.on_reply_received_failed", mailbox=str(mailbox))
