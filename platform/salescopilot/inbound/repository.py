"""Queries of inbound messages, sync positions and the inbound policy."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from piccolo.columns.combination import WhereRaw

from salescopilot.db.engine import is_postgres
from salescopilot.inbound.tables import InboundPolicy, MailboxSyncState, ReceivedMessage
from salescopilot.listing import ListQuery, Page
from salescopilot.tenancy.repository import TenantRepository

#: What the inbox list reads of a message (not its headers or full verdict).
LIST_COLUMNS = (
    "id", "mailbox", "folder", "message_id", "in_reply_to", "from_address", "from_name", "subject",
    "excerpt", "raw_size", "sent_at", "received_at", "kind", "bounce_type", "about_address",
    "corrected_kind", "lead", "outbox_message", "campaign", "match_method", "effects", "intent",
    "intent_return_date", "intent_confidence", "intent_summary", "intent_source", "intent_ai_draft",
    "intent_classified_at",
)


class ReceivedMessageRepository(TenantRepository[ReceivedMessage]):
    table = ReceivedMessage
    sortable: ClassVar[tuple[str, ...]] = ("received_at", "created_at", "from_address", "kind")
    default_sort: ClassVar[str] = "received_at"

    async def known_keys(self, keys: list[str]) -> set[str]:
        """The dedupe keys among `keys` already stored."""
        if not keys:
            return set()
        rows = await (
            ReceivedMessage.select(ReceivedMessage.dedupe_key)
            .where(self._where(ReceivedMessage.dedupe_key.is_in(list(dict.fromkeys(keys)))))
        )
        return {row["dedupe_key"] for row in rows}

    async def soft_bounces_of(self, address: str) -> int:
        return await self.count(
            ReceivedMessage.about_address == address, ReceivedMessage.kind == "bounce",
            ReceivedMessage.bounce_type == "soft",
        )

    async def page(self, query: ListQuery, *, kind: str | None, campaign: uuid.UUID | None,
                   intent: str | None = None) -> Page[dict]:
        """One page of the inbox; `kind` matches the corrected kind where a person corrected it."""
        conditions: list[Any] = []
        if intent is not None:
            conditions.append(ReceivedMessage.intent == intent)
        if kind is not None:
            conditions.append(WhereRaw(
                "(CASE WHEN corrected_kind = '' THEN kind ELSE corrected_kind END) = {}", kind
            ))
        if campaign is not None:
            conditions.append(ReceivedMessage.campaign == campaign)
        columns = [self._col(name) for name in LIST_COLUMNS]
        return await self.list_page(query, *conditions, columns=columns)

    async def of_leads(self, leads: list[uuid.UUID]) -> list[ReceivedMessage]:
        if not leads:
            return []
        return await (
            ReceivedMessage.objects()
            .where(self._where(ReceivedMessage.lead.is_in(leads)))
            .order_by(ReceivedMessage.received_at)
        )


class MailboxSyncStateRepository(TenantRepository[MailboxSyncState]):
    table = MailboxSyncState

    async def for_mailbox(self, mailbox: uuid.UUID) -> MailboxSyncState | None:
        return await self.find_one(MailboxSyncState.mailbox == mailbox)

    async def lock(self, mailbox: uuid.UUID) -> MailboxSyncState:
        """The mailbox's sync state, made on first use and held until the transaction ends
        (PostgreSQL; a SQLite write transaction already excludes other writers), so two syncs of
        one mailbox store its messages one after the other."""
        row = await self.for_mailbox(mailbox)
        if row is None:
            await MailboxSyncState.raw(
                "INSERT INTO mailbox_sync_state (id, tenant, mailbox, cursor, last_error, failures, "
                "messages_stored) VALUES ({}, {}, {}, '', '', 0, 0) ON CONFLICT (tenant, mailbox) DO NOTHING",
                uuid.uuid4(), self.tenant_id, mailbox,
            )
        if is_postgres(MailboxSyncState._meta.db):
            await MailboxSyncState.raw(
                "SELECT id FROM mailbox_sync_state WHERE tenant = {} AND mailbox = {} FOR UPDATE",
                self.tenant_id, mailbox,
            )
        found = await self.for_mailbox(mailbox)
        assert found is not None
        return found

    async def all_by_mailbox(self) -> dict[uuid.UUID, MailboxSyncState]:
        return {row.mailbox: row for row in await self.find()}

    async def record_failure(self, mailbox: uuid.UUID, error: str, next_attempt_at: dt.datetime) -> None:
        row = await self.lock(mailbox)
        row.failures += 1
        row.last_error = error[:2000]
        row.next_attempt_at = next_attempt_at
        await self.save(row)


class InboundPolicyRepository(TenantRepository[InboundPolicy]):
    table = InboundPolicy

    async def current(self) -> InboundPolicy:
        """The tenant's policy row, made with the defaults on first use."""
        row = await self.find_one()
        if row is None:
            await InboundPolicy.raw(
                "INSERT INTO inbound_policy (id, tenant, stop_company_on_reply, out_of_office_days, "
                "soft_bounce_limit) VALUES ({}, {}, {}, 7, 3) ON CONFLICT (tenant) DO NOTHING",
                uuid.uuid4(), self.tenant_id, False,
            )
            row = await self.find_one()
        assert row is not None
        return row

    async def read(self) -> InboundPolicy:
        """The policy without writing (the defaults when none is stored), for read requests."""
        return await self.find_one() or InboundPolicy(tenant=self.tenant_id)
