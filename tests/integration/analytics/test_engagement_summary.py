"""Tracking keeps analytics' per-message summary as it writes events: a person's open, an image
proxy's open and an unsubscribe reach the campaign's figures (human and machine apart)."""

from __future__ import annotations

import datetime as dt

from salescopilot.analytics.service import AnalyticsService
from salescopilot.tenancy.context import tenant_scope
from salescopilot.tracking.service import Hit, TrackingService

SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Safari/605.1.15")


async def test_tracked_events_reach_the_report(tenant_a, seeded, clock):
    b = seeded.messages["B"]
    at = dt.datetime(2026, 5, 14, 10, 0, tzinfo=dt.UTC)

    def hit(message, *, ip: str, user_agent: str) -> Hit:
        return Hit(tenant_id=tenant_a.id, tenant_slug=tenant_a.slug, kind="open", message=message, link_index=0,
                   occurred_at=at, ip=ip, user_agent=user_agent, method="GET")

    async with tenant_scope(tenant_a):
        before = (await AnalyticsService(clock).campaign_report(seeded.campaign))["totals"]
        tracking = TrackingService(clock)
        # A person twice on one message (counted once), Gmail's image proxy on another.
        stored = await tracking.record_hits([
            hit(b[100], ip="198.51.100.7", user_agent=SAFARI), hit(b[100], ip="198.51.100.7", user_agent=SAFARI),
            hit(b[101], ip="66.249.84.1", user_agent="Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"),
        ])
        assert stored == 3
        assert await tracking.unsubscribe(b[102], source="page") is True
    async with tenant_scope(tenant_a, write=False):
        after = (await AnalyticsService(clock).campaign_report(seeded.campaign))["totals"]
    assert after["opened"] == before["opened"] + 1
    assert after["machine"]["opened"] == before["machine"]["opened"] + 1
    assert after["unsubscribed"] == before["unsubscribed"] + 1
