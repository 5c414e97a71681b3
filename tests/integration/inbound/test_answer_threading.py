"""An answer to a lead's reply, written in the composer from the unified inbox, goes out in the
reply's thread: In-Reply-To is the reply's Message-ID, References its chain and then its id
(RFC 5322 section 3.6.4), from the mailbox that received it; other recipients of the same draft
get a new thread; a reply whose threading headers are forged or broken cannot break the answer."""

from __future__ import annotations

import email
import email.policy
import uuid

import pytest

from salescopilot.composer.service import ComposerService
from salescopilot.errors import ValidationFailed
from salescopilot.inbound.repository import ReceivedMessageRepository
from salescopilot.listing import ListQuery
from salescopilot.mail.message import MAX_REFERENCES, answer_threading
from salescopilot.tenancy.context import tenant_scope
from tests.integration.inbound import messages as mail
from tests.integration.inbound.test_effects import setup_lead

SENDER = {"firstName": "Anna", "fullName": "Anna Seller", "email": "anna@seller.example"}


async def answer(inbox, received, leads, **values):  # noqa: ANN001, ANN201
    """A composer draft answering `received`, sent now; returns the draft."""
    async with tenant_scope(inbox.tenant):
        composer = ComposerService(clock=inbox.clock, outbox=inbox.settings.outbox)
        draft = await composer.create({
            "subject": "Re: Quick question", "text": "Hi, Thursday at 10:00 works.",
            "lead_ids": [str(lead) for lead in leads], "mailbox_id": str(received.mailbox),
            "in_reply_to_id": str(received.id), **values,
        }, author=None)
        await composer.send(draft.id, send_at=None, sender=SENDER)
    return draft


def received_by_the_server(script, message_id: str) -> email.message.EmailMessage:  # noqa: ANN001
    [raw] = [raw for _, accepted_id, raw in script.accepted if accepted_id == message_id]
    return email.message_from_bytes(raw, policy=email.policy.default)


async def test_an_answer_goes_out_in_the_replys_thread_and_other_recipients_get_a_new_one(inbox, script):
    anna = await inbox.mailbox("anna@seller.example")
    lee, sent = await setup_lead(inbox, anna, "lee@customer.example", steps=1)
    kim = await inbox.lead("kim@other.example")
    reply_id = f"<{uuid.uuid4().hex}@customer.example>"
    await inbox.receive(anna, mail.reply("lee@customer.example", sent.message_id, message_id=reply_id))
    [received] = await inbox.read(lambda: ReceivedMessageRepository().find())
    assert received.lead == lee and received.kind == "reply"

    draft = await answer(inbox, received, [lee, kim])
    assert await inbox.run_pass() == 2

    async with tenant_scope(inbox.tenant, write=False):
        composer = ComposerService(clock=inbox.clock, outbox=inbox.settings.outbox)
        row = await composer.get(draft.id)
        queued = {m.lead: m for m in await composer.messages_of(row)}
        assert row.in_reply_to == received.id
        assert (await composer.answered(row))["subject"] == "Re: Quick question"
    to_lee = received_by_the_server(script, queued[lee].message_id)
    assert to_lee["In-Reply-To"] == reply_id
    assert to_lee["References"].split() == [sent.message_id, reply_id]
    assert to_lee["Subject"] == "Re: Quick question" and "anna@seller.example" in to_lee["From"]
    to_kim = received_by_the_server(script, queued[kim].message_id)
    assert to_kim["In-Reply-To"] is None and to_kim["References"] is None


async def test_a_draft_can_only_answer_a_matched_message_of_its_own_tenant(inbox, script):
    anna = await inbox.mailbox("anna@seller.example")
    lee = await inbox.lead("lee@customer.example")
    # From an address no lead has, answering nothing of ours: stored, but matched to no lead.
    await inbox.receive(anna, mail.reply("stranger@nowhere.example"))
    [unmatched] = await inbox.read(lambda: ReceivedMessageRepository().find())
    assert unmatched.lead is None
    async with tenant_scope(inbox.tenant):
        composer = ComposerService(clock=inbox.clock, outbox=inbox.settings.outbox)
        for received, message in ((unmatched.id, "not matched to a lead"), (uuid.uuid4(), "not in your inbox")):
            with pytest.raises(ValidationFailed, match=message):
                await composer.create({"subject": "Re: x", "text": "Hi", "lead_ids": [str(lee)],
                                       "mailbox_id": str(anna), "in_reply_to_id": str(received)}, author=None)
        assert (await composer.page(ListQuery())).items == []


@pytest.mark.parametrize(("message_id", "in_reply_to", "references", "expected"), [
    # The chain, then the message itself.
    ("<b@x.example>", "<a@x.example>", "<a@x.example>", ("<b@x.example>", "<a@x.example> <b@x.example>")),
    # No References: its one In-Reply-To starts the chain.
    ("<b@x.example>", "<a@x.example>", "", ("<b@x.example>", "<a@x.example> <b@x.example>")),
    # Several ids in In-Reply-To say nothing certain: left out.
    ("<c@x.example>", "<a@x.example> <b@x.example>", "", ("<c@x.example>", "<c@x.example>")),
    # Junk and header injection in the sender's headers are dropped; repeats kept once.
    ("<c@x.example>", "", "<a@x.example> junk <a@x.example> <b@x.example>\r\nBcc: v@evil.test <c@x.example>",
     ("<c@x.example>", "<a@x.example> <b@x.example> <c@x.example>")),
    # No usable Message-ID of its own: the answer starts a new thread.
    ("", "<a@x.example>", "<a@x.example>", ("", "")),
    ("<not an id>", "", "", ("", "")),
    ("<b@x.example>\r\nBcc: v@evil.test", "", "", ("", "")),
])
def test_answer_threading_follows_the_rfc_and_trusts_nothing(message_id, in_reply_to, references, expected):
    assert answer_threading(message_id, in_reply_to, references) == expected


def test_a_long_chain_keeps_its_root_and_its_latest_messages():
    chain = [f"<m{n}@x.example>" for n in range(60)]
    in_reply_to, references = answer_threading("<last@x.example>", "", " ".join(chain))
    kept = references.split()
    assert in_reply_to == "<last@x.example>" and len(kept) == MAX_REFERENCES
    assert kept[0] == chain[0] and kept[-2:] == [chain[-1], "<last@x.example>"]
