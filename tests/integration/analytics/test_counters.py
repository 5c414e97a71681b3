"""Analytics' counters kept by the writers of the facts equal a count from the facts.

A real campaign (an A/B first step, two follow-ups) goes out through the scheduler and the
sender over SMTP; people and machines open and click, one unsubscribes; a reply, an
out-of-office later corrected to a reply, a bounce report and a complaint arrive; leads change
owner, book meetings (one by itself, one in bulk) and one is deleted; the sequence goes on.
Then the dashboard read from the counters must be the dashboard counted from the facts, and a
rebuild must find the counters exactly as they were kept."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from salescopilot.analytics.counters import rebuild, verify
from salescopilot.analytics.repository import FIGURES, AnalyticsCounterRepository
from salescopilot.analytics.service import AnalyticsService
from salescopilot.analytics.tables import AnalyticsCounter
from salescopilot.inbound.service import InboundService
from salescopilot.leads.service import LeadService
from salescopilot.plugin_system.interfaces import InboundMessage
from salescopilot.tenancy.context import tenant_scope
from salescopilot.tracking.service import Hit, TrackingService
from tests.integration.campaigns.conftest import Lab, lab, step  # noqa: F401 - the fixture
from tests.integration.inbound import messages as mail
from tests.support import add_member

SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Safari/605.1.15")
PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
ZONES = ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney", "")


async def counters_of(run: Lab) -> dict[tuple, tuple]:
    async with tenant_scope(run.tenant, write=False):
        rows = await AnalyticsCounterRepository().find()
    kept = {}
    for row in rows:
        values = tuple(getattr(row, name) for name in FIGURES)
        if any(values):
            kept[(row.campaign, row.key)] = values
    return kept


async def reports(run: Lab, campaign: uuid.UUID) -> tuple[dict, dict]:
    """The campaign dashboard read from the counters, and counted from the facts."""
    async with tenant_scope(run.tenant, write=False):
        service = AnalyticsService(run.clock)
        return (await service.campaign_report(campaign),
                await service.campaign_report(campaign, from_facts=True))


@pytest.mark.timeout(240)
async def test_counters_kept_by_the_writers_equal_the_facts(lab):  # noqa: F811
    await lab.mailbox_pool()
    olive = await add_member(lab.tenant, "olive@acme.example.com", "member")
    omar = await add_member(lab.tenant, "omar@acme.example.com", "member")
    leads = []
    for n in range(16):
        leads.append(await lab.lead(f"lead{n}@c{n % 4}.example", f"Lead{n}", ZONES[n % len(ZONES)], "US"))
    async with tenant_scope(lab.tenant):
        for n, lead in enumerate(leads):
            await LeadService(clock=lab.clock).update(lead, {"owner": olive if n % 2 else omar})
    opener = step(1, "always", 0, thread="new")
    opener["variants"] = [
        {"key": "A", "weight": 50, "subject": "Quick question", "text": "Hi {{firstName|there}}, [step 1]"},
        {"key": "B", "weight": 50, "subject": "Idea for {{company|you}}",
         "text": "Hello {{firstName|there}}, " + "a longer pitch " * 40 + "[step 1]"},
    ]
    # A booked meeting does not stop the sequence: its credit moves on to each later message.
    sequence = await lab.sequence([opener, step(2, "always", 2), step(3, "always", 2, thread="new")],
                                  meeting_booked=False)
    campaign = await lab.campaign(sequence, leads)

    await lab.run_until(lab.clock.now() + dt.timedelta(hours=30))
    sent = {m.lead: m for m in await lab.messages() if m.state == "sent"}
    assert len(sent) == 16, await lab.messages()
    first = [sent[lead] for lead in leads]
    counted, facts = await reports(lab, campaign)
    assert counted == facts and counted["totals"]["sent"] == 16

    at = lab.clock.now()

    def hit(message, kind: str, user_agent: str) -> Hit:
        return Hit(tenant_id=lab.tenant.id, tenant_slug=lab.tenant.slug, kind=kind, message=message.id,
                   link_index=0, occurred_at=at, ip="198.51.100.7", user_agent=user_agent, method="GET",
                   url="https://example.com/" if kind == "click" else "")

    async with tenant_scope(lab.tenant):
        tracking = TrackingService(lab.clock)
        # Twice by a person (counted once), by an image proxy, a click alone (proves the open).
        await tracking.record_hits([hit(first[0], "open", SAFARI), hit(first[0], "open", SAFARI),
                                    hit(first[1], "open", PROXY), hit(first[2], "click", SAFARI)])
        await tracking.record_hits([hit(first[0], "open", SAFARI), hit(first[1], "open", SAFARI),
                                    hit(first[3], "open", PROXY), hit(first[2], "open", SAFARI)])
        assert await tracking.unsubscribe(first[4].id, source="page") is True
    replies = [(mail.reply, first[5]), (mail.out_of_office, first[6]), (mail.bounce, first[7]),
               (mail.complaint, first[8]), (mail.reply, first[9])]
    raws = [make(m.recipient_email, m.message_id) for make, m in replies]
    async with tenant_scope(lab.tenant):
        stored = await InboundService(lab.clock).store(sent[leads[0]].mailbox, [
            InboundMessage(provider_message_id=f"INBOX:1:{n}", raw=raw, received_at=lab.clock.now())
            for n, raw in enumerate(raws)])
    kinds = {row.outbox_message: row for row in stored.stored}
    assert {kinds[m.id].kind for _, m in replies} == {"reply", "auto_reply", "bounce", "complaint"}
    async with tenant_scope(lab.tenant):
        # A person corrects the out-of-office to a reply.
        await InboundService(lab.clock).correct(kinds[first[6].id].id, "reply", by=None)
    async with tenant_scope(lab.tenant):
        leads_service = LeadService(clock=lab.clock)
        await leads_service.update(leads[10], {"owner": olive if leads.index(leads[10]) % 2 == 0 else omar})
        await leads_service.update(leads[11], {"status": "meeting_booked"})
        await leads_service.bulk("set_status", [leads[12], leads[13]], "meeting_booked")
        await leads_service.update(leads[13], {"status": "interested"})
        await leads_service.delete(leads[14])
    counted, facts = await reports(lab, campaign)
    assert counted == facts
    totals = counted["totals"]
    assert (totals["opened"], totals["machine"]["opened"], totals["clicked"]) == (3, 2, 1)
    assert (totals["replied"], totals["bounced"], totals["meetings"]) == (3, 1, 2)

    # The sequence goes on: follow-ups to whoever is still in it, engagement on them too.
    await lab.run_until(lab.clock.now() + dt.timedelta(days=8), step=dt.timedelta(hours=3))
    later = [m for m in await lab.messages() if m.state == "sent" and m.step > first[0].step]
    assert later
    async with tenant_scope(lab.tenant):
        await TrackingService(lab.clock).record_hits([hit(m, "open", SAFARI) for m in later[:3]]
                                                     + [hit(m, "click", PROXY) for m in later[2:5]])
    counted, facts = await reports(lab, campaign)
    assert counted == facts
    assert counted["totals"]["sent"] == len([m for m in await lab.messages() if m.state == "sent"]) + 0
    assert {item["key"] for item in counted["byStep"]} == {"s1", "s2", "s3"}
    assert {v["variant"] for v in counted["abTests"][0]["variants"]} == {"A", "B"}
    assert counted["totals"]["meetings"] == 2
    credited = {item["key"]: item["meetings"] for item in counted["byStep"]}
    assert credited["s1"] < 2, credited

    kept = await counters_of(lab)
    async with tenant_scope(lab.tenant, write=False):
        assert await verify() == {}
    async with tenant_scope(lab.tenant):
        await rebuild()
    assert await counters_of(lab) == kept
    async with tenant_scope(lab.tenant, write=False):
        assert await AnalyticsCounterRepository().count(AnalyticsCounter.kind == "k") < 60


async def test_a_rebuild_recounts_what_was_lost(lab, tenant_b):  # noqa: F811
    """Counters wiped (or stored before them): the rebuild brings them back, per tenant."""
    await lab.mailbox_pool()
    leads = [await lab.lead(f"r{n}@r.example", f"R{n}", "Europe/Berlin", "DE") for n in range(3)]
    campaign = await lab.campaign(await lab.sequence([step(1, "always", 0, thread="new")]), leads)
    await lab.run_until(lab.clock.now() + dt.timedelta(hours=30))
    kept = await counters_of(lab)
    assert kept
    async with tenant_scope(lab.tenant):
        await AnalyticsCounterRepository().delete_where(AnalyticsCounter.campaign == str(campaign))
    async with tenant_scope(lab.tenant, write=False):
        assert len(await verify()) == len(kept)
        assert (await AnalyticsService(lab.clock).campaign_report(campaign))["totals"]["sent"] == 0
    async with tenant_scope(tenant_b):
        assert await rebuild() == 0
    async with tenant_scope(lab.tenant):
        assert await rebuild() == len(kept)
    assert await counters_of(lab) == kept
    async with tenant_scope(lab.tenant, write=False):
        assert (await AnalyticsService(lab.clock).campaign_report(campaign))["totals"]["sent"] == 3
