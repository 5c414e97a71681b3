"""The AI panel in the email editors: in the template editor, offline checks without a provider
(and a link to the settings), then the settings page pointing the workspace at a local
OpenAI-compatible server; in the composer, a draft streamed into the rich-text editor, an
improvement accepted after its diff, and the draft saved with its provenance; and without a model,
the clear message on the AI buttons while spelling and grammar still work."""

from __future__ import annotations

import asyncio
import json
import re
import threading

import pytest
from playwright.sync_api import expect

from tests.ai_server import FakeOpenAI, Reply
from tests.browser.flows import expect_dashboard, sign_in, wait_for_htmx

pytestmark = pytest.mark.browser


class ThreadedModel:
    """The local OpenAI-compatible server on an event loop of its own thread (the browser tests
    are synchronous)."""

    def __init__(self, default) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = FakeOpenAI(default=default)
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        asyncio.run_coroutine_threadsafe(self._end_connections(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    @staticmethod
    async def _end_connections() -> None:
        """End the connections the app keeps alive: left pending, their tasks would be destroyed
        by the garbage collector later, in whatever code runs then (and CPython 3.11's parser
        fails if that happens inside `ast.parse`)."""
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def answer(request) -> Reply:
    if request.body.get("stream"):
        return Reply(kind="stream", chunks=["Subject: Faster customs\n\n", "Hi {{firstName}},\n\n",
                                            "we clear customs in hours.\n\nBest"])
    return Reply(content=json.dumps({"body": "Dear {{firstName}}, we clear customs in hours."}))


@pytest.fixture
def model():
    server = ThreadedModel(answer)
    yield server.server
    server.stop()


def test_the_ai_panel_checks_offline_and_the_settings_turn_ai_on(page, workspace, check, model):
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    page.goto(workspace.url("/templates/new"))
    panel = page.get_by_role("region", name="AI assistant")
    expect(panel).to_contain_text("AI writing needs a model provider")
    expect(panel.get_by_role("link", name="Set one up in AI settings")).to_be_visible()
    wait_for_htmx(page)
    page.get_by_label("Text body").fill("Hi {{firstName}}, i could of sent this. Click here for a FREE GIFT!!!")
    panel.get_by_role("button", name="Check").click()
    expect(page.locator("#ai-result")).to_contain_text("Spam score")
    panel.get_by_role("button", name="Spelling and grammar").click()
    expect(page.locator("#ai-result")).to_contain_text("could of")
    check(page, "template editor with the AI panel", navigation=False)

    page.goto(workspace.url("/settings/ai"))
    page.get_by_label("Base URL (OpenAI, Azure OpenAI, or any OpenAI-compatible server)").fill(model.base_url)
    page.get_by_label("Model", exact=True).fill("test-model")
    page.get_by_label("API key").fill("sk-browser")
    page.get_by_role("button", name="Save AI settings").click()
    expect(page.get_by_role("status")).to_contain_text("AI settings saved.")
    expect(page.get_by_text("AI is on: test-model")).to_be_visible()
    check(page, "AI settings", navigation=False)


def seed_lead(workspace) -> None:
    async def run() -> None:
        from salescopilot.clock import system_clock
        from salescopilot.leads.service import LeadService
        from salescopilot.tenancy.context import tenant_scope

        async with tenant_scope(workspace.tenant):
            await LeadService(clock=system_clock).create(
                {"email": "lena@northwind.example.com", "first_name": "Lena", "company": "Northwind"})

    workspace.database.run(run)


def turn_ai_on(page, workspace, model) -> None:
    page.goto(workspace.url("/settings/ai"))
    page.get_by_label("Base URL (OpenAI, Azure OpenAI, or any OpenAI-compatible server)").fill(model.base_url)
    page.get_by_label("Model", exact=True).fill("test-model")
    page.get_by_label("API key").fill("sk-browser")
    page.get_by_role("button", name="Save AI settings").click()
    expect(page.get_by_role("status")).to_contain_text("AI settings saved.")


def open_composer(page, workspace) -> None:
    page.goto(workspace.url("/composer/new"))
    wait_for_htmx(page)
    page.wait_for_function("() => window.Trix !== undefined && document.querySelector('trix-editor').editor")


def test_the_composer_streams_a_draft_and_takes_an_improvement_after_its_diff(page, workspace, check, model):
    seed_lead(workspace)
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    turn_ai_on(page, workspace, model)
    open_composer(page, workspace)
    panel = page.get_by_role("region", name="AI assistant")
    expect(panel).to_contain_text("Writes with test-model")
    page.get_by_label("To", exact=True).select_option(label="lena@northwind.example.com · Lena (Northwind)")
    panel.get_by_label("Brief").fill("Customs clearance for importers")
    panel.get_by_label("Tone").select_option("direct")
    panel.get_by_label("Length").select_option("short")
    panel.get_by_role("button", name="Write a draft").click()
    body = page.locator("trix-editor#c-body")
    expect(body).to_contain_text("we clear customs in hours.")
    expect(body).not_to_contain_text("Subject:")
    expect(page.get_by_label("Subject")).to_have_value("Faster customs")
    expect(page.locator("#ai-result")).to_contain_text("Draft written by test-model")
    streamed = [r for r in model.received if r.body.get("stream")]
    assert streamed and "Customs clearance for importers" in streamed[-1].text_of("user")
    assert "Northwind" in streamed[-1].text_of("user")

    panel.get_by_label("Improve for").select_option("persuasion")
    panel.get_by_role("button", name="Improve").click()
    diff = page.locator("#ai-result .ai-diff")
    expect(diff.locator("ins").first).to_be_visible()
    expect(diff.locator("del").first).to_be_visible()
    expect(body).not_to_contain_text("Dear")  # nothing changes before it is used
    check(page, "composer with an AI suggestion", navigation=False)
    page.get_by_role("button", name="Use this text").click()
    expect(body).to_contain_text("Dear {{firstName}}, we clear customs in hours.")
    expect(page.locator("#c-html")).to_have_value(re.compile(r"Dear \{\{firstName\}\}"))

    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status").first).to_contain_text("Draft saved.")
    expect(page.locator("#c-ai-provenance")).to_contain_text("Written with AI: test-model, prompt improve")
    expect(page.locator("trix-editor#c-body")).to_contain_text("Dear {{firstName}}, we clear customs in hours.")


def test_without_a_model_the_composer_says_so_and_spelling_still_works(page, workspace, check):
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    open_composer(page, workspace)
    panel = page.get_by_role("region", name="AI assistant")
    expect(panel).to_contain_text("AI writing needs a model provider")
    expect(panel.get_by_role("link", name="Set one up in AI settings")).to_have_attribute("href", "/settings/ai")
    page.locator("trix-editor#c-body").click()
    page.keyboard.type("Hi there, i could of written sooner. Would a call next week help?")
    panel.get_by_role("button", name="Improve").click()
    result = page.locator("#ai-result")
    expect(result.get_by_role("alert")).to_contain_text("This needs an AI model")
    expect(result.get_by_role("link", name="Set one up in AI settings")).to_be_visible()
    panel.get_by_role("button", name="Spelling and grammar").click()
    expect(result).to_contain_text("could of")
    panel.get_by_role("button", name="Coach me").click()
    expect(result).to_contain_text("Call to action")
    check(page, "composer without a model", navigation=False)
    panel.get_by_role("link", name="Set one up in AI settings").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("AI")
