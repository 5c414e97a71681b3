"""End to end with a real campaign: a 3-step sequence goes out through the SMTP test server
(campaign scheduler and sender on a fake clock); a human reply, an out-of-office with a return
date, a hard bounce and a complaint arrive in the sending mailbox on Dovecot; the IMAP sync reads
them; each lead ends in the right state, no further step goes to the stopped ones, and the
out-of-office lead's sequence waits for its return and then goes on."""

from __future__ import annotations

import datetime as dt

import pytest

from salescopilot.clock import FakeClock
from salescopilot.inbound.service import InboundService
from salescopilot.inbound.sync import InboxSync
from salescopilot.listing import ListQuery
from salescopilot.leads.repository import LeadRepository
from salescopilot.mailboxes.providers import provider_instances
from salescopilot.mailboxes.schemas import MailboxInput
from salescopilot.mailboxes.service import MailboxService, PoolService
from salescopilot.suppression.service import SuppressionService
from salescopilot.tenancy.context import tenant_context, tenant_scope
from tests.integration.campaigns.conftest import Lab, step
from tests.integration.inbound import messages as mail
from tests.mailservers import SmtpSink, running_dovecot

SENDER = "anna@seller.example"
PASSWORD = "sequence password"
LEADS = {
    "replies": "rita@replies.example",
    "away": "otto@away.example",
    "bounces": "gone@bounces.example",
    "complains": "carl@complains.example",
    "quiet": "quinn@quiet.example",
}
BACK = dt.date(2026, 6, 1)


@pytest.fixture
async def lab(settings, db, tenant_a):
    dovecot = running_dovecot()
    dovecot.add_user(SENDER, PASSWORD)
    try:
        with SmtpSink() as sink:
            clock = FakeClock(dt.datetime(2026, 5, 11, 0, 0, tzinfo=dt.UTC))  # a Monday
            lab = Lab(tenant_a, settings, clock, sink)
            lab.dovecot = dovecot
            async with tenant_scope(tenant_a):
                mailbox = await MailboxService(clock).create(MailboxInput(
                    email=SENDER, from_name="Anna", provider="smtp", min_gap_seconds=0, jitter_seconds=0,
                    account={"address": SENDER, "smtp_host": sink.host, "smtp_port": sink.port,
                             "smtp_security": "none", "auth_method": "none", "imap_host": dovecot.host,
                             "imap_port": dovecot.port, "imap_security": "none", "imap_username": SENDER,
                             "imap_password": PASSWORD, "append_to_sent": "never"},
                ))
                lab.pool = (await PoolService(clock).create("Inbound pool", [mailbox.id])).id
            yield lab
        await provider_instances.close_all()
    finally:
        dovecot.stop()


def steps_received(lab: Lab) -> dict[str, list[tuple[int, dt.datetime]]]:
    import re

    found: dict[str, list] = {}
    for message in lab.received():
        number = int(re.search(r"\[step (\d)\]", message.get_body(("plain",)).get_content()).group(1))
        found.setdefault(message["To"].addresses[0].addr_spec, []).append(number)
    return found


async def test_a_three_step_sequence_stops_pauses_and_goes_on_as_the_answers_say(lab):
    leads = {name: await lab.lead(email, name.title(), "Europe/Berlin", "DE") for name, email in LEADS.items()}
    steps = [step(1, "always", 0, thread="new"), step(2, "always", 2), step(3, "always", 2)]
    sequence = await lab.sequence(steps)
    campaign = await lab.campaign(sequence, list(leads.values()))

    # Monday: step 1 goes to everyone inside the window.
    await lab.run_until(lab.clock.now() + dt.timedelta(hours=18))
    assert steps_received(lab) == {email: [1] for email in LEADS.values()}
    sent = [m for m in await lab.messages() if m.state == "sent"]
    first_step = min(m.step for m in sent)
    first = {m.recipient_email: m.message_id for m in sent if m.step == first_step}
    assert len(first) == 5, first

    for raw in (
        mail.reply(LEADS["replies"], first[LEADS["replies"]], text="Yes please, call me on Thursday."),
        mail.out_of_office(LEADS["away"], first[LEADS["away"]], back=f"{BACK:%d %B %Y}"),
        mail.bounce(LEADS["bounces"], first[LEADS["bounces"]]),
        mail.complaint(LEADS["complains"], first[LEADS["complains"]]),
    ):
        lab.dovecot.append(SENDER, "INBOX", raw)
    with tenant_context(lab.tenant):
        report = await InboxSync(lab.settings, lab.clock).sync_tenant()
    assert (report.stored, report.failed) == (4, {})

    async with tenant_scope(lab.tenant, write=False):
        statuses = {name: (await LeadRepository().get(lead)).status for name, lead in leads.items()}
        blocked = await SuppressionService(lab.clock).blocked(LEADS.values())
    assert statuses["replies"] == "replied" and statuses["bounces"] == "bounced"
    assert statuses["complains"] == "unsubscribed" and statuses["away"] == "paused"
    assert blocked == {LEADS["bounces"], LEADS["complains"]}
    async with tenant_scope(lab.tenant, write=False):
        in_campaign = await InboundService(lab.clock).page(ListQuery(limit=50), campaign=campaign)
    assert sorted(m["kind"] for m in in_campaign.items) == ["auto_reply", "bounce", "complaint", "reply"]
    states = {e.lead: e.state for e in await lab.enrollments(campaign)}
    assert [states[leads[n]] for n in ("replies", "bounces", "complains")] == ["stopped"] * 3
    assert states[leads["away"]] == "paused"

    # Two weeks on: the quiet lead has had all three steps, the stopped ones nothing more, the
    # away lead nothing while away.
    await lab.run_until(dt.datetime(2026, 5, 29, tzinfo=dt.UTC), step=dt.timedelta(hours=3))
    got = steps_received(lab)
    assert got[LEADS["quiet"]] == [1, 2, 3]
    assert [got[LEADS[n]] for n in ("replies", "bounces", "complains", "away")] == [[1], [1], [1], [1]]

    # Back from holiday: the away lead's sequence goes on from where it stopped.
    await lab.run_until(dt.datetime(2026, 6, 8, tzinfo=dt.UTC), step=dt.timedelta(hours=3))
    got = steps_received(lab)
    assert got[LEADS["away"]] == [1, 2, 3]
    assert [got[LEADS[n]] for n in ("replies", "bounces", "complains")] == [[1], [1], [1]]
    away_sent = [m.sent_at for m in await lab.messages() if m.recipient_email == LEADS["away"] and m.step > first_step]
    assert all(at >= dt.datetime(2026, 6, 1, tzinfo=dt.UTC) for at in away_sent), away_sent
