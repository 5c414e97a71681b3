"""Storing inbound messages: matching order, each kind's effects, idempotency, corrections."""

from __future__ import annotations

import datetime as dt

from salescopilot.audit.repository import AuditRepository
from salescopilot.db.json_column import json_dict
from salescopilot.inbound.repository import InboundPolicyRepository, ReceivedMessageRepository
from salescopilot.inbound.service import InboundService
from salescopilot.leads.repository import LeadRepository
from salescopilot.mailboxes.repository import SendAttemptRepository
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.plugin_system.manager import create_plugin_manager
from salescopilot.suppression.service import SuppressionService
from salescopilot.tenancy.context import tenant_scope
from tests.integration.inbound import messages as mail


async def setup_lead(inbox, mailbox, email, steps=2):  # noqa: ANN001, ANN201
    """A lead with step 0 sent and the later steps still queued; returns (lead, step 0 row)."""
    lead = await inbox.lead(email)
    enrollment = __import__("uuid").uuid4()
    first = None
    for step in range(steps):
        row_id = await inbox.enqueue(enrollment=enrollment, step=step, mailbox=mailbox, lead=lead,
                                     recipient_email=email,
                                     due_at=inbox.clock.now() + dt.timedelta(days=3 * step))
        if step == 0:
            first = row_id
    await inbox.run_pass()  # step 0 goes now
    sent = await inbox.message(first)
    assert sent.state == "sent"
    return lead, sent


async def lead_status(inbox, lead):  # noqa: ANN001, ANN201
    return (await inbox.read(lambda: LeadRepository().get(lead))).status


async def waiting_of(inbox, lead):  # noqa: ANN001, ANN201
    rows = await inbox.read(lambda: OutboxRepository().of_lead(lead))
    return [(r.step, r.state, r.due_at) for r in rows if r.step > 0]


async def test_matching_prefers_the_thread_then_the_report_then_the_sender(inbox):
    mailbox = await inbox.mailbox("anna@seller.example")
    lee, lee_sent = await setup_lead(inbox, mailbox, "lee@customer.example")
    kim, kim_sent = await setup_lead(inbox, mailbox, "kim@other.example")
    max_, _ = await setup_lead(inbox, mailbox, "max@third.example")
    batch = await inbox.receive(
        mailbox,
        # From an address no lead has, but in reply to what we sent Lee: the thread wins.
        mail.reply("assistant@customer.example", lee_sent.message_id),
        # A bounce names Kim's message in its report.
        mail.bounce("someone-else@other.example", kim_sent.message_id),
        # A bounce without the original's Message-ID: its failed recipient.
        mail.bounce("max@third.example", None),
        # No threading headers: the sender's address.
        mail.reply("kim@other.example", None, text="Also, who else is on this?"),
        mail.reply("stranger@nowhere.example", None),
    )
    got = [(r.match_method, r.lead) for r in batch.stored]
    assert got == [("thread", lee), ("report", kim), ("report", max_), ("sender", kim), ("", None)]
    assert batch.stored[0].outbox_message == lee_sent.id and batch.stored[1].outbox_message == kim_sent.id
    assert batch.stored[0].campaign == lee_sent.campaign


async def test_a_reply_marks_the_lead_replied_and_stops_its_sequence(inbox):
    mailbox = await inbox.mailbox("anna@seller.example")
    lee, sent = await setup_lead(inbox, mailbox, "lee@customer.example", steps=3)
    colleague, _ = await setup_lead(inbox, mailbox, "ann@customer.example")
    seen = []

    class Listener:
        from salescopilot import hookimpl

        @hookimpl
        def on_reply_received(self, tenant, lead_id, mailbox_id, message, in_reply_to):  # noqa: ANN001, ANN201
            seen.append((lead_id, in_reply_to))

    batch = await inbox.receive(mailbox, mail.reply("lee@customer.example", sent.message_id))
    assert batch.stored[0].effects == ["lead_replied", "sequence_stopped", "reply_announced"]
    assert batch.replies and batch.replies[0][0] == lee and batch.replies[0][2] == sent.message_id
    assert await lead_status(inbox, lee) == "replied"
    assert [s for _, s, _ in await waiting_of(inbox, lee)] == ["cancelled", "cancelled"]
    # The colleague at the same company goes on: stopping the company is off by default.
    assert [s for _, s, _ in await waiting_of(inbox, colleague)] == ["queued"]

    # on_reply_received fires (after the commit) through the sync.
    from salescopilot.inbound.sync import InboxSync

    pm = create_plugin_manager(load_entry_points=False, extra_plugins=[Listener()])
    sync = InboxSync(inbox.settings, inbox.clock, plugin_manager=pm)
    with __import__("salescopilot.tenancy.context", fromlist=["x"]).tenant_context(inbox.tenant):
        await sync._announce(mailbox, batch)
    assert seen == [(lee, sent.message_id)]


async def test_a_reply_can_stop_the_whole_company_but_never_a_freemail_domain(inbox):
    mailbox = await inbox.mailbox("anna@seller.example")
    async with tenant_scope(inbox.tenant):
        await InboundService(inbox.clock).set_policy(stop_company_on_reply=True, out_of_office_days=7,
                                                    soft_bounce_limit=3)
    lee, sent = await setup_lead(inbox, mailbox, "lee@customer.example")
    colleague, _ = await setup_lead(inbox, mailbox, "ann@customer.example")
    elsewhere, _ = await setup_lead(inbox, mailbox, "bo@other.example")
    gmail_one, gmail_sent = await setup_lead(inbox, mailbox, "one@gmail.com")
    gmail_two, _ = await setup_lead(inbox, mailbox, "two@gmail.com")
    await inbox.receive(mailbox, mail.reply("lee@customer.example", sent.message_id),
                        mail.reply("one@gmail.com", gmail_sent.message_id))
    assert [s for _, s, _ in await waiting_of(inbox, colleague)] == ["cancelled"]
    assert [s for _, s, _ in await waiting_of(inbox, elsewhere)] == ["queued"]
    assert [s for _, s, _ in await waiting_of(inbox, gmail_two)] == ["queued"]
    assert await lead_status(inbox, colleague) == "new"  # stopped, but it did not reply


async def test_an_out_of_office_holds_the_lead_until_the_return_date(inbox):
    mailbox = await inbox.mailbox("anna@seller.example")
    lee, sent = await setup_lead(inbox, mailbox, "lee@customer.example")
    kim, kim_sent = await setup_lead(inbox, mailbox, "kim@other.example")
    batch = await inbox.receive(mailbox, mail.out_of_office("lee@customer.example", sent.message_id),
                                mail.out_of_office("kim@other.example", kim_sent.message_id, back="soon"))
    [(step, state, due)] = await waiting_of(inbox, lee)
    assert (state, due) == ("queued", dt.datetime(2026, 3, 16, 9, tzinfo=dt.UTC))
    assert batch.stored[0].effects == ["paused_until:2026-03-16"]
    # No date stated: the tenant's default of 7 days.
    [(_, _, kim_due)] = await waiting_of(inbox, kim)
    assert kim_due.date() == (inbox.clock.now() + dt.timedelta(days=7)).date()
    assert await lead_status(inbox, lee) == "new"


async def test_a_hard_bounce_suppresses_stops_and_counts_against_the_mailbox(inbox):
    mailbox = await inbox.mailbox("anna@seller.example")
    lee, sent = await setup_lead(inbox, mailbox, "lee@customer.example")
    batch = await inbox.receive(mailbox, mail.bounce("lee@customer.example", sent.message_id))
    assert batch.stored[0].effects == ["suppressed", "lead_bounced", "sequence_stopped", "mailbox_health"]
    assert await inbox.read(lambda: SuppressionService(inbox.clock).blocked(["lee@customer.example"]))
    assert await lead_status(inbox, lee) == "bounced"
    attempts = await inbox.read(lambda: SendAttemptRepository().find())
    assert [(a.outcome, a.message, a.code) for a in attempts if a.outcome == "bounced"] == [
        ("bounced", sent.id, "5.1.1")
    ]


async def test_soft_bounces_suppress_after_the_limit(inbox):
    mailbox = await inbox.mailbox("anna@seller.example")
    lee, sent = await setup_lead(inbox, mailbox, "lee@customer.example")
    full = dict(status="5.2.2", diagnostic="552 5.2.2 Mailbox full")
    for number in range(1, 4):
        batch = await inbox.receive(mailbox, mail.bounce("lee@customer.example", sent.message_id, **full))
        blocked = await inbox.read(lambda: SuppressionService(inbox.clock).blocked(["lee@customer.example"]))
        assert bool(blocked) == (number == 3)
    assert batch.stored[0].effects == ["suppressed", "sequence_stopped"]


async def test_a_complaint_and_an_unsubscribe_suppress(inbox):
    mailbox = await inbox.mailbox("anna@seller.example")
    lee, sent = await setup_lead(inbox, mailbox, "lee@customer.example")
    kim, _ = await setup_lead(inbox, mailbox, "kim@other.example")
    batch = await inbox.receive(mailbox, mail.complaint("lee@customer.example", sent.message_id),
                                mail.unsubscribe("kim@other.example"))
    assert batch.stored[0].effects == ["suppressed", "lead_unsubscribed", "sequence_stopped", "mailbox_health"]
    assert batch.stored[1].effects == ["suppressed", "lead_unsubscribed", "sequence_stopped"]
    blocked = await inbox.read(lambda: SuppressionService(inbox.clock).blocked(
        ["lee@customer.example", "kim@other.example"]))
    assert blocked == {"lee@customer.example", "kim@other.example"}
    attempts = await inbox.read(lambda: SendAttemptRepository().find())
    assert [a.outcome for a in attempts if a.outcome == "complaint"] == ["complaint"]


async def test_seeing_a_message_again_changes_nothing(inbox):
    mailbox = await inbox.mailbox("anna@seller.example")
    lee, sent = await setup_lead(inbox, mailbox, "lee@customer.example")
    raws = [mail.reply("lee@customer.example", sent.message_id), mail.bounce("lee@customer.example", sent.message_id)]
    await inbox.receive(mailbox, *raws)
    audit_before = len(await inbox.read(lambda: AuditRepository().find()))
    attempts_before = len(await inbox.read(lambda: SendAttemptRepository().find()))
    again = await inbox.receive(mailbox, *raws)  # a re-read after a UIDVALIDITY change
    also = await inbox.receive(mailbox, raws[0], raws[0])  # twice in one batch
    assert (again.stored, again.already_known, also.stored) == ([], 2, [])
    assert len(await inbox.read(lambda: ReceivedMessageRepository().find())) == 2
    assert len(await inbox.read(lambda: AuditRepository().find())) == audit_before
    assert len(await inbox.read(lambda: SendAttemptRepository().find())) == attempts_before
    # A message without a Message-ID is known by the hash of its bytes.
    bare = mail.unsubscribe("kim@other.example").replace(b"Message-ID:", b"X-Old-Id:")
    assert len((await inbox.receive(mailbox, bare, bare)).stored) == 1


async def test_a_correction_is_kept_audited_and_applies_the_new_kind(inbox):
    mailbox = await inbox.mailbox("anna@seller.example")
    lee, sent = await setup_lead(inbox, mailbox, "lee@customer.example")
    # Classified as an out-of-office, but it was the person writing.
    batch = await inbox.receive(mailbox, mail.out_of_office("lee@customer.example", sent.message_id))
    row = batch.stored[0]
    async with tenant_scope(inbox.tenant):
        corrected = await InboundService(inbox.clock).correct(row.id, "reply", by=None)
    assert (corrected.kind, corrected.corrected_kind) == ("auto_reply", "reply")
    assert "lead_replied" in corrected.effects and "sequence_stopped" in corrected.effects
    assert await lead_status(inbox, lee) == "replied"
    entries = await inbox.read(lambda: AuditRepository().find())
    assert [json_dict(e.after) for e in entries if e.action == "inbound.reclassified"] == [{"kind": "reply"}]
    async with tenant_scope(inbox.tenant, write=False):
        page = await InboundService(inbox.clock).page(__import__("salescopilot.listing", fromlist=["x"]).ListQuery(),
                                                      kind="reply")
    assert [item["id"] for item in page.items] == [row.id]
    assert (await inbox.read(lambda: InboundPolicyRepository().read())).out_of_office_days == 7
