"""The sequence builder and a campaign launch in Chromium: steps dragged into order (SortableJS)
and moved with the keyboard-reachable buttons, the sequence saved, a campaign created with the
wizard, dry-run, launched; every page checked with axe-core and at phone width."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, open_nav, sign_in, wait_for_htmx

pytestmark = pytest.mark.browser


def seed(workspace) -> None:
    async def run() -> None:
        from salescopilot.clock import system_clock
        from salescopilot.leads.service import LeadService
        from salescopilot.mailboxes.schemas import MailboxInput
        from salescopilot.mailboxes.service import MailboxService, PoolService
        from salescopilot.tenancy.context import tenant_scope

        async with tenant_scope(workspace.tenant):
            mailbox = await MailboxService(system_clock).create(MailboxInput(
                email=f"ann@{workspace.slug}-sender.example.com", provider="smtp",
                account={"address": f"ann@{workspace.slug}-sender.example.com", "smtp_host": "smtp.example.com",
                         "password": "never-shown-1"}))
            await PoolService(system_clock).create("Main pool", [mailbox.id])
            leads = LeadService(clock=system_clock)
            lead = await leads.create({"email": "lena@customer.example.com", "first_name": "Lena",
                                       "country": "DE"})
            spring = await leads.create_list("Spring prospects")
            await leads.bulk("add_to_list", [lead.id], str(spring.id))

    workspace.database.run(run)


def drag(page, handle, target) -> None:
    """Press on `handle`, move in small steps onto the top part of `target`, release: what a
    person's mouse does (SortableJS follows pointer moves)."""
    handle.scroll_into_view_if_needed()
    start = handle.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    box = target.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 10, steps=25)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 5, steps=5)
    page.mouse.up()


def step_names(page) -> list[str]:
    return page.locator("[data-step-number]").all_inner_texts()


def test_a_seller_builds_a_sequence_and_launches_a_campaign(page, workspace, check):
    seed(workspace)
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    open_nav(page, "Sequences", "/sequences", workspace.base)
    check(page, "sequences")
    page.get_by_role("link", name="New sequence").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New sequence")
    wait_for_htmx(page)
    page.get_by_label("Name", exact=True).first.fill("Spring outreach")
    for index, (subject, text) in enumerate([("Hello {{firstName|there}}", "Intro body"),
                                             ("Following up", "Second body"), ("Last note", "Third body")]):
        page.locator(f"#s{index}-subject").fill(subject)
        page.locator(f"#s{index}-text").fill(text)
        page.locator(f"#s{index}-name").fill(f"Touch {index + 1}")
    check(page, "sequence builder")

    # Drag the third step above the second; the numbers follow the new order.
    drag(page, page.locator("[data-step]").nth(2).locator(".drag-handle"), page.locator("[data-step]").nth(1))
    expect(page.locator("#s2-name")).to_be_visible()
    order = [page.locator("[data-step]").nth(i).locator("input[name=step_name]").input_value() for i in range(3)]
    assert order == ["Touch 1", "Touch 3", "Touch 2"], order
    assert step_names(page) == ["Step 1", "Step 2", "Step 3"]
    # The buttons move steps too (and work without JavaScript by submitting the form).
    page.get_by_role("button", name="Move up step 3").click()
    order = [page.locator("[data-step]").nth(i).locator("input[name=step_name]").input_value() for i in range(3)]
    assert order == ["Touch 1", "Touch 2", "Touch 3"], order
    page.get_by_role("button", name="Create sequence").click()
    expect(page.get_by_text("Sequence created.")).to_be_visible()
    expect(page.locator("#s1-name")).to_have_value("Touch 2")
    check(page, "sequence saved")

    open_nav(page, "Campaigns", "/campaigns", workspace.base)
    check(page, "campaigns (empty)")
    page.get_by_role("link", name="New campaign").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New campaign")
    wait_for_htmx(page)
    page.get_by_label("Name", exact=True).fill("Spring campaign")
    page.get_by_label("Sequence", exact=True).select_option(label="Spring outreach (v1)")
    page.locator("#c-list").select_option(label="Spring prospects (1)")
    page.get_by_label("Mailbox pool").select_option(label="Main pool (1 mailboxes)")
    page.get_by_label("Sender name").fill("Ann Example")
    check(page, "campaign wizard")
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_text("Draft created with 1 lead(s).")).to_be_visible()
    expect(page.get_by_role("link", name="lena@customer.example.com")).to_be_visible()
    check(page, "campaign draft")

    page.get_by_role("link", name="Dry run").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dry run")
    expect(page.get_by_role("cell", name="Hello Lena")).to_be_visible()
    check(page, "dry run")
    page.go_back()
    wait_for_htmx(page)
    page.get_by_role("button", name="Launch").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("active")
    page.get_by_role("link", name="lena@customer.example.com").click()
    expect(page.get_by_role("heading", name="Steps")).to_be_visible()
    check(page, "lead timeline")
