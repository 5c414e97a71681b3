"""The single sign-on settings page in a browser: reachable from the navigation, accessible
(axe), and a SCIM token shown once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, sign_in

pytestmark = pytest.mark.browser


def test_an_owner_opens_sso_settings_and_makes_a_scim_token(page, workspace, check):
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Single sign-on").click()
    expect(page.get_by_role("heading", name="Single sign-on (SAML 2.0) and SCIM", level=1)).to_be_visible()
    expect(page.get_by_text(workspace.url("/sso/saml/acs"))).to_be_visible()
    check(page, "sso settings")

    page.get_by_label("IdP entity ID (Issuer)").fill("https://idp.example/metadata")
    page.get_by_label("IdP sign-in URL (HTTP-Redirect)").fill("ftp://idp.example/sso")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("URL")
    check(page, "sso settings with an error")

    page.get_by_role("button", name="New SCIM token").click()
    token = page.locator("#new-scim-token")
    expect(token).to_contain_text("scim_")
    expect(page).to_have_url(workspace.url("/settings/sso"))
    check(page, "sso settings with a new scim token")
