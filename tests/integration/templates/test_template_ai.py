"""Provenance of AI-written templates: the template editor carries the AI panel, and a version
saved from a used suggestion records its AI draft (model, prompt version, tokens) on the page and
in the API; later versions keep it until another suggestion is used, a restore brings back the
restored version's, and an id that is not one of the workspace's AI drafts is refused."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.ai_server import FakeOpenAI, Reply
from tests.integration.web.web_support import assert_error, make_caller
from tests.support import add_member, csrf_from, form_post, sign_in

HX = {"HX-Request": "true"}
CONTENT = {"name": "Intro", "category": "Cold outreach", "subject": "Quick question",
           "html": "<div>Hi {{firstName}},<br><br>i could of sent this sooner. Would a call help?</div>", "text": ""}


@pytest.fixture
async def openai_server():
    async with FakeOpenAI() as server:
        yield server


async def _configure(client, headers, server) -> None:
    response = await client.put("/api/v1/ai/settings", json={
        "baseUrl": server.base_url, "model": "test-model", "apiKey": "sk-private"}, headers=headers)
    assert response.status_code == 200, response.text


async def _generated(client, headers, server, *, prompt_tokens=10, completion_tokens=5) -> str:
    server.script(Reply(content=json.dumps({"subject": "Customs", "body": "Hi {{firstName}}, faster customs?"}),
                        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens))
    answer = await client.post("/api/v1/ai/generate", json={"brief": "customs"}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["provenance"]["draftId"]


async def _audit(client, headers, action: str, template_id: str) -> list[dict]:
    entries = (await client.get(f"/api/v1/audit?action={action}&target_id={template_id}", headers=headers)).json()["data"]
    return [e for e in entries if e["target_id"] == template_id]


async def test_a_template_saved_from_an_ai_suggestion_records_it_per_version(client_a, tenant_a, owner, openai_server):
    client = client_a
    await _configure(client, owner.headers, openai_server)
    await add_member(tenant_a, "tina@acme.test", "owner")
    await sign_in(client, "tina@acme.test")
    page = await client.get("/templates/new")
    assert "Writes with test-model" in page.text and 'name="ai_draft_id"' in page.text
    assert "Written with AI" not in page.text

    # The panel's improvement, used in the template editor, names its AI draft.
    openai_server.script(Reply(content=json.dumps({
        "subject": "", "body": "Hi {{firstName}}, could a quick call help this week?", "changes": ["Shorter"]}),
        prompt_tokens=61, completion_tokens=19))
    improved = await client.post("/ai/panel/improve", headers=HX, data={
        **CONTENT, "_csrf_token": csrf_from(page.text), "ai_subject_field": "subject", "ai_body_field": "html",
        "ai_goal": "brevity"})
    assert improved.status_code == 200 and "Use this text" in improved.text, improved.text
    first = set(re.findall(r'data-ai-draft="([0-9a-f-]{36})"', improved.text))
    assert len(first) == 1
    first_ai = first.pop()

    created = await form_post(client, "/templates/new", "/templates", {
        **CONTENT, "html": "<div>Hi {{firstName}}, could a quick call help this week?</div>", "ai_draft_id": first_ai})
    assert created.status_code in (302, 303), created.text
    url = created.headers["location"].split("?")[0]
    template_id = url.rsplit("/", 1)[1]
    api = f"/api/v1/templates/{template_id}"
    assert (await client.get(api, headers=owner.headers)).json()["data"]["aiDraftId"] == first_ai
    editor = (await client.get(url)).text
    assert "Written with AI: test-model, prompt improve.v1+rules.v1, 80 tokens." in editor
    # The hidden field starts empty: only a newly used suggestion changes the record.
    assert 'name="ai_draft_id" id="ai-draft-id" value=""' in editor
    created_audit = await _audit(client, owner.headers, "template.created", template_id)
    assert created_audit and created_audit[0]["after"]["aiDraft"] == first_ai

    # Edited by hand: version 2 keeps the AI draft its content came from.
    by_hand = await form_post(client, url, url, {**CONTENT, "html": "<div>Hi {{firstName}}, edited by hand.</div>"})
    assert by_hand.status_code in (302, 303), by_hand.text
    # Another suggestion used: version 3 records it, through the API.
    second_ai = await _generated(client, owner.headers, openai_server, prompt_tokens=30, completion_tokens=12)
    third = await client.put(api, json={**CONTENT, "html": "<div>Hi {{firstName}}, faster customs?</div>",
                                         "aiDraftId": second_ai}, headers=owner.headers)
    assert third.status_code == 200, third.text
    assert third.json()["data"]["version"] == 3 and third.json()["data"]["aiDraftId"] == second_ai
    saved_audit = await _audit(client, owner.headers, "template.saved", template_id)
    assert [e["after"].get("aiDraft") for e in saved_audit] == [second_ai, None]

    versions = (await client.get(f"{api}/versions", headers=owner.headers)).json()["data"]
    assert [(v["version"], v["aiDraftId"]) for v in versions] == [(3, second_ai), (2, first_ai), (1, first_ai)]
    editor = (await client.get(url)).text
    assert "Written with AI: test-model, prompt generate" in editor and ", 42 tokens." in editor
    assert editor.count("written with AI: test-model, prompt improve.v1+rules.v1, 80 tokens") == 2

    # Restoring version 1 brings back its content and its AI draft; a page save in between
    # with a hand-written version restores none.
    restored = await client.post(f"{api}/versions/1/restore", headers=owner.headers)
    assert restored.json()["data"]["version"] == 4 and restored.json()["data"]["aiDraftId"] == first_ai
    plain = await client.post("/api/v1/templates", json={**CONTENT, "name": "Plain"}, headers=owner.headers)
    plain_api = f"/api/v1/templates/{plain.json()['data']['id']}"
    assert plain.json()["data"]["aiDraftId"] is None
    with_ai = await client.put(plain_api, json={**CONTENT, "name": "Plain", "subject": "AI", "aiDraftId": second_ai},
                               headers=owner.headers)
    assert with_ai.json()["data"]["aiDraftId"] == second_ai
    back = await client.post(f"{plain_api}/versions/1/restore", headers=owner.headers)
    assert back.json()["data"]["version"] == 3 and back.json()["data"]["aiDraftId"] is None


async def test_unknown_or_foreign_ai_drafts_are_refused(app, client_a, tenant_a, owner, tenant_b, client_b, openai_server):
    await _configure(client_a, owner.headers, openai_server)
    mine = await _generated(client_a, owner.headers, openai_server)
    other = await make_caller(app, tenant_b, "gil@globex.test", "owner")
    await _configure(client_b, other.headers, openai_server)
    theirs = await _generated(client_b, other.headers, openai_server)

    for hostile in (str(uuid.uuid4()), theirs):
        assert_error(await client_a.post("/api/v1/templates", json={**CONTENT, "aiDraftId": hostile},
                                         headers=owner.headers), 422, "TEMPLATE_AI_DRAFT_NOT_FOUND")
    assert (await client_a.get("/api/v1/templates", headers=owner.headers)).json()["pagination"]["total"] == 0
    created = await client_a.post("/api/v1/templates", json={**CONTENT, "aiDraftId": mine}, headers=owner.headers)
    assert created.status_code == 201, created.text
    api = f"/api/v1/templates/{created.json()['data']['id']}"
    for hostile in (str(uuid.uuid4()), theirs):
        refused = await client_a.put(api, json={**CONTENT, "subject": "changed", "aiDraftId": hostile}, headers=owner.headers)
        assert_error(refused, 422, "TEMPLATE_AI_DRAFT_NOT_FOUND")
    garbage = await client_a.put(api, json={**CONTENT, "aiDraftId": "' or 1=1 --"}, headers=owner.headers)
    assert garbage.status_code == 400
    kept = (await client_a.get(api, headers=owner.headers)).json()["data"]
    assert kept["version"] == 1 and kept["aiDraftId"] == mine and kept["subject"] == CONTENT["subject"]
    # The other workspace cannot point at ours either.
    assert_error(await client_b.post("/api/v1/templates", json={**CONTENT, "aiDraftId": mine}, headers=other.headers),
                 422, "TEMPLATE_AI_DRAFT_NOT_FOUND")

    # The editor form: an unknown id is refused with the content kept; anything but an id is ignored.
    await add_member(tenant_a, "tina@acme.test", "owner")
    await sign_in(client_a, "tina@acme.test")
    url = api.replace("/api/v1", "")
    refused = await form_post(client_a, url, url, {**CONTENT, "subject": "by form", "ai_draft_id": theirs})
    assert refused.status_code == 422 and "does not exist" in refused.text and "by form" in refused.text
    assert 'id="ai-draft-id" value=""' in refused.text
    ignored = await form_post(client_a, url, url, {**CONTENT, "subject": "by form", "ai_draft_id": "<script>x</script>"})
    assert ignored.status_code in (302, 303), ignored.text
    saved = (await client_a.get(api, headers=owner.headers)).json()["data"]
    assert saved["version"] == 2 and saved["aiDraftId"] == mine
