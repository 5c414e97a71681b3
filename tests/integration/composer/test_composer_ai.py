"""The AI actions in the composer (the `composer/ai_actions.html` slot, the `/ai/panel/...` htmx
actions on the rich-text body) and the provenance of AI-written drafts: a draft saved with a used
suggestion points at its AI draft (model, prompt version, tokens), keeps it across later saves,
and refuses an id that is not one of the workspace's AI drafts."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.ai_server import FakeOpenAI, Reply
from tests.integration.web.web_support import assert_error, make_caller
from tests.support import csrf_from, form_post

HX = {"HX-Request": "true"}
BODY_HTML = "<div>Hi {{firstName}},<br><br>i could of sent this sooner. Would a call help?</div>"


@pytest.fixture
async def openai_server():
    async with FakeOpenAI() as server:
        yield server


async def _configure(desk, server) -> None:
    response = await desk.client.put("/api/v1/ai/settings", json={
        "baseUrl": server.base_url, "model": "test-model", "apiKey": "sk-acme-private",
    }, headers=desk.owner.headers)
    assert response.status_code == 200, response.text


def _draft_id(fragment: str) -> str:
    found = set(re.findall(r'data-ai-draft="([0-9a-f-]{36})"', fragment))
    assert len(found) == 1, fragment
    return found.pop()


async def test_without_a_model_the_composer_says_so_and_the_offline_checks_work(desk):
    client = desk.client
    client.headers.update(desk.owner.headers)
    ana = await desk.lead(email="ana@northwind.example.com", firstName="Ana", company="Northwind")
    page = await client.get("/composer/new")
    assert page.status_code == 200
    panel = page.text[page.text.index("data-ai-panel"):page.text.index("</section>", page.text.index("data-ai-panel"))]
    # Inside the composer's form (its buttons post it), with no form of its own.
    start = page.text.index('id="composer-form"')
    assert start < page.text.index("data-ai-panel") < page.text.index("</form>", start)
    assert "<form" not in panel
    assert "AI writing needs a model provider" in panel and 'href="/settings/ai"' in panel
    assert 'name="ai_body_field" value="html"' in panel and "data-ai-stream" not in panel
    token = csrf_from(page.text)
    fields = {"_csrf_token": token, "ai_subject_field": "subject", "ai_body_field": "html",
              "subject": "Quick question", "html": BODY_HTML, "text": "", "leads": [ana]}
    for action in ("generate", "improve", "tone", "subjects", "icebreaker"):
        refused = await client.post(f"/ai/panel/{action}", data={**fields, "ai_brief": "b"}, headers=HX)
        assert refused.status_code == 200 and 'role="alert"' in refused.text, action
        assert "none is set up for this workspace" in refused.text and 'href="/settings/ai"' in refused.text
    grammar = await client.post("/ai/panel/grammar", data=fields, headers=HX)
    assert grammar.status_code == 200 and "could of" in grammar.text and "could have" in grammar.text
    coached = await client.post("/ai/panel/coach", data={**fields, "ai_use_model": "off"}, headers=HX)
    assert coached.status_code == 200 and "Call to action" in coached.text
    checked = await client.post("/ai/panel/check", data=fields, headers=HX)
    assert "Spam score" in checked.text and "Length:" in checked.text
    # An empty rich-text body falls back to the plain-text version; both empty: asked for text.
    plain = await client.post("/ai/panel/grammar", data={**fields, "html": "", "text": "I could of"}, headers=HX)
    assert "could of" in plain.text
    empty = await client.post("/ai/panel/grammar", data={**fields, "html": "<div><br></div>"}, headers=HX)
    assert "Write some text first." in empty.text


async def test_an_improvement_used_in_the_composer_is_saved_with_its_provenance(desk, openai_server, app, tenant_b, client_b):
    client = desk.client
    client.headers.update(desk.owner.headers)
    await _configure(desk, openai_server)
    ana = await desk.lead(email="ana@northwind.example.com", firstName="Ana", company="Northwind",
                          customFields={"industry": "logistics"})
    page = await client.get("/composer/new")
    assert "Writes with test-model" in page.text and 'data-ai-stream="/api/v1/ai/generate/stream"' in page.text
    assert 'name="ai_draft_id"' in page.text and "ana@northwind.example.com" in page.text
    token = csrf_from(page.text)
    fields = {"_csrf_token": token, "ai_subject_field": "subject", "ai_body_field": "html",
              "subject": "Quick question", "html": BODY_HTML, "leads": [ana], "ai_goal": "brevity"}

    openai_server.script(Reply(content=json.dumps({
        "subject": "", "body": "Hi {{firstName}}, could a quick call help this week?", "changes": ["Shorter"]}),
        prompt_tokens=61, completion_tokens=19))
    improved = await client.post("/ai/panel/improve", data=fields, headers=HX)
    assert improved.status_code == 200, improved.text
    sent_prompt = openai_server.received[-1].text_of("user")
    # The model saw the rich-text body as text (no markup) and the chosen goal.
    assert "i could of sent this sooner" in sent_prompt and "<div>" not in sent_prompt and "brevity" in json.dumps(openai_server.received[-1].body)
    assert "<del>" in improved.text and "<ins>" in improved.text and "Use this text" in improved.text, improved.text
    assert 'data-ai-field="html"' in improved.text
    ai_draft = _draft_id(improved.text)

    # The icebreaker is written for the first recipient when no lead is chosen in the panel.
    openai_server.script(Reply(content=json.dumps({"icebreaker": "Congrats on the new depot.", "painPoints": ["Customs delays"]})))
    ice = await client.post("/ai/panel/icebreaker", data=fields, headers=HX)
    assert "Add it to the start of the email" in ice.text and "Customs delays" in ice.text
    assert "Northwind" in openai_server.received[-1].text_of("user")

    saved = await form_post(client, "/composer/new", "/composer", {
        "leads": [ana], "sender": f"mailbox:{desk.mailbox}", "subject": "Quick question",
        "html": "<div>Hi {{firstName}}, could a quick call help this week?</div>", "ai_draft_id": ai_draft, "action": "save"})
    assert saved.status_code in (302, 303), saved.text
    url = saved.headers["location"].split("?")[0]
    draft_id = url.rsplit("/", 1)[1]
    stored = (await client.get(f"/api/v1/composer/drafts/{draft_id}")).json()["data"]
    assert stored["aiDraftId"] == ai_draft
    editor = (await client.get(url)).text
    assert "Written with AI: test-model, prompt improve.v1+rules.v1, 80 tokens." in editor
    assert 'name="ai_draft_id" id="ai-draft-id" value=""' in editor

    # A later save by hand keeps the record; the audit trail names the AI draft.
    again = await form_post(client, url, url, {"leads": [ana], "subject": "Quick question, Ana",
                                               "html": "<div>Edited by hand.</div>", "action": "save"})
    assert again.status_code in (302, 303), again.text
    assert (await client.get(f"/api/v1/composer/drafts/{draft_id}")).json()["data"]["aiDraftId"] == ai_draft

    # Hostile ids: unknown, or another workspace's AI draft, are refused and change nothing.
    refused = await form_post(client, url, url, {"subject": "x", "html": "<div>x</div>",
                                                 "ai_draft_id": str(uuid.uuid4()), "action": "save"})
    assert refused.status_code == 422 and "does not exist" in refused.text
    garbage = await form_post(client, url, url, {"subject": "y", "html": "<div>y</div>",
                                                 "ai_draft_id": "' or 1=1 --", "action": "save"})
    assert garbage.status_code in (302, 303)
    other = await make_caller(app, tenant_b, "gil@globex.test", "owner")
    configured = await client_b.put("/api/v1/ai/settings", json={
        "baseUrl": openai_server.base_url, "model": "test-model", "apiKey": "sk-globex"}, headers=other.headers)
    assert configured.status_code == 200
    openai_server.script(Reply(content=json.dumps({"subject": "S", "body": "Globex body"})))
    theirs = (await client_b.post("/api/v1/ai/generate", json={"brief": "b"}, headers=other.headers)).json()["data"]
    crossed = await client.post("/api/v1/composer/drafts", json={"subject": "s", "aiDraftId": theirs["provenance"]["draftId"]})
    assert_error(crossed, 422, "COMPOSER_AI_DRAFT_NOT_FOUND")
    assert (await client.get(f"/api/v1/composer/drafts/{draft_id}")).json()["data"]["aiDraftId"] == ai_draft

    # Sent, the email still says which model wrote it.
    sent = await form_post(client, url, url, {"leads": [ana], "sender": f"mailbox:{desk.mailbox}", "subject": "Hi {{firstName}}",
                                              "html": "<div>Hi {{firstName}}, could a quick call help?</div>", "action": "send"})
    assert sent.status_code in (302, 303), sent.text
    shown = (await client.get(sent.headers["location"])).text
    assert "Queued for 1 lead" in shown and "Written with AI: test-model, prompt improve.v1+rules.v1, 80 tokens." in shown


async def test_a_generated_draft_saved_through_the_api_keeps_its_provenance(desk, openai_server):
    client = desk.client
    await _configure(desk, openai_server)
    openai_server.script(Reply(kind="stream", chunks=["Subject: Faster customs\n\n", "Hi {{firstName}},", " bye."]))
    async with client.stream("POST", "/api/v1/ai/generate/stream", json={"brief": "customs", "length": "short"},
                             headers=desk.owner.headers) as response:
        body = "".join([chunk async for chunk in response.aiter_text()])
    done = json.loads(body.split("event: done", 1)[1].split("data: ", 1)[1].split("\n", 1)[0])
    created = await client.post("/api/v1/composer/drafts", json={
        "subject": done["subject"], "text": done["body"], "aiDraftId": done["provenance"]["draftId"]},
        headers=desk.owner.headers)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["aiDraftId"] == done["provenance"]["draftId"]
    drafts = (await client.get("/api/v1/ai/drafts", headers=desk.owner.headers)).json()["data"]
    assert drafts[0]["id"] == done["provenance"]["draftId"] and drafts[0]["model"] == "test-model"
    assert drafts[0]["promptVersion"].startswith("generate_stream")
