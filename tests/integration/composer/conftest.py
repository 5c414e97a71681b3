"""Fixtures of the composer's tests: an owner (and a viewer) with API keys on tenant A, a
mailbox sending over real SMTP to an aiosmtpd sink, and leads."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from salescopilot.mailboxes.providers import provider_instances
from salescopilot.outbox.sender import OutboxSender
from salescopilot.tenancy.context import tenant_context
from tests.integration.web.web_support import Caller, make_caller
from tests.mailservers import SmtpSink


@dataclass
class Desk:
    client: object
    owner: Caller
    tenant: object
    settings: object
    sink: SmtpSink
    mailbox: str

    async def lead(self, **fields) -> str:
        response = await self.client.post("/api/v1/leads", json=fields, headers=self.owner.headers)
        assert response.status_code == 201, response.text
        return response.json()["data"]["id"]

    async def run_pass(self) -> int:
        """A sender pass now (the app's own runtime may have sent some already: woken by the API)."""
        with tenant_context(self.tenant):
            return await OutboxSender(self.settings).run_pass()

    async def delivered(self, count: int, timeout: float = 15.0) -> list:
        """The sink's messages once it has `count`, running sender passes meanwhile without
        blocking the event loop (the app's own runtime, woken by the API, may be sending too)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.sink.transactions) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} messages, the sink has {len(self.sink.transactions)}")
            await self.run_pass()
            await asyncio.sleep(0.05)
        return list(self.sink.transactions)

    async def outbox(self) -> list[dict]:
        listed = await self.client.get("/api/v1/outbox?limit=200&sort=created_at&order=asc", headers=self.owner.headers)
        return listed.json()["data"]


@pytest.fixture
async def desk(no_scheduler, app, client_a, tenant_a, settings):
    owner = await make_caller(app, tenant_a, "olga@acme.test", "owner")
    with SmtpSink() as sink:
        created = await client_a.post("/api/v1/mailboxes", headers=owner.headers, json={
            "email": "sam@brightpath.example.com", "from_name": "Sam Carter", "provider": "smtp",
            "min_gap_seconds": 0, "jitter_seconds": 0,
            "account": {"address": "sam@brightpath.example.com", "smtp_host": sink.host, "smtp_port": sink.port,
                        "smtp_security": "none", "auth_method": "none", "append_to_sent": "never"},
        })
        assert created.status_code == 201, created.text
        yield Desk(client_a, owner, tenant_a, settings, sink, created.json()["data"]["id"])
    await provider_instances.close_all()
