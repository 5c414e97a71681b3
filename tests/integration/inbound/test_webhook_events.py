"""Inbound effects announce themselves as outbound webhooks: email.replied, email.bounced,
lead.unsubscribed (queued in the same transaction as the effect)."""

from __future__ import annotations

import json

from salescopilot.tenancy.context import tenant_scope
from salescopilot.webhooks.repository import WebhookDeliveryRepository
from salescopilot.webhooks.service import WebhookService
from tests.integration.inbound import messages as mail
from tests.integration.inbound.test_effects import setup_lead


async def test_replies_bounces_and_complaints_are_emitted(inbox):
    async with tenant_scope(inbox.tenant):
        await WebhookService(inbox.clock).create("https://hooks.example.com/in", ["*"])
    mailbox = await inbox.mailbox("anna@seller.example")
    lee, lee_sent = await setup_lead(inbox, mailbox, "lee@customer.example")
    kim, kim_sent = await setup_lead(inbox, mailbox, "kim@other.example")
    max_, max_sent = await setup_lead(inbox, mailbox, "max@third.example")
    await inbox.receive(
        mailbox,
        mail.reply("lee@customer.example", lee_sent.message_id),
        mail.bounce("kim@other.example", kim_sent.message_id),
        mail.complaint("max@third.example", max_sent.message_id),
    )
    async with tenant_scope(inbox.tenant, write=False):
        rows = await WebhookDeliveryRepository().find()
    events = {(r.kind, json.loads(r.body)["data"]["leadId"]) for r in rows if r.kind != "email.sent"}
    assert events == {("email.replied", str(lee)), ("email.bounced", str(kim)), ("lead.unsubscribed", str(max_))}
    bounce = next(json.loads(r.body)["data"] for r in rows if r.kind == "email.bounced")
    assert bounce["hard"] is True and bounce["emailId"] == str(kim_sent.id)
