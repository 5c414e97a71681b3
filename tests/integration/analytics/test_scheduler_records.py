"""What analytics groups by is recorded when the scheduler queues a message: the step's key, the
lead's A/B variant, the template, the subject as written (before personalisation) and the body's
length in words; and a running campaign that asks for it gets its significant winner promoted."""

from __future__ import annotations

from salescopilot.analytics.service import AnalyticsService
from salescopilot.campaigns.repository import CampaignRepository
from salescopilot.sequences.service import SequenceService
from salescopilot.sequences.steps import choose_variant, steps_of
from salescopilot.tenancy.context import tenant_scope
from tests.integration.campaigns.conftest import lab  # noqa: F401 - the fixture


async def test_queued_messages_carry_step_variant_subject_and_length(lab):  # noqa: F811
    await lab.mailbox_pool()
    leads = [await lab.lead(f"p{n}@customer.example.com", f"P{n}", "Europe/Berlin", "DE") for n in range(6)]
    sequence = await lab.sequence([{"key": "intro", "name": "Intro", "variants": [
        {"key": "A", "weight": 50, "subject": "Hi {{firstName}}", "text": "One two three four five"},
        {"key": "B", "weight": 50, "subject": "Hello {{firstName}}", "text": "One two three"}]}])
    await lab.campaign(sequence, leads)
    await lab.schedule()
    messages = await lab.messages()
    assert len(messages) == 6
    async with tenant_scope(lab.tenant, write=False):
        step = steps_of((await SequenceService(clock=lab.clock).version(sequence)).steps)[0]
    for message in messages:
        expected = choose_variant(step, message.lead)
        assert (message.step_key, message.variant) == ("intro", expected.key)
        assert message.subject_template == expected.subject and message.subject != expected.subject
        assert message.body_words == len(expected.text.split()) and message.template is None


async def test_auto_promotion_promotes_a_running_campaigns_winner(tenant_a, seeded, clock):
    async with tenant_scope(tenant_a):
        await AnalyticsService(clock).set_policy(seeded.campaign, {"auto_promote": True})
        await CampaignRepository().change(seeded.campaign, {"status": "active"})
    async with tenant_scope(tenant_a):
        assert await AnalyticsService(clock).promote_significant_winners() == 1
    async with tenant_scope(tenant_a):
        assert await AnalyticsService(clock).promote_significant_winners() == 0
        version = await SequenceService(clock=clock).version(seeded.sequence)
        campaign = await CampaignRepository().get(seeded.campaign)
    assert version.version == 2 and campaign.sequence_version == 2
    assert [(v.key, v.weight) for v in steps_of(version.steps)[0].variants] == [("A", 100), ("B", 0)]
