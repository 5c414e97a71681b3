"""The mailboxes and outbox pages in Chromium: they render, pass axe at desktop and phone width,
and their main interactions work (the connect form, the warmup chart, the outbox tabs, the plan)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, open_nav, sign_in

pytestmark = pytest.mark.browser


def seed_sending(workspace) -> dict:
    """A warming-up mailbox (bundled `smtp` provider), a quarantined one, and messages in the
    ledger: a dead letter, a sent one and one due in two hours."""

    async def seed() -> dict:
        from salescopilot.clock import system_clock
        from salescopilot.mailboxes.domains import SendingDomainService
        from salescopilot.mailboxes.schemas import MailboxInput
        from salescopilot.mailboxes.service import MailboxService
        from salescopilot.outbox.repository import OutboxRepository
        from salescopilot.outbox.service import NewMessage, OutboxService
        from salescopilot.settings import get_settings
        from salescopilot.tenancy.context import tenant_scope

        now = system_clock.now()
        async with tenant_scope(workspace.tenant):
            service = MailboxService(system_clock)
            boxes = {}
            for name, warmup in (("ann", {"enabled": True, "started_on": (now.date() - dt.timedelta(days=3)).isoformat()}),
                                 ("bob", {"enabled": False})):
                address = f"{name}@{workspace.slug}-sender.example.com"
                boxes[name] = (await service.create(MailboxInput(
                    email=address, from_name=name.title(), provider="smtp", daily_cap=200,
                    account={"address": address, "smtp_host": "smtp.example.com", "password": "never-shown-1"},
                    warmup=warmup,
                ))).id
            await SendingDomainService(system_clock).add(f"{workspace.slug}-sender.example.com")
            await service.quarantine(await service.get(boxes["bob"]), "bounce rate 12.0% over 7 days is above its threshold of 3.0%", now)
            outbox = OutboxService(get_settings().outbox, system_clock)
            ids = {}
            for state, due in (("failed", now), ("sent", now), ("queued", now + dt.timedelta(hours=2))):
                row = await outbox.enqueue(NewMessage(
                    enrollment=uuid.uuid4(), step=0, recipient_email=f"{state}@customer.example.com",
                    subject=f"Hello {state}", text="Hi", mailbox=boxes["ann"], due_at=due,
                ))
                ids[state] = row.id
            await OutboxRepository().settle(ids["failed"], "queued", {
                "state": "failed", "failure": "max_attempts", "error_status": "4.7.1",
                "last_error": "451 4.7.1 Greylisted, try again later", "attempts": 5})
            await OutboxRepository().settle(ids["sent"], "queued", {"state": "sent", "sent_at": now})
            return {"boxes": boxes, "ids": ids}

    return workspace.database.run(seed)


def test_the_mailbox_pages_render_and_pass_axe(page, workspace, check):
    seeded = seed_sending(workspace)
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    open_nav(page, "Mailboxes", "/mailboxes", workspace.base)
    expect(page.get_by_role("heading", name="Mailboxes", level=1)).to_be_visible()
    ann = page.get_by_role("row").filter(has_text=f"ann@{workspace.slug}-sender.example.com")
    expect(ann).to_contain_text("Active")
    bob = page.get_by_role("row").filter(has_text=f"bob@{workspace.slug}-sender.example.com")
    expect(bob).to_contain_text("Quarantined")
    expect(bob).to_contain_text("bounce rate 12.0%")
    domain = page.get_by_role("row").filter(has_text=f"sc1._domainkey.{workspace.slug}-sender.example.com")
    expect(domain).to_contain_text("v=DKIM1; k=rsa; p=")
    check(page, "mailboxes")

    page.get_by_role("link", name=f"ann@{workspace.slug}-sender.example.com", exact=True).click()
    chart = page.get_by_role("img", name="Warmup daily cap, 45 days")
    expect(chart).to_be_visible()
    page.get_by_text("The curve as a table").click()
    expect(page.get_by_role("cell", name="(today)")).to_be_visible()
    check(page, "mailbox detail")

    page.get_by_role("link", name="Edit settings").click()
    expect(page.locator("input[name='account.password']")).to_have_value("")
    assert "never-shown-1" not in page.content()
    check(page, "mailbox edit form")

    page.goto(workspace.url("/mailboxes"))
    page.get_by_role("button", name=f"Resume bob@{workspace.slug}-sender.example.com").click()
    expect(page.get_by_role("row").filter(has_text=f"bob@{workspace.slug}-sender.example.com")).to_contain_text("Active")
    assert seeded["boxes"]


def test_the_outbox_pages_render_and_pass_axe(page, workspace, check):
    seed_sending(workspace)
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    open_nav(page, "Outbox", "/outbox", workspace.base)
    expect(page.get_by_role("row").filter(has_text="queued@customer.example.com")).to_be_visible()
    check(page, "outbox queued")

    page.get_by_role("navigation", name="Outbox states").get_by_role("link", name="Failed").click()
    failed = page.get_by_role("row").filter(has_text="failed@customer.example.com")
    expect(failed).to_contain_text("Greylisted")
    check(page, "outbox failed")
    page.get_by_role("button", name="Retry the message to failed@customer.example.com").click()
    expect(page.get_by_text("No failed messages.")).to_be_visible()

    page.get_by_role("link", name="Send plan").click()
    expect(page.get_by_role("heading", name="Send plan", level=1)).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="queued@customer.example.com")).to_contain_text(
        f"ann@{workspace.slug}-sender.example.com")
    check(page, "send plan")
