"""Fixtures of the ledger's tests: the scripted provider in the process-wide catalogue, a fake
clock, and helpers to connect mailboxes and enqueue messages."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict

import pytest

from salescopilot.clock import FakeClock
from salescopilot.mailboxes.providers import provider_instances
from salescopilot.mailboxes.schemas import MailboxInput
from salescopilot.mailboxes.service import MailboxService
from salescopilot.outbox.sender import OutboxSender
from salescopilot.outbox.service import NewMessage, OutboxService
from salescopilot.plugin_system.manager import get_plugin_manager
from salescopilot.tenancy.context import tenant_context, tenant_scope
from tests.integration.outbox import scripted_provider


@pytest.fixture
def script():
    pm = get_plugin_manager()
    pm.register(scripted_provider, name="tests.scripted_provider")
    scripted_provider.SCRIPT.outcomes = defaultdict(list)
    scripted_provider.SCRIPT.accepted.clear()
    scripted_provider.SCRIPT.unsearchable.clear()
    scripted_provider.SCRIPT.attempts = 0
    yield scripted_provider.SCRIPT
    pm.unregister(name="tests.scripted_provider")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC))  # a Monday


@pytest.fixture
async def fresh_providers():
    yield
    await provider_instances.close_all()


class Desk:
    """What a test does to the ledger, for one tenant, on the fake clock."""

    def __init__(self, tenant, settings, clock) -> None:
        self.tenant = tenant
        self.settings = settings
        self.clock = clock

    async def mailbox(self, email: str, **limits) -> uuid.UUID:
        limits.setdefault("min_gap_seconds", 0)
        limits.setdefault("jitter_seconds", 0)
        async with tenant_scope(self.tenant):
            row = await MailboxService(self.clock).create(
                MailboxInput(email=email, provider="scripted", account={"address": email}, **limits)
            )
            return row.id

    async def enqueue(self, **fields) -> uuid.UUID:
        fields.setdefault("enrollment", uuid.uuid4())
        fields.setdefault("step", 0)
        fields.setdefault("recipient_email", "lead@customer.example.com")
        fields.setdefault("subject", "Hello")
        fields.setdefault("text", "Hi there")
        async with tenant_scope(self.tenant):
            row = await OutboxService(self.settings.outbox, self.clock).enqueue(NewMessage(**fields))
            return row.id

    def sender(self, owner: str | None = None) -> OutboxSender:
        return OutboxSender(self.settings, self.clock, owner=owner)

    async def run_pass(self, owner: str | None = None) -> int:
        with tenant_context(self.tenant):
            return await self.sender(owner).run_pass()

    async def message(self, message_id: uuid.UUID):
        async with tenant_scope(self.tenant, write=False):
            return await OutboxService(self.settings.outbox, self.clock).get(message_id)

    async def messages(self, **where):
        from salescopilot.outbox.repository import OutboxRepository

        async with tenant_scope(self.tenant, write=False):
            return await OutboxRepository().find()


@pytest.fixture
async def desk(settings, db, tenant_a, clock, script, fresh_providers) -> Desk:
    return Desk(tenant_a, settings, clock)
