"""The team page: invite by link, join through it, change a role, remove a member."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, sign_in
from tests.support import PASSWORD

pytestmark = pytest.mark.browser


def test_an_invited_colleague_joins_then_gets_a_new_role_and_is_removed(page, new_page, workspace, check):
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    expect(page.get_by_role("heading", name="Team", level=1)).to_be_visible()
    check(page, "team")

    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Create invitation link").click()
    link = page.locator("#invite-link")
    expect(link).to_contain_text(workspace.url("/invite/"))
    expect(page.get_by_role("row").filter(has_text="(anyone with the link)")).to_be_visible()
    # The address stays the page's own, so reloading shows the team (not a POST-only URL).
    expect(page).to_have_url(workspace.url("/team"))
    check(page, "team with a new invitation")
    invite_url = link.inner_text().strip()

    # The colleague opens the link in a browser of their own.
    guest = new_page()
    guest.goto(invite_url)
    expect(guest.get_by_role("heading", level=1)).to_have_text(f"Join {workspace.name}")
    check(guest, "invitation", navigation=False)
    guest.get_by_label("Email").fill(f"newcomer@{workspace.slug}.test")
    guest.get_by_label("Your name").fill("Nia Newcomer")
    guest.get_by_label("Password").fill(PASSWORD)
    guest.get_by_role("button", name=f"Join {workspace.name}").click()
    expect_dashboard(guest, workspace.base)
    expect(guest.get_by_text("as member")).to_be_visible()
    check(guest, "dashboard of a member")

    # The link worked once.
    used = new_page()
    used.goto(invite_url)
    expect(used.get_by_role("alert")).to_be_visible()
    check(used, "used invitation", navigation=False)

    # Back with the owner: the newcomer is listed; make them a viewer.
    page.goto(workspace.url("/team"))
    row = page.get_by_role("row").filter(has_text=f"newcomer@{workspace.slug}.test")
    expect(row).to_contain_text("Nia Newcomer")
    row.get_by_label(f"Role of newcomer@{workspace.slug}.test").select_option("viewer")
    row.get_by_role("button", name="Save").click()
    # The `selected` attribute comes from the server (picking an option only sets the property).
    saved = page.get_by_label(f"Role of newcomer@{workspace.slug}.test").locator("option[selected]")
    expect(saved).to_have_text("viewer")
    guest.reload()
    expect(guest.get_by_text("as viewer")).to_be_visible()

    # Remove them: gone from the list, and their session no longer opens the app.
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name=f"Remove newcomer@{workspace.slug}.test").click()
    expect(page.get_by_role("row").filter(has_text=f"newcomer@{workspace.slug}.test")).to_have_count(0)
    expect(page.get_by_text("1 member", exact=True)).to_be_visible()
    assert asked and f"newcomer@{workspace.slug}.test" in asked[0], asked
    check(page, "team after removing a member")
    guest.goto(workspace.url("/"))
    expect(guest).to_have_url(workspace.url("/login?next=/"))


def test_a_pending_invitation_can_be_revoked(page, new_page, workspace):
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    page.goto(workspace.url("/team"))
    page.get_by_label("Email (optional)").fill(f"later@{workspace.slug}.test")
    page.get_by_role("button", name="Create invitation link").click()
    invite_url = page.locator("#invite-link").inner_text().strip()
    pending = page.get_by_role("row").filter(has_text=f"later@{workspace.slug}.test")
    pending.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("row").filter(has_text=f"later@{workspace.slug}.test")).to_have_count(0)

    guest = new_page()
    guest.goto(invite_url)
    expect(guest.get_by_role("alert")).to_be_visible()
    expect(guest.get_by_label("Password")).to_have_count(0)
