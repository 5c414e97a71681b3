"""Fixtures of the campaign tests: a `Lab` that builds a mailbox (real SMTP to an aiosmtpd sink),
a pool, leads, a sequence and a campaign for tenant A, and steps a fake clock while running
scheduler and sender passes as the background tasks would."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import uuid
from typing import Any

import pytest

from salescopilot.campaigns.enrollments import EnrollmentService
from salescopilot.campaigns.repository import EnrollmentRepository
from salescopilot.campaigns.scheduler import CampaignScheduler, PassResult
from salescopilot.campaigns.service import CampaignService
from salescopilot.clock import FakeClock
from salescopilot.leads.service import LeadService
from salescopilot.mailboxes.providers import provider_instances
from salescopilot.mailboxes.schemas import MailboxInput
from salescopilot.mailboxes.service import MailboxService, PoolService
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.outbox.sender import OutboxSender
from salescopilot.sequences.service import SequenceService
from salescopilot.tenancy.context import tenant_context, tenant_scope
from tests.mailservers import SmtpSink

SENDER = "ann@sender.example.com"
WINDOW = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00", "holidays": "lead"}


def step(n: int, condition: str, delay: int, unit: str = "days", *, business: bool = False,
         thread: str = "reply", **variant: Any) -> dict:
    body = {"subject": f"Step {n} for {{{{firstName|there}}}}", "text": f"Hello {{{{firstName|there}}}}, [step {n}]"}
    body.update(variant)
    return {"key": f"s{n}", "name": f"Step {n}", "delay": delay, "unit": unit, "business_days": business,
            "condition": condition, "thread": thread, "variants": [body]}


class Lab:
    def __init__(self, tenant, settings, clock: FakeClock, sink: SmtpSink) -> None:
        self.tenant = tenant
        self.settings = settings
        self.clock = clock
        self.sink = sink
        self.pool: uuid.UUID | None = None

    async def mailbox_pool(self) -> uuid.UUID:
        async with tenant_scope(self.tenant):
            mailbox = await MailboxService(self.clock).create(MailboxInput(
                email=SENDER, from_name="Ann Example", provider="smtp", min_gap_seconds=0, jitter_seconds=0,
                account={"address": SENDER, "smtp_host": self.sink.host, "smtp_port": self.sink.port,
                         "smtp_security": "none", "auth_method": "none", "append_to_sent": "never"},
            ))
            self.pool = (await PoolService(self.clock).create("Main pool", [mailbox.id])).id
        return self.pool

    async def lead(self, address: str, first: str, timezone: str, country: str) -> uuid.UUID:
        async with tenant_scope(self.tenant):
            row = await LeadService(clock=self.clock).create(
                {"email": address, "first_name": first, "timezone": timezone, "country": country})
            return row.id

    async def sequence(self, steps: list[dict], **rules: bool) -> uuid.UUID:
        async with tenant_scope(self.tenant):
            row = await SequenceService(clock=self.clock).create(
                {"name": f"Sequence {uuid.uuid4().hex[:6]}", "steps": steps, "stop_rules": rules}, author=None)
            return row.id

    async def campaign(self, sequence: uuid.UUID, leads: list[uuid.UUID], *, launch: bool = True, **values) -> uuid.UUID:
        values.setdefault("window", WINDOW)
        async with tenant_scope(self.tenant):
            service = CampaignService(self.settings.outbox, clock=self.clock)
            row = await service.create({"name": f"Campaign {uuid.uuid4().hex[:6]}", "sequence": sequence,
                                        "pool": self.pool, "sender_name": "Ann Example", **values}, author=None)
            await service.add_leads(row.id, {"kind": "ids", "ids": leads})
            if launch:
                await service.launch(row.id)
            return row.id

    async def schedule(self) -> PassResult:
        async with tenant_scope(self.tenant):
            return await CampaignScheduler(self.settings.outbox, self.clock).run_pass()

    async def send(self) -> int:
        with tenant_context(self.tenant):
            return await OutboxSender(self.settings, self.clock).run_pass()

    async def tick(self) -> None:
        """What the background tasks do at this moment: scheduler, then sender passes."""
        await self.schedule()
        while await self.send():
            pass

    async def run_until(self, end: dt.datetime, step: dt.timedelta = dt.timedelta(hours=1), on_tick=None) -> None:
        while self.clock.now() < end:
            await self.tick()
            if on_tick is not None:
                await on_tick()
            self.clock.advance(seconds=step.total_seconds())

    async def messages(self) -> list:
        async with tenant_scope(self.tenant, write=False):
            return await OutboxRepository().find()

    async def enrollments(self, campaign: uuid.UUID | None = None) -> list:
        from salescopilot.campaigns.tables import Enrollment

        async with tenant_scope(self.tenant, write=False):
            return await EnrollmentRepository().find(*( [Enrollment.campaign == campaign] if campaign else []))

    async def engage(self, message: uuid.UUID, kind: str) -> None:
        async with tenant_scope(self.tenant):
            await EnrollmentService(self.settings.outbox, clock=self.clock).note_engagement(message, kind)

    async def timeline(self, lead: uuid.UUID) -> str:
        """The lead's outbox rows and enrollment events, to explain a failed expectation."""
        from salescopilot.campaigns.tables import Enrollment, EnrollmentEvent

        async with tenant_scope(self.tenant, write=False):
            enrollments = await Enrollment.select().where(Enrollment.lead == lead)
            ids = [e["id"] for e in enrollments]
            events = await EnrollmentEvent.select().where(EnrollmentEvent.enrollment.is_in(ids)).order_by(EnrollmentEvent.at)
            messages = [m for m in await OutboxRepository().find() if m.lead == lead]
        lines = [f"enrollment {e['state']} next_step={e['next_step']} due={e['next_due_at']} wait={e['wait_reason']!r}"
                 for e in enrollments]
        lines += [f"message step={m.step} {m.state} due={m.due_at} sent={m.sent_at} failure={m.failure!r} "
                  f"wait={m.wait_reason!r}" for m in messages]
        lines += [f"event {e['at']} {e['kind']} step={e['step']} {e['detail']}" for e in events]
        return "\n".join(lines)

    def received(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(t.data, policy=email.policy.default) for t in self.sink.transactions]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 5, 11, 0, 0, tzinfo=dt.UTC))  # a Monday


@pytest.fixture
async def lab(settings, db, tenant_a, clock):
    with SmtpSink() as sink:
        yield Lab(tenant_a, settings, clock, sink)
    await provider_instances.close_all()
