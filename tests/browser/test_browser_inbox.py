"""The unified inbox in Chromium: the list with its filters, a message with its thread, and the
correction of a classification; a reply's intent read by a (local) model, shown as a badge and
filtered by, and a suggested answer in the message's answer form; each page passes axe at
desktop and phone width."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, open_nav, sign_in, wait_for_htmx

pytestmark = pytest.mark.browser


def seed_inbox(workspace) -> None:
    """A mailbox, a lead with a sent message, and three inbound messages: the lead's reply, an
    out-of-office and a bounce."""

    async def seed() -> None:
        import uuid

        from salescopilot.clock import system_clock
        from salescopilot.inbound.service import InboundService
        from salescopilot.leads.service import LeadService
        from salescopilot.mailboxes.schemas import MailboxInput
        from salescopilot.mailboxes.service import MailboxService
        from salescopilot.outbox.service import NewMessage, OutboxService
        from salescopilot.plugin_system.interfaces import InboundMessage
        from salescopilot.settings import get_settings
        from salescopilot.tenancy.context import tenant_scope
        from tests.integration.inbound import messages as mail

        async with tenant_scope(workspace.tenant):
            address = f"ann@{workspace.slug}-sender.example.com"
            mailbox = (await MailboxService(system_clock).create(MailboxInput(
                email=address, from_name="Ann", provider="smtp",
                account={"address": address, "smtp_host": "smtp.example.com", "password": "never-shown-1"},
            ))).id
            lead = await LeadService(clock=system_clock).create({"email": "lee@customer.example", "first_name": "Lee"})
            sent = await OutboxService(get_settings().outbox, system_clock).enqueue(NewMessage(
                enrollment=uuid.uuid4(), step=0, mailbox=mailbox, lead=lead.id,
                recipient_email="lee@customer.example", subject="Quick question", text="Hello Lee, a quick question.",
            ))
            raws = [mail.out_of_office("lee@customer.example", sent.message_id),
                    mail.reply("lee@customer.example", sent.message_id),
                    mail.bounce("gone@nowhere.example", None)]
            await InboundService(system_clock).store(mailbox, [
                InboundMessage(provider_message_id=f"INBOX:1:{n}", raw=raw, received_at=system_clock.now())
                for n, raw in enumerate(raws, 1)
            ])

    workspace.database.run(seed)


def test_a_seller_reads_the_inbox_and_corrects_a_classification(page, workspace, check):
    seed_inbox(workspace)
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    open_nav(page, "Inbox", "/inbox", workspace.base)
    expect(page.get_by_role("heading", name="Messages (3)")).to_be_visible()
    check(page, "inbox")

    page.get_by_label("Classification").select_option(label="Bounce")
    page.get_by_role("button", name="Filter").click()
    wait_for_htmx(page)
    expect(page.get_by_role("heading", name="Messages (1)")).to_be_visible()
    check(page, "inbox filtered")

    page.goto(workspace.url("/inbox?kind=auto_reply"))
    page.get_by_role("link", name="Automatic reply: Quick question").click()
    wait_for_htmx(page)
    expect(page.get_by_role("heading", name="Thread")).to_be_visible()
    expect(page.get_by_text("Hello Lee, a quick question.")).to_be_hidden()  # not sent yet: not in the thread
    check(page, "inbox message")
    page.get_by_label("Correct the classification").select_option(label="Reply")
    page.get_by_role("button", name="Save").click()
    wait_for_htmx(page)
    expect(page.get_by_text("Classified as reply.")).to_be_visible()
    expect(page.get_by_text("corrected by a person")).to_be_visible()
    check(page, "inbox message corrected")


def model_answer(request):
    """The local model: the intent of a reply, or an answer draft."""
    from tests.ai_server import Reply

    if "classify the intent" in request.text_of("system"):
        return Reply(content=json.dumps({"intent": "meeting_request", "confidence": 0.8, "returnDate": None,
                                         "referral": None, "summary": "Wants to talk on Thursday.",
                                         "suggestedReply": ""}))
    return Reply(content=json.dumps({"body": "Hi Lee,\n\nThursday works for me. Does 10:00 suit you?\n\nBest"}))


def turn_ai_on(workspace, base_url: str) -> None:
    async def configure() -> None:
        from salescopilot.ai.client import ModelClient
        from salescopilot.ai.service import AiService
        from salescopilot.clock import system_clock
        from salescopilot.crypto import SecretBox
        from salescopilot.settings import get_settings
        from salescopilot.tenancy.context import tenant_context

        settings = get_settings()
        service = AiService(clock=system_clock, operator=settings.ai, secret_box=SecretBox.from_settings(settings),
                            client=ModelClient())
        with tenant_context(workspace.tenant):
            await service.update_settings({"baseUrl": base_url, "model": "test-model", "apiKey": "sk-browser"})

    workspace.database.run(configure)


def test_a_seller_reads_a_replys_intent_and_gets_a_suggested_answer(page, workspace, check):
    from tests.browser.test_browser_ai import ThreadedModel

    seed_inbox(workspace)
    model = ThreadedModel(model_answer)
    try:
        turn_ai_on(workspace, model.server.base_url)
        sign_in(page, workspace.url("/login"), workspace.owner_email)
        expect_dashboard(page, workspace.base)
        page.goto(workspace.url("/inbox?kind=reply"))
        page.get_by_role("link", name="Re: Quick question").click()
        expect(page.get_by_text("Intent not read yet.")).to_be_visible()
        page.get_by_role("button", name="Classify the intent").click()
        expect(page.get_by_text("Read as: meeting request.")).to_be_visible()
        expect(page.get_by_text("Intent: Meeting request")).to_be_visible()
        expect(page.get_by_role("button", name="Classify the intent")).to_have_count(0)
        check(page, "inbox message with its intent")

        page.get_by_role("button", name="Suggest an answer").click()
        expect(page.get_by_label("Your answer")).to_have_value(
            "Hi Lee,\n\nThursday works for me. Does 10:00 suit you?\n\nBest")
        expect(page.get_by_text("Suggested by test-model")).to_be_visible()
        check(page, "inbox message with a suggested answer", navigation=False)

        page.goto(workspace.url("/inbox"))
        page.get_by_label("Intent").select_option(label="Meeting request")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_role("heading", name="Messages (1)")).to_be_visible()
        expect(page.get_by_text("Intent: Meeting request")).to_be_visible()
        check(page, "inbox filtered by intent")
    finally:
        model.stop()
