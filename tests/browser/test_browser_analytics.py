"""The analytics pages in Chromium: the workspace overview (charts, team view) and a campaign's
page with its A/B verdict, reached from the navigation; each checked with axe-core and at phone
width."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, sign_in

pytestmark = pytest.mark.browser


def test_a_manager_reads_the_analytics(page, workspace, check):
    async def seed():
        from salescopilot.clock import FakeClock
        from salescopilot.settings import get_settings
        from tests.integration.analytics.conftest import seed_campaign

        await seed_campaign(workspace.tenant, get_settings(), FakeClock(dt.datetime(2026, 5, 20, tzinfo=dt.UTC)))

    workspace.database.run(seed)
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    # The first overview on PostgreSQL reads a cold database: more than the 5 s a boosted
    # navigation is given, so the link is followed with room.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Analytics", exact=True).click()
    expect(page).to_have_url(workspace.base + "/analytics", timeout=30_000)
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
    expect(page.get_by_role("img", name="Reply rate by weekday (lead's local time)")).to_be_visible()
    expect(page.get_by_role("img", name="Reply rate by owner")).to_be_visible()
    check(page, "analytics overview")
    page.get_by_role("link", name="Spring outreach").first.click()
    expect(page.get_by_role("heading", name="Spring outreach analytics")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Recommended winner: variant A")).to_be_visible()
    check(page, "campaign analytics")
