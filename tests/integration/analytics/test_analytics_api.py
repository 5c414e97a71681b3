"""The analytics API over a seeded campaign whose every figure is counted by hand (conftest):
totals, dimensions, the weekday/hour grid in the lead's timezone, A/B significance and winner,
promotion, send-time recommendation, permissions and tenant isolation."""

from __future__ import annotations

import math

from salescopilot.sequences.service import SequenceService
from salescopilot.sequences.steps import steps_of
from salescopilot.tenancy.context import tenant_scope
from tests.integration.analytics.conftest import seed_small
from tests.integration.mailboxes.conftest import signed_in


def _by(items, field, value):
    return next(item for item in items if item[field] == value)


async def test_campaign_dashboard_counts_every_figure(client_a, tenant_a, seeded, no_scheduler):
    await signed_in(client_a, tenant_a, email="viewer@acme.example.com", role="viewer")
    response = await client_a.get(f"/api/v1/analytics/campaigns/{seeded.campaign}")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    totals = data["totals"]
    assert (totals["sent"], totals["bounced"], totals["delivered"]) == (450, 3, 447)
    assert (totals["opened"], totals["clicked"], totals["replied"]) == (130, 10, 61)
    assert totals["machine"] == {"opened": 70, "clicked": 3}
    assert totals["replies"] == {"reply": 61, "autoReply": 5, "complaint": 0, "unsubscribe": 1}
    assert (totals["unsubscribed"], totals["meetings"]) == (1, 1)
    assert totals["rates"]["reply"] == round(61 / 447, 4)

    steps = data["byStep"]
    assert [(s["key"], s["name"], s["sent"]) for s in steps] == [("s1", "Opener", 400), ("s2", "Bump", 50)]
    template = _by(data["byTemplate"], "name", "Intro")
    assert (template["sent"], template["replied"], template["bounced"]) == (200, 40, 2)
    assert data["leaderboard"][0]["name"] == "Intro"
    subject = _by(data["bySubject"], "name", "Idea for {{company}}")
    assert (subject["sent"], subject["replied"], subject["delivered"]) == (200, 21, 199)
    assert _by(data["bySubject"], "name", "(reply in thread)")["sent"] == 50
    assert _by(data["byMailbox"], "name", "ann@seller.example.com")["sent"] == 450
    assert _by(data["byOwner"], "name", "Olive")["sent"] == 250
    assert _by(data["byOwner"], "name", "Omar")["replied"] == 21
    lengths = {item["label"]: item["sent"] for item in data["byLength"]}
    assert lengths == {"0–49 words": 50, "50–99 words": 200, "150–199 words": 200}

    grid = {(c["weekday"], c["hour"]): c for c in data["byWeekdayHour"]}
    assert set(grid) == {("Tue", 10), ("Wed", 14), ("Wed", 9), ("Fri", 10)}
    assert (grid[("Tue", 10)]["sent"], grid[("Tue", 10)]["replied"]) == (200, 40)
    assert grid[("Wed", 14)]["sent"] == 199 and grid[("Wed", 9)]["sent"] == 1  # 14:30 in Kolkata; UTC fallback
    assert _by(data["byWeekday"], "weekday", "Tue")["rates"]["reply"] == round(40 / 198, 4)
    assert data["byHour"][10]["sent"] == 250
    assert data["sendTime"]["weekday"] == "Tue" and data["sendTime"]["hour"] == 10
    assert data["sendTime"]["replyRate"] == round(40 / 198, 4)


async def test_ab_test_is_significant_and_recommends_the_winner(client_a, tenant_a, seeded, no_scheduler):
    await signed_in(client_a, tenant_a)
    data = (await client_a.get(f"/api/v1/analytics/campaigns/{seeded.campaign}")).json()["data"]
    [test] = data["abTests"]
    assert test["step"] == "s1" and test["metric"] == "reply"
    rows = {v["variant"]: v for v in test["variants"]}
    assert (rows["A"]["successes"], rows["A"]["delivered"]) == (40, 198)
    assert (rows["B"]["successes"], rows["B"]["delivered"]) == (21, 199)
    pooled = 61 / 397
    z = (40 / 198 - 21 / 199) / math.sqrt(pooled * (1 - pooled) * (1 / 198 + 1 / 199))
    [comparison] = test["comparisons"]
    assert comparison["z"] == round(z, 4) and abs(comparison["pValue"] - math.erfc(z / math.sqrt(2))) < 1e-6
    assert comparison["pValue"] < 0.01
    assert test["significant"] and test["winner"] == "A" and test["promoted"] is None

    # At 99 % confidence with a sample floor above what was sent, no verdict.
    headers = {"X-CSRF-Token": (await _csrf(client_a))}
    response = await client_a.put(f"/api/v1/analytics/campaigns/{seeded.campaign}/ab-policy", headers=headers,
                                  json={"metric": "reply", "confidence": 99, "minSample": 500})
    assert response.status_code == 200 and response.json()["data"]["minSample"] == 500
    data = (await client_a.get(f"/api/v1/analytics/campaigns/{seeded.campaign}")).json()["data"]
    assert not data["abTests"][0]["significant"] and "fewer than 500" in data["abTests"][0]["reason"]
    refused = await client_a.post(f"/api/v1/analytics/campaigns/{seeded.campaign}/ab-tests/s1/promote", headers=headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "AB_NO_WINNER_YET"

    # Back to 95 %: promoting gives A all of step s1's traffic in a new sequence version.
    await client_a.put(f"/api/v1/analytics/campaigns/{seeded.campaign}/ab-policy", headers=headers,
                       json={"confidence": 95, "minSample": 100})
    promoted = await client_a.post(f"/api/v1/analytics/campaigns/{seeded.campaign}/ab-tests/s1/promote", headers=headers)
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["data"] == {"step": "s1", "winner": "A", "promoted": True, "sequenceVersion": 2}
    async with tenant_scope(tenant_a, write=False):
        version = await SequenceService(clock=None).version(seeded.sequence)
    assert [(v.key, v.weight) for v in steps_of(version.steps)[0].variants] == [("A", 100), ("B", 0)]
    again = await client_a.post(f"/api/v1/analytics/campaigns/{seeded.campaign}/ab-tests/s1/promote", headers=headers)
    assert again.json()["data"]["promoted"] is False
    data = (await client_a.get(f"/api/v1/analytics/campaigns/{seeded.campaign}")).json()["data"]
    assert data["abTests"][0]["promoted"] == "A"


async def test_auto_promotion_runs_only_where_asked(tenant_a, seeded, clock):
    from salescopilot.analytics.service import AnalyticsService

    async with tenant_scope(tenant_a):
        assert await AnalyticsService(clock).promote_significant_winners() == 0
        await AnalyticsService(clock).set_policy(seeded.campaign, {"auto_promote": True})
    async with tenant_scope(tenant_a):
        # A draft campaign is not running: nothing moves until it is.
        assert await AnalyticsService(clock).promote_significant_winners() == 0


async def test_workspace_team_and_periods(client_a, tenant_a, seeded, no_scheduler):
    await signed_in(client_a, tenant_a)
    data = (await client_a.get("/api/v1/analytics/workspace")).json()["data"]
    assert [(c["name"], c["sent"]) for c in data["byCampaign"]] == [("Spring outreach", 450)]
    assert [(s["name"], s["replied"]) for s in data["bySequence"]] == [("Outreach", 61)]
    tuesday = (await client_a.get("/api/v1/analytics/workspace?from=2026-05-12&to=2026-05-12")).json()["data"]
    assert (tuesday["totals"]["sent"], tuesday["totals"]["bounced"], tuesday["totals"]["replied"]) == (200, 2, 40)
    bad = await client_a.get("/api/v1/analytics/workspace?from=2026-05-13&to=2026-05-12")
    assert bad.status_code == 400
    assert (await client_a.get("/api/v1/analytics/workspace?from=yesterday")).status_code == 400
    team = (await client_a.get("/api/v1/analytics/team")).json()["data"]
    olive = _by(team, "name", "Olive")
    assert (olive["sent"], olive["replied"], olive["meetings"]) == (250, 40, 1)
    assert [(c["name"], c["sent"]) for c in olive["campaigns"]] == [("Spring outreach", 250)]


async def test_tenant_b_never_sees_tenant_a(client_a, client_b, tenant_a, tenant_b, settings, clock, seeded, no_scheduler):
    other = await seed_small(tenant_b, settings, clock, sent=10, replied=5)
    await signed_in(client_b, tenant_b, email="owner@globex.example.com")
    assert (await client_b.get(f"/api/v1/analytics/campaigns/{seeded.campaign}")).status_code == 404
    mine = (await client_b.get(f"/api/v1/analytics/campaigns/{other}")).json()["data"]
    assert (mine["totals"]["sent"], mine["totals"]["replied"]) == (10, 5)
    workspace = (await client_b.get("/api/v1/analytics/workspace")).json()["data"]
    assert workspace["totals"]["sent"] == 10 and [c["name"] for c in workspace["byCampaign"]] == ["Other campaign"]
    team = (await client_b.get("/api/v1/analytics/team")).json()["data"]
    assert sum(owner["sent"] for owner in team) == 10
    headers = {"X-CSRF-Token": await _csrf(client_b)}
    refused = await client_b.post(f"/api/v1/analytics/campaigns/{seeded.campaign}/ab-tests/s1/promote", headers=headers)
    assert refused.status_code == 404


async def test_viewer_reads_but_cannot_promote(client_a, tenant_a, seeded, no_scheduler):
    headers = await signed_in(client_a, tenant_a, email="viewer@acme.example.com", role="viewer")
    assert (await client_a.get("/api/v1/analytics/workspace")).status_code == 200
    refused = await client_a.post(f"/api/v1/analytics/campaigns/{seeded.campaign}/ab-tests/s1/promote", headers=headers)
    assert refused.status_code == 403


async def _csrf(client) -> str:
    from tests.support import session_csrf

    return await session_csrf(client)
