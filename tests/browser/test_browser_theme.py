"""White-label: a tenant's product name and colours restyle every page, and stay accessible."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, sign_in

pytestmark = pytest.mark.browser

TEAL = {"product_name": "Northwind Outreach", "colour_primary": "#0f766e", "colour_text": "#111827"}


def test_a_tenants_brand_restyles_the_pages(page, workspace, check):
    from salescopilot.tenancy.tables import Tenant

    async def rebrand():
        await Tenant.update({Tenant.theme_tokens: json.dumps(TEAL)}).where(Tenant.id == workspace.tenant.id)

    workspace.database.run(rebrand)
    page.goto(workspace.url("/login"))
    expect(page).to_have_title("Sign in · Northwind Outreach")
    expect(page.get_by_role("link", name="Northwind Outreach")).to_be_visible()
    check(page, "branded sign in", navigation=False)

    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    header = page.locator(".app-header")
    assert header.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(15, 118, 110)"
    current = page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard")
    assert current.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(15, 118, 110)"
    check(page, "branded dashboard")
