"""Fixtures of the inbound tests: the outbox's desk (scripted provider, fake clock), leads, and
storing inbound messages as the sync does."""

from __future__ import annotations

import uuid

import pytest

from salescopilot.inbound.service import InboundService, StoredBatch
from salescopilot.leads.service import LeadService
from salescopilot.plugin_system.interfaces import InboundMessage
from salescopilot.tenancy.context import tenant_scope
from tests.integration.outbox.conftest import Desk, clock, fresh_providers, script  # noqa: F401


class Inbox(Desk):
    """The desk, plus leads and inbound messages."""

    async def lead(self, email: str, **values) -> uuid.UUID:
        async with tenant_scope(self.tenant):
            row = await LeadService(clock=self.clock).create({"email": email, **values})
            return row.id

    async def receive(self, mailbox: uuid.UUID, *raws: bytes, plugin_manager=None) -> StoredBatch:  # noqa: ANN001
        messages = [
            InboundMessage(provider_message_id=f"INBOX:1:{uuid.uuid4().int % 10**6}", raw=raw,
                           received_at=self.clock.now())
            for raw in raws
        ]
        async with tenant_scope(self.tenant):
            return await InboundService(self.clock, plugin_manager=plugin_manager).store(mailbox, messages)

    async def read(self, function):  # noqa: ANN001, ANN201
        async with tenant_scope(self.tenant, write=False):
            return await function()


@pytest.fixture
async def inbox(settings, db, tenant_a, clock, script, fresh_providers) -> Inbox:  # noqa: F811
    return Inbox(tenant_a, settings, clock)
