"""The composer in Chromium: write an email in the rich-text editor with a variable, preview it
for a lead on a phone, check its spam score, send it; it arrives once in the SMTP sink. Every
page passes axe at desktop and phone width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, open_nav, sign_in, wait_for_htmx
from tests.mailservers import SmtpSink

pytestmark = pytest.mark.browser


def seed(workspace, sink: SmtpSink) -> None:
    """A mailbox sending to `sink` and two leads."""

    async def run() -> None:
        from salescopilot.clock import system_clock
        from salescopilot.leads.service import LeadService
        from salescopilot.mailboxes.schemas import MailboxInput
        from salescopilot.mailboxes.service import MailboxService
        from salescopilot.tenancy.context import tenant_scope

        async with tenant_scope(workspace.tenant):
            address = f"sam@{workspace.slug}-sender.example.com"
            await MailboxService(system_clock).create(MailboxInput(
                email=address, from_name="Sam Carter", provider="smtp", min_gap_seconds=0, jitter_seconds=0,
                account={"address": address, "smtp_host": sink.host, "smtp_port": sink.port,
                         "smtp_security": "none", "auth_method": "none", "append_to_sent": "never"},
            ))
            leads = LeadService(clock=system_clock)
            await leads.create({"email": "lena@northwind.example.com", "first_name": "Lena", "company": "Northwind"})
            await leads.create({"email": "omar@contoso.example.com", "first_name": "Omar", "company": "Contoso"})

    workspace.database.run(run)


def test_a_seller_composes_previews_on_a_phone_and_sends(page, workspace, check):
    with SmtpSink() as sink:
        seed(workspace, sink)
        sign_in(page, workspace.url("/login"), workspace.owner_email)
        expect_dashboard(page, workspace.base)
        open_nav(page, "Composer", "/composer", workspace.base)
        check(page, "composer (empty)")

        page.get_by_role("link", name="New email").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("New email")
        wait_for_htmx(page)
        page.wait_for_function("() => window.Trix !== undefined && document.querySelector('trix-editor').editor")
        page.get_by_label("To", exact=True).select_option(label="lena@northwind.example.com · Lena (Northwind)")
        page.get_by_label("From").select_option(label=f"Sam Carter <sam@{workspace.slug}-sender.example.com>")
        page.get_by_label("Subject").fill("Quick question, ")
        page.get_by_role("button", name="firstName with fallback").click()
        expect(page.get_by_label("Subject")).to_have_value("Quick question, {{firstName|there}}")
        body = page.locator("trix-editor#c-body")
        body.click()
        page.keyboard.type("Hi ")
        page.get_by_role("button", name="firstName", exact=True).click()
        page.keyboard.type(", how does ")
        bold = page.get_by_role("button", name="Bold")
        bold.click()
        page.keyboard.type("Northwind")
        bold.click()
        page.keyboard.type(" plan its follow-ups?")
        expect(page.locator("#c-html")).to_have_value(re.compile(r"<strong>Northwind</strong>"))
        check(page, "composer editor")

        page.get_by_label("For lead").select_option(label="lena@northwind.example.com · Northwind")
        mobile = page.frame_locator("iframe[title='Mobile preview']")
        expect(mobile.get_by_text("Hi Lena, how does Northwind plan its follow-ups?")).to_be_visible()
        expect(page.get_by_text("Subject: Quick question, Lena")).to_be_visible()
        expect(page.get_by_text("Every variable has a value.")).to_be_visible()
        page.set_viewport_size({"width": 390, "height": 844})
        expect(mobile.get_by_text("Northwind")).to_be_visible()
        page.set_viewport_size({"width": 1280, "height": 900})

        page.get_by_role("button", name="Check the spam score").click()
        expect(page.locator("#spam-score")).to_contain_text(re.compile(r"Spam score: \d|not available"), timeout=60_000)
        check(page, "composer with preview and spam score")

        page.get_by_role("button", name="Send now").click()
        expect(page.get_by_text(re.compile(r"Queued for 1 lead"))).to_be_visible()
        [delivered] = sink.wait_for(1, timeout=60)
        assert delivered.rcpt_tos == ("lena@northwind.example.com",)
        assert b"Subject: Quick question, Lena" in delivered.data
        assert b"<strong>Northwind</strong>" in delivered.data.replace(b"=\r\n", b"")
        check(page, "composer sent")

        page.reload()
        expect(page.get_by_role("cell", name="sent", exact=True)).to_be_visible(timeout=30_000)
        open_nav(page, "Composer", "/composer", workspace.base)
        page.get_by_role("link", name="Sent").click()
        expect(page.get_by_role("link", name="Quick question, {{firstName|there}}")).to_be_visible()
        check(page, "composer sent list")
        assert len(sink.transactions) == 1
