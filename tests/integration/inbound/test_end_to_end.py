"""End to end over real servers: a 3-step sequence goes out through the SMTP test server; a human
reply, an out-of-office with a return date, a hard bounce and a complaint arrive in the sending
mailbox on Dovecot; the IMAP sync reads them; each lead ends in the right state and no further
step goes out to the stopped ones (the out-of-office lead's next step waits for its return).

The sequence is written as outbox rows enqueued per step (what the sequence scheduler does), so
this runs before the campaigns module exists."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from salescopilot.inbound.repository import ReceivedMessageRepository
from salescopilot.inbound.sync import InboxSync
from salescopilot.leads.repository import LeadRepository
from salescopilot.mailboxes.schemas import MailboxInput
from salescopilot.mailboxes.service import MailboxService
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.plugin_system.manager import create_plugin_manager
from salescopilot.suppression.service import SuppressionService
from salescopilot.tenancy.context import tenant_context, tenant_scope
from tests.integration.inbound import messages as mail
from tests.mailservers import SmtpSink, running_dovecot

SENDER = "anna@seller.example"
PASSWORD = "inbound password"
LEADS = {
    "replies": "rita@replies.example",
    "away": "otto@away.example",
    "bounces": "gone@bounces.example",
    "complains": "carl@complains.example",
    "quiet": "quinn@quiet.example",
}
STEP_DAYS = (0, 3, 6)


@pytest.fixture
def servers():
    dovecot = running_dovecot()
    dovecot.add_user(SENDER, PASSWORD)
    sink = SmtpSink().start()
    yield dovecot, sink
    sink.stop()
    dovecot.stop()


def sent_to(sink: SmtpSink) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for transaction in sink.transactions:
        subject = transaction.data.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
        for recipient in transaction.rcpt_tos:
            found.setdefault(recipient, []).append(subject)
    return found


async def test_replies_bounces_complaints_and_out_of_office_end_to_end(inbox, servers):
    dovecot, sink = servers
    replies = []

    class Listener:
        from salescopilot import hookimpl

        @hookimpl
        def on_reply_received(self, tenant, lead_id, mailbox_id, message, in_reply_to):  # noqa: ANN001, ANN201
            replies.append((lead_id, in_reply_to))

    async with tenant_scope(inbox.tenant):
        mailbox = (await MailboxService(inbox.clock).create(MailboxInput(
            email=SENDER, provider="smtp", min_gap_seconds=0, jitter_seconds=0,
            account={
                "address": SENDER, "smtp_host": sink.host, "smtp_port": sink.port,
                "smtp_security": "none", "auth_method": "none",
                "imap_host": dovecot.host, "imap_port": dovecot.port, "imap_security": "none",
                "imap_username": SENDER, "imap_password": PASSWORD, "append_to_sent": "always",
            },
        ))).id
    leads: dict[str, uuid.UUID] = {}
    first: dict[str, str] = {}
    for name, email in LEADS.items():
        leads[name] = await inbox.lead(email)
        enrollment = uuid.uuid4()
        for step, days in enumerate(STEP_DAYS):
            row = await inbox.enqueue(
                enrollment=enrollment, step=step, mailbox=mailbox, lead=leads[name], recipient_email=email,
                subject=f"Step {step + 1} for {name}", thread=True,
                due_at=inbox.clock.now() + dt.timedelta(days=days),
            )
            if step == 0:
                first[name] = row

    # Step 1 goes to everyone through the SMTP server.
    await inbox.run_pass()
    assert {r: len(s) for r, s in sent_to(sink).items()} == {email: 1 for email in LEADS.values()}
    ids = {name: (await inbox.message(row)).message_id for name, row in first.items()}

    # Their answers arrive in the sending mailbox.
    for raw in (
        mail.reply(LEADS["replies"], ids["replies"], text="Yes, let's talk. Thursday at 10?"),
        mail.out_of_office(LEADS["away"], ids["away"], back="16 March 2026"),
        mail.bounce(LEADS["bounces"], ids["bounces"]),
        mail.complaint(LEADS["complains"], ids["complains"]),
    ):
        dovecot.append(SENDER, "INBOX", raw)

    sync = InboxSync(inbox.settings, inbox.clock,
                     plugin_manager=create_plugin_manager(load_entry_points=False, extra_plugins=[Listener()]))
    with tenant_context(inbox.tenant):
        report = await sync.sync_tenant()
        assert (report.stored, report.failed) == (4, {})
        again = await sync.sync_tenant()  # nothing new: nothing stored, nothing changed
        assert (again.stored, again.already_known) == (0, 0)
    assert replies == [(leads["replies"], ids["replies"])]

    async def statuses() -> dict[str, str]:
        async with tenant_scope(inbox.tenant, write=False):
            return {name: (await LeadRepository().get(lead)).status for name, lead in leads.items()}

    assert await statuses() == {"replies": "replied", "away": "new", "bounces": "bounced",
                                "complains": "unsubscribed", "quiet": "new"}
    async with tenant_scope(inbox.tenant, write=False):
        blocked = await SuppressionService(inbox.clock).blocked(LEADS.values())
        kinds = sorted(r.kind for r in await ReceivedMessageRepository().find())
    assert blocked == {LEADS["bounces"], LEADS["complains"]}
    assert kinds == ["auto_reply", "bounce", "complaint", "reply"]

    # Steps 2 and 3 come due: only the quiet lead gets them; the away lead waits for its return.
    for _ in STEP_DAYS[1:]:
        inbox.clock.advance(days=3, minutes=1)
        await inbox.run_pass()
    assert {r: len(s) for r, s in sent_to(sink).items()} == {
        LEADS["replies"]: 1, LEADS["away"]: 1, LEADS["bounces"]: 1, LEADS["complains"]: 1, LEADS["quiet"]: 3,
    }
    # Back from holiday: the away lead's sequence resumes; the stopped ones stay stopped.
    inbox.clock.advance(days=11)
    await inbox.run_pass()
    inbox.clock.advance(minutes=5)
    await inbox.run_pass()
    final = sent_to(sink)
    assert final[LEADS["away"]] == ["Step 1 for away", "Re: Step 1 for away", "Re: Step 1 for away"]
    assert {final[LEADS[n]][-1] for n in ("replies", "bounces", "complains")} == {
        "Step 1 for replies", "Step 1 for bounces", "Step 1 for complains"}
    async with tenant_scope(inbox.tenant, write=False):
        rows = await OutboxRepository().find()
    states = {}
    for row in rows:
        name = next(n for n, e in LEADS.items() if e == row.recipient_email)
        states.setdefault(name, []).append((row.step, row.state))
    assert sorted(states["replies"]) == [(0, "sent"), (1, "cancelled"), (2, "cancelled")]
    assert sorted(states["bounces"]) == [(0, "sent"), (1, "cancelled"), (2, "cancelled")]
    assert sorted(states["complains"]) == [(0, "sent"), (1, "cancelled"), (2, "cancelled")]
    # Nothing in the mailbox was deleted or changed by the sync.
    assert len(dovecot.messages(SENDER)) == 4 and set(dovecot.flags(SENDER)) == {""}
