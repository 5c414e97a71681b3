"""The API keys page: a new key is shown once, works, and stops working when revoked."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, sign_in

pytestmark = pytest.mark.browser


def api_status(workspace, key: str) -> int:
    """GET /api/v1/me with the key, straight to the server (the tenant chosen by Host)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{workspace.port}/api/v1/me",
        headers={"Host": f"{workspace.host}:{workspace.port}", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_key_is_shown_once_works_and_can_be_revoked(page, workspace, check):
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
    expect(page.get_by_text("No keys yet.")).to_be_visible()
    check(page, "api keys")

    page.get_by_label("Name").fill("CRM sync")
    page.get_by_label("Role").select_option("member")
    page.get_by_role("button", name="Create key").click()
    shown = page.locator("#new-api-key")
    expect(shown).to_contain_text("sc_")
    key = shown.inner_text().strip()
    row = page.get_by_role("row").filter(has_text="CRM sync")
    expect(row).to_contain_text("member")
    expect(row).to_contain_text("Active")
    check(page, "api keys with a new key")
    assert api_status(workspace, key) == 200

    # Shown once: not on the page again, and not kept in the browser's session storage (htmx
    # would keep a snapshot of the page there when the navigation leaves it).
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Dashboard").click()
    expect_dashboard(page, workspace.base)
    nav.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("row").filter(has_text="CRM sync")).to_be_visible()
    assert key not in page.content()
    assert key not in page.evaluate("() => JSON.stringify(Object.assign({}, sessionStorage, localStorage))")

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Revoke CRM sync").click()
    expect(page.get_by_role("row").filter(has_text="CRM sync")).to_contain_text("Revoked")
    expect(page.get_by_role("button", name="Revoke CRM sync")).to_have_count(0)
    assert asked and "CRM sync" in asked[0], asked
    check(page, "api keys after revoking")
    assert api_status(workspace, key) == 401


def test_a_key_needs_a_name(page, workspace):
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    page.goto(workspace.url("/settings/api-keys"))
    page.get_by_role("button", name="Create key").click()
    # The browser stops the form: the name field is required and says so.
    assert page.get_by_label("Name").evaluate("el => el.validity.valueMissing")
    expect(page.locator("#new-api-key")).to_have_count(0)
