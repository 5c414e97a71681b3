"""Signing in and out, and the app's navigation, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, open_nav, sign_in
from tests.browser.quality import PHONE

pytestmark = pytest.mark.browser


def test_a_wrong_password_shows_the_error_and_the_right_one_opens_the_dashboard(page, workspace, check):
    page.goto(workspace.url("/login"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sign in to {workspace.name}")
    check(page, "sign in", navigation=False)

    sign_in(page, workspace.url("/login"), workspace.owner_email, "not-the-password-1")
    expect(page.get_by_role("alert")).to_contain_text("not right")
    expect(page.get_by_label("Email")).to_have_value(workspace.owner_email)
    check(page, "sign in failed", navigation=False)

    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    expect_dashboard(page, workspace.base)
    check(page, "dashboard")


def test_signing_out_ends_the_session(page, workspace):
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(workspace.url("/login"))
    page.goto(workspace.url("/team"))
    expect(page).to_have_url(workspace.url("/login?next=/team"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_a_page_asked_for_before_signing_in_opens_after_it(page, workspace):
    page.goto(workspace.url("/settings/api-keys"))
    expect(page).to_have_url(workspace.url("/login?next=/settings/api-keys"))
    page.get_by_label("Email").fill(workspace.owner_email)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(workspace.url("/settings/api-keys"))


def test_every_section_is_reachable_from_the_navigation_on_a_phone(page, workspace):
    page.set_viewport_size(PHONE)
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    for name, path in [("Team", "/team"), ("API keys", "/settings/api-keys"), ("Audit log", "/audit"),
                       ("Security", "/account/security"), ("Dashboard", "/")]:
        open_nav(page, name, path, workspace.base)
        current = page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)
        expect(current).to_have_attribute("aria-current", "page")


def test_a_member_of_two_workspaces_switches_between_them(page, workspace, check):
    from tests.conftest import make_tenant
    from tests.support import add_member

    other_slug = workspace.slug + "b"
    other = workspace.database.run(lambda: make_tenant(other_slug, "Globex Inc"))
    workspace.database.run(lambda: add_member(other, workspace.owner_email, "member"))

    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    page.get_by_role("link", name=f"Workspace: {workspace.name}").click()
    expect(page.get_by_role("heading", name="Your workspaces")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="Current")).to_contain_text(workspace.name)
    check(page, "workspace switcher")

    page.get_by_role("button", name="Open Globex Inc").click()
    other_base = f"http://{other_slug}.localhost:{workspace.port}"
    expect_dashboard(page, other_base)
    expect(page.get_by_text("signed in to Globex Inc as member")).to_be_visible()


def test_an_unknown_address_gets_a_page_that_leads_back(page, workspace, check):
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    response = page.goto(workspace.url("/no-such-page"))
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    # Litestar answers an unmatched route before the request pipeline runs, so this page knows
    # neither the tenant nor the session: no navigation to check.
    check(page, "not found", navigation=False)
    page.get_by_role("link", name="Back to the dashboard").click()
    expect_dashboard(page, workspace.base)
