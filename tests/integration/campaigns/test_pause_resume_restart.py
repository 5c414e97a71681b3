"""Pausing, resuming and crashing in the middle of a campaign: no message twice, no step
skipped; replies stop a lead, an out-of-office pauses it until its return."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from salescopilot.campaigns import scheduler as scheduler_module
from salescopilot.campaigns.enrollments import EnrollmentService
from salescopilot.campaigns.repository import EnrollmentRepository
from salescopilot.campaigns.service import CampaignService
from salescopilot.tenancy.context import tenant_scope
from tests.integration.campaigns.conftest import step

ALWAYS_WINDOW = {"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "23:59"}


async def test_pause_resume_and_crashes_neither_resend_nor_skip(lab, clock, monkeypatch):
    await lab.mailbox_pool()
    sequence = await lab.sequence([step(1, "always", 0, thread="new"), step(2, "no_reply", 1), step(3, "no_reply", 1)])
    leads = [await lab.lead(f"lead{n}@customer{n % 3}.example.com", f"Lead{n}", "Europe/Paris", "FR") for n in range(12)]
    campaign = await lab.campaign(sequence, leads, window=ALWAYS_WINDOW)

    await lab.tick()  # step 1 for everyone
    assert len(lab.sink.transactions) == 12

    # A scheduler pass that dies after writing the outbox rows, before moving the enrollments:
    # the transaction rolls back, the next pass does the same work once.
    clock.advance(days=1, minutes=1)
    original = EnrollmentRepository.apply

    async def crash(self, changes):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(EnrollmentRepository, "apply", crash)
    with pytest.raises(RuntimeError):
        await lab.schedule()
    monkeypatch.setattr(EnrollmentRepository, "apply", original)
    assert len([m for m in await lab.messages() if m.step == 2]) == 0
    # Two passes at once (two workers): the second finds nothing left to do.
    first, second = await lab.schedule(), await lab.schedule()
    assert (first.queued, second.queued) == (12, 0)

    # Pause with step 2 queued but not sent: nothing goes out while paused, nor is moved on.
    async with tenant_scope(lab.tenant):
        await CampaignService(lab.settings.outbox, clock=clock).pause(campaign)
    for _ in range(72):
        clock.advance(hours=1)
        await lab.tick()
    assert len(lab.sink.transactions) == 12
    assert {m.state for m in await lab.messages() if m.step == 2} == {"paused"}

    async with tenant_scope(lab.tenant):
        await CampaignService(lab.settings.outbox, clock=clock).resume(campaign)
    # A restarted worker: fresh scheduler and sender objects each tick (as `lab.tick` makes).
    await lab.run_until(clock.now() + dt.timedelta(days=4))

    per_lead = Counter(m.recipient_email for m in await lab.messages() if m.state == "sent")
    assert set(per_lead.values()) == {3}
    assert len(lab.sink.transactions) == 36
    steps = Counter((m.recipient_email, m.step) for m in await lab.messages())
    assert set(steps.values()) == {1}
    assert {e.state for e in await lab.enrollments(campaign)} == {"completed"}
    async with tenant_scope(lab.tenant, write=False):
        assert (await CampaignService(lab.settings.outbox, clock=clock).get(campaign)).status == "completed"


async def test_a_reply_stops_and_an_out_of_office_pauses(lab, clock):
    await lab.mailbox_pool()
    sequence = await lab.sequence([step(1, "always", 0, thread="new"), step(2, "always", 2), step(3, "always", 2)])
    replier = await lab.lead("replier@customer.example.com", "Rita", "Europe/Paris", "FR")
    away = await lab.lead("away@customer.example.com", "Otto", "Europe/Paris", "FR")
    colleague = await lab.lead("colleague@customer.example.com", "Carl", "Europe/Paris", "FR")
    campaign = await lab.campaign(sequence, [replier, away, colleague], window=ALWAYS_WINDOW)
    await lab.tick()
    clock.advance(hours=1)
    first = {m.recipient_email: m for m in await lab.messages()}
    back = clock.now() + dt.timedelta(days=5)
    async with tenant_scope(lab.tenant):
        service = EnrollmentService(lab.settings.outbox, clock=clock)
        await service.note_engagement(first["replier@customer.example.com"].id, "replied")
        assert await service.pause_for_lead(away, until=back, reason="auto-reply: back on Monday") == 1
    await lab.run_until(clock.now() + dt.timedelta(days=10))
    sent = Counter(m.recipient_email for m in await lab.messages() if m.state == "sent")
    assert sent == {"replier@customer.example.com": 1, "away@customer.example.com": 3,
                    "colleague@customer.example.com": 3}
    away_messages = sorted((m for m in await lab.messages() if m.recipient_email.startswith("away")), key=lambda m: m.step)
    assert away_messages[1].sent_at >= back
    states = {e.lead: e for e in await lab.enrollments(campaign)}
    assert (states[replier].state, states[replier].stop_reason) == ("stopped", "replied")
    async with tenant_scope(lab.tenant, write=False):
        timeline = await EnrollmentService(lab.settings.outbox, clock=clock).timeline(states[away])
    kinds = [e["kind"] for e in timeline["events"]]
    assert kinds[:2] == ["queued", "paused"] and "resumed" in kinds and kinds[-1] == "completed"
    assert timeline["events"][0]["message"]["state"] == "sent"


async def test_a_template_hole_holds_the_lead_instead_of_sending(lab, clock):
    await lab.mailbox_pool()
    sequence = await lab.sequence([step(1, "always", 0, thread="new", subject="Hi {{firstName}}",
                                        text="About {{company}}: [step 1]")])
    lead = await lab.lead("nameless@customer.example.com", "", "Europe/Paris", "FR")
    campaign = await lab.campaign(sequence, [lead], window=ALWAYS_WINDOW)
    result = await lab.schedule()
    assert (result.queued, result.held) == (0, 1)
    [enrollment] = await lab.enrollments(campaign)
    assert enrollment.state == "held" and enrollment.next_due_at is None
    assert await lab.messages() == []
    assert scheduler_module.BATCH == 1000


async def test_a_dry_run_shows_every_step_in_each_window_and_sends_nothing(lab, clock):
    await lab.mailbox_pool()
    sequence = await lab.sequence([step(1, "always", 0, thread="new"), step(2, "opened", 1),
                                   step(3, "not_opened", 2)])
    tokyo = await lab.lead("tokyo@customer.example.com", "Taro", "Asia/Tokyo", "JP")
    paris = await lab.lead("paris@customer.example.com", "Paul", "Europe/Paris", "FR")
    campaign = await lab.campaign(sequence, [tokyo, paris], launch=False)
    async with tenant_scope(lab.tenant, write=False):
        plan = await CampaignService(lab.settings.outbox, clock=clock).dry_run(campaign, days=7)
    sends = [(s["recipient"], s["step"]) for s in plan["sends"]]
    assert sorted(sends) == sorted([("tokyo@customer.example.com", 1), ("tokyo@customer.example.com", 3),
                                    ("paris@customer.example.com", 1), ("paris@customer.example.com", 3)])
    assert {(s["recipient"], s["step"]) for s in plan["skipped"]} == {
        ("tokyo@customer.example.com", 2), ("paris@customer.example.com", 2)}
    first_tokyo = next(s for s in plan["sends"] if s["recipient"].startswith("tokyo") and s["step"] == 1)
    local = dt.datetime.fromisoformat(first_tokyo["at"]).astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert local.hour == 9 and local.weekday() == 0  # Monday 09:00 in Tokyo, when its window opens
    assert await lab.messages() == [] and lab.sink.transactions == []


async def test_a_finished_campaign_is_announced_to_webhooks_once(lab, clock):
    from salescopilot.settings import WebhookSettings
    from salescopilot.webhooks.repository import WebhookDeliveryRepository
    from salescopilot.webhooks.service import WebhookService

    settings = lab.settings.model_copy(update={"webhooks": WebhookSettings(allow_private=True)})
    async with tenant_scope(lab.tenant):
        await WebhookService(clock, settings=settings).create("http://127.0.0.1:9/hook", ["campaign.completed"])
    await lab.mailbox_pool()
    sequence = await lab.sequence([step(1, "always", 0, thread="new")])
    leads = [await lab.lead(f"lead{n}@customer.example.com", f"Lead{n}", "Europe/Paris", "FR") for n in range(2)]
    campaign = await lab.campaign(sequence, leads, window=ALWAYS_WINDOW)
    await lab.run_until(clock.now() + dt.timedelta(days=2))
    await lab.run_until(clock.now() + dt.timedelta(days=1))
    async with tenant_scope(lab.tenant, write=False):
        deliveries = [d for d in await WebhookDeliveryRepository().find() if d.kind == "campaign.completed"]
    assert len(deliveries) == 1
    assert str(campaign) in deliveries[0].body


async def test_a_human_open_and_click_reach_the_enrollment_for_its_conditions(lab, clock):
    from salescopilot.tracking.service import TrackingService
    from salescopilot.tracking.tables import TrackingEvent

    await lab.mailbox_pool()
    sequence = await lab.sequence([step(1, "always", 0, thread="new"), step(2, "opened", 1)])
    campaign = await lab.campaign(sequence, [await lab.lead("ana@customer.example.com", "Ana", "Europe/Paris", "FR")],
                                  window=ALWAYS_WINDOW)
    await lab.tick()
    [message] = [m for m in await lab.messages() if m.state == "sent"]
    async with tenant_scope(lab.tenant):
        await TrackingService(clock).record_human_engagement([
            TrackingEvent(message=message.id, campaign=campaign, kind=kind, occurred_at=clock.now())
            for kind in ("open", "click", "open")
        ])
    [enrollment] = await lab.enrollments(campaign)
    assert enrollment.opened_at == clock.now() and enrollment.clicked_at == clock.now()
