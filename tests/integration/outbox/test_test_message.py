"""A test message from a mailbox: queued through the API, sent by a sender pass over real SMTP
(the `mail_smtp` provider to an aiosmtpd server), with the headers every message carries."""

from __future__ import annotations

import asyncio
import uuid

from salescopilot.outbox.sender import OutboxSender
from salescopilot.tenancy.context import tenant_context
from tests.integration.mailboxes.conftest import signed_in
from tests.mailservers import SmtpSink


async def test_a_test_message_goes_out_once_through_the_outbox(client_a, tenant_a, settings, no_scheduler):
    headers = await signed_in(client_a, tenant_a)
    with SmtpSink() as sink:
        created = await client_a.post("/api/v1/mailboxes", headers=headers, json={
            "email": "ann@sender.example.com", "from_name": "Ann Example", "provider": "smtp",
            "min_gap_seconds": 0, "jitter_seconds": 0,
            "account": {"address": "ann@sender.example.com", "smtp_host": sink.host, "smtp_port": sink.port,
                        "smtp_security": "none", "auth_method": "none", "append_to_sent": "never"},
        })
        assert created.status_code == 201, created.text
        mailbox = created.json()["data"]["id"]

        refused = await client_a.post(f"/api/v1/mailboxes/{mailbox}/test-message", headers=headers,
                                      json={"to": "not an address"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "VALIDATION_ERROR"

        queued = await client_a.post(f"/api/v1/mailboxes/{mailbox}/test-message", headers=headers,
                                     json={"to": "Lead@Customer.example.com"})
        assert queued.status_code == 202, queued.text
        message = queued.json()["data"]
        # The app's own task runtime may send it first (the API woke the sender); a pass here
        # sends it otherwise. Either way it leaves once.
        with tenant_context(tenant_a):
            await OutboxSender(settings).run_pass()
        # Waited for off the event loop: the app's own sender, if it claimed the message first,
        # hands it off on this loop.
        [transaction] = await asyncio.to_thread(sink.wait_for, 1)
        assert transaction.rcpt_tos == ("lead@customer.example.com",)
        data = transaction.data
        assert f"Message-ID: {message['message_id']}".encode() in data
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in data
        assert b"From: Ann Example <ann@sender.example.com>" in data
        for _ in range(50):
            shown = (await client_a.get(f"/api/v1/outbox/{message['id']}")).json()["data"]
            if shown["state"] == "sent":
                break
            await asyncio.sleep(0.1)
        assert shown["state"] == "sent"
        with tenant_context(tenant_a):
            assert await OutboxSender(settings).run_pass() == 0
        assert len(sink.transactions) == 1
        assert uuid.UUID(message["id"])
