"""A campaign with known outcomes, written straight into the tables the reports read (the
sending ledger, tracking events, inbound mail, leads, enrollments), so every figure a test
asserts is counted by hand below.

Step s1 is an A/B test:
- A: 200 messages to New York leads (owner Olive), Tue 2026-05-12 14:00 UTC (10:00 local),
  80 words, template "Intro", subject "Quick question". #0-1 hard-bounced at the hand-off;
  #2-41 replied; #42-46 answered out of office; #2-81 opened by a person, #82-111 only by an image
  proxy (machine); #2-11 clicked by a person, #112-114 only by a link scanner; #115 unsubscribed;
  #2 booked a meeting (the enrollment stopped with meeting_booked).
- B: 200 messages to Kolkata leads (owner Omar), Wed 2026-05-13 09:00 UTC (14:30 local), 160
  words, subject "Idea for {{company}}". #0 bounced later (a bounce report); #1-20 replied; #21 was
  classified out of office and corrected to a reply by a person; #1-50 opened; #199's lead has an
  unknown timezone (counted as UTC: Wed 09:00).
Step s2: 50 messages to A's leads #150-199, Fri 2026-05-15 14:00 UTC, in thread, nothing happened.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import pytest

from salescopilot.analytics.counters import rebuild as rebuild_counters
from salescopilot.analytics.repository import MessageEngagementRepository
from salescopilot.campaigns.service import CampaignService
from salescopilot.campaigns.tables import Enrollment
from salescopilot.clock import FakeClock
from salescopilot.inbound.tables import ReceivedMessage
from salescopilot.leads.tables import Lead
from salescopilot.mailboxes.schemas import MailboxInput
from salescopilot.mailboxes.service import MailboxService
from salescopilot.outbox.tables import OutboxMessage
from salescopilot.sequences.service import SequenceService
from salescopilot.templates.tables import EmailTemplate
from salescopilot.tenancy.context import tenant_scope
from salescopilot.tracking.tables import TrackingEvent
from tests.support import add_member

TUESDAY = dt.datetime(2026, 5, 12, 14, 0, tzinfo=dt.UTC)
WEDNESDAY = dt.datetime(2026, 5, 13, 9, 0, tzinfo=dt.UTC)
FRIDAY = dt.datetime(2026, 5, 15, 14, 0, tzinfo=dt.UTC)


@dataclass
class Seeded:
    campaign: uuid.UUID
    sequence: uuid.UUID
    template: uuid.UUID
    mailbox: uuid.UUID
    owners: dict[str, uuid.UUID]
    messages: dict[str, list[uuid.UUID]] = field(default_factory=dict)


def _message(tenant, campaign, enrollment, lead, mailbox, *, step: int, step_key: str, variant: str, template,
             subject: str, words: int, tz: str, at: dt.datetime, bounced: bool = False) -> OutboxMessage:
    return OutboxMessage(
        tenant=tenant, enrollment=enrollment, step=step, campaign=campaign, lead=lead, mailbox=mailbox,
        message_id=f"<{uuid.uuid4().hex}@seller.example.com>", recipient_email=f"{uuid.uuid4().hex[:8]}@c.example.com",
        recipient_domain="c.example.com", recipient_timezone=tz, subject=subject, body_text="word " * words,
        step_key=step_key, variant=variant, template=template, subject_template=subject, body_words=words,
        state="failed" if bounced else "sent", failure="bounced" if bounced else "",
        sent_at=None if bounced else at, created_at=at - dt.timedelta(hours=1), updated_at=at, due_at=at,
    )


def _event(tenant, campaign, message, kind: str, *, machine: bool, at: dt.datetime) -> TrackingEvent:
    return TrackingEvent(tenant=tenant, message=message, campaign=campaign, kind=kind, machine=machine,
                         reason="apple_mpp" if machine else "human", occurred_at=at + dt.timedelta(hours=2))


def _inbound(tenant, campaign, message, mailbox, kind: str, *, at: dt.datetime, corrected: str = "") -> ReceivedMessage:
    return ReceivedMessage(tenant=tenant, mailbox=mailbox, dedupe_key=f"mid:{uuid.uuid4().hex}", kind=kind,
                           corrected_kind=corrected, outbox_message=message, campaign=campaign,
                           received_at=at + dt.timedelta(hours=3))


async def seed_campaign(tenant, settings, clock: FakeClock) -> Seeded:
    olive = await add_member(tenant, "olive@acme.example.com", "member")
    omar = await add_member(tenant, "omar@acme.example.com", "member")
    async with tenant_scope(tenant):
        mailbox = await MailboxService(clock).create(MailboxInput(
            email="ann@seller.example.com", provider="smtp", min_gap_seconds=0, jitter_seconds=0,
            account={"address": "ann@seller.example.com", "smtp_host": "127.0.0.1", "smtp_port": 9,
                     "smtp_security": "none", "auth_method": "none", "append_to_sent": "never"}))
        template = EmailTemplate(tenant=tenant.id, name="Intro", subject="Quick question", text_body="Hi")
        await EmailTemplate.insert(template)
        sequence = await SequenceService(clock=clock).create({"name": "Outreach", "steps": [
            {"key": "s1", "name": "Opener", "variants": [
                {"key": "A", "weight": 50, "template": str(template.id)},
                {"key": "B", "weight": 50, "subject": "Idea for {{company}}", "text": "Hello"}]},
            {"key": "s2", "name": "Bump", "delay": 3, "thread": "reply", "variants": [{"text": "Any thoughts?"}]},
        ]}, author=None)
        campaign = await CampaignService(settings.outbox, clock=clock).create(
            {"name": "Spring outreach", "sequence": sequence.id}, author=None)
        leads, enrollments, messages, events, inbound = [], [], [], [], []
        seeded = Seeded(campaign.id, sequence.id, template.id, mailbox.id, {"olive": olive, "omar": omar})
        for variant in ("A", "B"):
            ids = seeded.messages.setdefault(variant, [])
            for n in range(200):
                lead = Lead(tenant=tenant.id, email=f"{variant}{n}@c.example.com", email_normalised=f"{variant}{n}@c.example.com",
                            owner=olive if variant == "A" else omar)
                enrollment = Enrollment(tenant=tenant.id, campaign=campaign.id, lead=lead.id, state="active")
                if variant == "A":
                    tz, at, words, subject, used = "America/New_York", TUESDAY, 80, "Quick question", template.id
                else:
                    tz, at, words, subject, used = "Asia/Kolkata", WEDNESDAY, 160, "Idea for {{company}}", None
                tz = "Not/A_Zone" if (variant, n) == ("B", 199) else tz
                message = _message(tenant.id, campaign.id, enrollment.id, lead.id, mailbox.id, step=1, step_key="s1",
                                   variant=variant, template=used, subject=subject, words=words, tz=tz, at=at,
                                   bounced=variant == "A" and n < 2)
                enrollment.last_message = message.id
                ids.append(message.id)
                leads.append(lead)
                enrollments.append(enrollment)
                messages.append(message)
                if variant == "A" and 150 <= n:
                    follow = _message(tenant.id, campaign.id, enrollment.id, lead.id, mailbox.id, step=2, step_key="s2",
                                      variant="", template=None, subject="", words=3, tz=tz, at=FRIDAY)
                    enrollment.last_message = follow.id
                    seeded.messages.setdefault("s2", []).append(follow.id)
                    messages.append(follow)
        a, b = seeded.messages["A"], seeded.messages["B"]
        for n in range(2, 42):
            inbound.append(_inbound(tenant.id, campaign.id, a[n], mailbox.id, "reply", at=TUESDAY))
        for n in range(42, 47):
            inbound.append(_inbound(tenant.id, campaign.id, a[n], mailbox.id, "auto_reply", at=TUESDAY))
        for n in range(2, 82):
            events.append(_event(tenant.id, campaign.id, a[n], "open", machine=False, at=TUESDAY))
            events.append(_event(tenant.id, campaign.id, a[n], "open", machine=n % 2 == 0, at=TUESDAY))
        for n in range(82, 112):
            events.append(_event(tenant.id, campaign.id, a[n], "open", machine=True, at=TUESDAY))
        for n in range(2, 12):
            events.append(_event(tenant.id, campaign.id, a[n], "click", machine=False, at=TUESDAY))
        for n in range(112, 115):
            events.append(_event(tenant.id, campaign.id, a[n], "click", machine=True, at=TUESDAY))
        events.append(_event(tenant.id, campaign.id, a[115], "unsubscribe", machine=False, at=TUESDAY))
        enrollments[2].stop_reason, enrollments[2].state = "meeting_booked", "stopped"
        inbound.append(_inbound(tenant.id, campaign.id, b[0], mailbox.id, "bounce", at=WEDNESDAY))
        for n in range(1, 21):
            inbound.append(_inbound(tenant.id, campaign.id, b[n], mailbox.id, "reply", at=WEDNESDAY))
        inbound.append(_inbound(tenant.id, campaign.id, b[21], mailbox.id, "auto_reply", at=WEDNESDAY, corrected="reply"))
        for n in range(1, 51):
            events.append(_event(tenant.id, campaign.id, b[n], "open", machine=False, at=WEDNESDAY))
        for table, rows in ((Lead, leads), (Enrollment, enrollments), (OutboxMessage, messages),
                            (TrackingEvent, events), (ReceivedMessage, inbound)):
            await table.insert(*rows)
        # As tracking does when it writes events (see `tracking.service._note_engagement`).
        await MessageEngagementRepository().note([(e.message, e.campaign, e.kind, e.machine) for e in events])
        # Facts written straight into the tables, as data stored before the counters: recounted
        # as the migration does.
        await rebuild_counters()
    return seeded


async def seed_small(tenant, settings, clock: FakeClock, *, sent: int, replied: int) -> uuid.UUID:
    """Another tenant's campaign: `sent` messages, `replied` of them answered."""
    async with tenant_scope(tenant):
        sequence = await SequenceService(clock=clock).create(
            {"name": "Other", "steps": [{"key": "s1", "variants": [{"subject": "Hi", "text": "Hi"}]}]}, author=None)
        campaign = await CampaignService(settings.outbox, clock=clock).create(
            {"name": "Other campaign", "sequence": sequence.id}, author=None)
        messages, inbound = [], []
        for n in range(sent):
            message = _message(tenant.id, campaign.id, uuid.uuid4(), None, None, step=1, step_key="s1", variant="A",
                               template=None, subject="Hi", words=10, tz="UTC", at=TUESDAY)
            messages.append(message)
            if n < replied:
                inbound.append(_inbound(tenant.id, campaign.id, message.id, uuid.uuid4(), "reply", at=TUESDAY))
        await OutboxMessage.insert(*messages)
        await ReceivedMessage.insert(*inbound)
        await rebuild_counters()
        return campaign.id


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 5, 20, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
async def seeded(settings, db, tenant_a, clock) -> Seeded:
    return await seed_campaign(tenant_a, settings, clock)
