"""The AI API and pages through the app: settings (the key never shown), not-configured answers,
generation with provenance, the SSE stream, offline checks, usage, the panel in the template
editor and its htmx actions."""

from __future__ import annotations

import json

import pytest

from tests.ai_server import FakeOpenAI, Reply
from tests.integration.web.web_support import assert_error, make_caller
from tests.support import csrf_from, sign_in

EMAIL = json.dumps({"subject": "Faster customs", "body": "Hi {{firstName}},\n\nA short note.\n\nBest"})


@pytest.fixture
async def openai_server():
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def owner(app, tenant_a):
    return await make_caller(app, tenant_a, "olga@acme.test", "owner")


async def _configure(client, owner, server, **extra):
    response = await client.put("/api/v1/ai/settings", json={
        "baseUrl": server.base_url, "model": "test-model", "apiKey": "sk-acme-private", **extra,
    }, headers=owner.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_settings_never_show_the_key_and_refuse_bad_values(client_a, owner, openai_server):
    view = (await client_a.get("/api/v1/ai/settings", headers=owner.headers)).json()["data"]
    assert view["configured"] is False and view["apiKeySet"] is False
    saved = await _configure(client_a, owner, openai_server, industryPack="saas", monthlyTokenBudget=5000)
    assert saved["configured"] and saved["apiKeySet"] and saved["industryPack"] == "saas"
    assert "sk-acme-private" not in json.dumps(saved)
    assert saved["monthlyTokenBudget"] == 5000
    bad = await client_a.put("/api/v1/ai/settings", json={"baseUrl": "ftp://x"}, headers=owner.headers)
    assert_error(bad, 400, "INVALID_AI_SETTINGS")
    assert_error(await client_a.put("/api/v1/ai/settings", json={"industryPack": "nope"}, headers=owner.headers),
                 400, "INVALID_AI_SETTINGS")
    assert_error(await client_a.put("/api/v1/ai/settings", json={"surprise": 1}, headers=owner.headers), 400)


async def test_without_a_provider_ai_answers_409_and_offline_checks_work(client_a, owner):
    response = await client_a.post("/api/v1/ai/generate", json={"brief": "x"}, headers=owner.headers)
    error = assert_error(response, 409, "AI_NOT_CONFIGURED")
    assert "/settings/ai" in error["message"]
    checked = await client_a.post("/api/v1/ai/check", json={
        "subject": "FREE GIFT!!!", "body": "Hi {{firstName}} {{favouriteColour}}, i could of sent this. Click here now!!!",
    }, headers=owner.headers)
    data = checked.json()["data"]
    assert checked.status_code == 200 and data["spam"]["score"] >= 5
    assert {p["tag"] for p in data["variables"]["problems"]} == {"favouriteColour"}
    assert any(i["kind"] == "grammar" for i in data["grammar"])
    status = (await client_a.get("/api/v1/ai/status", headers=owner.headers)).json()["data"]
    assert status == {"configured": False, "model": None, "settingsUrl": "/settings/ai"}


async def test_generate_improve_and_usage_through_the_api(client_a, owner, openai_server):
    await _configure(client_a, owner, openai_server)
    lead = (await client_a.post("/api/v1/leads", json={"email": "ana@example.com", "firstName": "Ana", "country": "DE"},
                                headers=owner.headers)).json()["data"]
    openai_server.script(Reply(content=EMAIL, prompt_tokens=100, completion_tokens=30))
    response = await client_a.post("/api/v1/ai/generate", json={"brief": "Customs software", "leadId": lead["id"],
                                                                 "tone": "direct", "length": "short"},
                                   headers=owner.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["subject"] == "Faster customs" and data["provenance"]["model"] == "test-model"
    assert data["provenance"]["promptTokens"] == 100 and data["provenance"]["draftId"]
    assert "Write in this language: German" in openai_server.received[0].text_of("user")
    cached = (await client_a.post("/api/v1/ai/generate", json={"brief": "Customs software", "leadId": lead["id"],
                                                               "tone": "direct", "length": "short"},
                                  headers=owner.headers)).json()["data"]
    assert cached["provenance"]["cached"] is True and len(openai_server.received) == 1
    openai_server.script(Reply(content=json.dumps({"subject": "", "body": "Hi {{firstName}}, short note.",
                                                   "changes": ["Cut filler"]})))
    improved = (await client_a.post("/api/v1/ai/improve", json={"body": "Hi {{firstName}}, just a very short note.",
                                                                "goal": "brevity"}, headers=owner.headers)).json()["data"]
    assert {"op": "delete", "text": "just a very "} in improved["diff"]["body"] or any(
        run["op"] == "delete" for run in improved["diff"]["body"])
    usage = (await client_a.get("/api/v1/ai/usage", headers=owner.headers)).json()["data"]
    features = {row["feature"]: row for row in usage["byFeature"]}
    assert features["generate"]["calls"] == 1 and features["improve"]["calls"] == 1
    assert usage["tokensUsed"] == 130 + 70 and usage["estimatedCostUsd"] > 0
    drafts = (await client_a.get("/api/v1/ai/drafts", headers=owner.headers)).json()["data"]
    assert [d["feature"] for d in drafts].count("generate") == 1
    assert cached["provenance"]["draftId"] == data["provenance"]["draftId"]


async def test_generation_streams_as_server_sent_events(client_a, owner, openai_server):
    await _configure(client_a, owner, openai_server)
    openai_server.script(Reply(kind="stream", chunks=["Subject: Hi", "\n\nHello {{firstName}},", " bye."]))
    async with client_a.stream("POST", "/api/v1/ai/generate/stream", json={"brief": "b"}, headers=owner.headers) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        body = "".join([chunk async for chunk in response.aiter_text()])
    events = [block for block in body.replace("\r\n", "\n").split("\n\n") if block.strip()]
    kinds = [block.split("\n")[0].removeprefix("event: ") for block in events]
    assert kinds[:3] == ["delta", "delta", "delta"] and kinds[-1] == "done"
    done = json.loads(events[-1].split("data: ", 1)[1])
    assert done["subject"] == "Hi" and done["body"] == "Hello {{firstName}}, bye." and done["provenance"]["draftId"]
    openai_server.script(Reply(kind="stream", chunks=["Subject: x", "\n\ncut"], truncate=True))
    async with client_a.stream("POST", "/api/v1/ai/generate/stream", json={"brief": "c"}, headers=owner.headers) as response:
        body = "".join([chunk async for chunk in response.aiter_text()])
    assert "event: error" in body and "AI_STREAM_TRUNCATED" in body


async def test_a_member_uses_ai_but_only_admins_manage_it(app, client_a, tenant_a, owner, openai_server):
    viewer = await make_caller(app, tenant_a, "vic@acme.test", "viewer")
    member = await make_caller(app, tenant_a, "mia@acme.test", "member")
    assert_error(await client_a.get("/api/v1/ai/settings", headers=member.headers), 403)
    assert_error(await client_a.post("/api/v1/ai/check", json={"body": "x"}, headers=viewer.headers), 403)
    assert (await client_a.post("/api/v1/ai/check", json={"body": "Hello"}, headers=member.headers)).status_code == 200


async def test_the_settings_page_and_the_panel_in_the_template_editor(app, client_a, tenant_a, openai_server):
    from tests.support import add_member

    await add_member(tenant_a, "olga@acme.test", "owner")
    await sign_in(client_a, "olga@acme.test")
    page = await client_a.get("/templates/new")
    assert page.status_code == 200 and 'data-ai-panel' in page.text and "/settings/ai" in page.text
    settings_page = await client_a.get("/settings/ai")
    assert settings_page.status_code == 200 and "Model provider" in settings_page.text
    saved = await client_a.post("/settings/ai", data={
        "_csrf_token": csrf_from(settings_page.text), "base_url": openai_server.base_url, "model": "test-model",
        "api_key": "sk-page-key", "industry_pack": "agency", "monthly_token_budget": "100000", "requests_per_minute": "10",
        "style_guide": "Short sentences.",
    }, follow_redirects=True)
    assert saved.status_code == 200 and "AI settings saved." in saved.text and "sk-page-key" not in saved.text
    editor = await client_a.get("/templates/new")
    assert "Write a draft" in editor.text
    token = csrf_from(editor.text)
    checked = await client_a.post("/ai/panel/check", data={
        "_csrf_token": token, "ai_subject_field": "subject", "ai_body_field": "text",
        "subject": "Hello", "text": "Hi {{firstName}}, would a call next week help?",
    }, headers={"HX-Request": "true"})
    assert checked.status_code == 200 and "Spam score: 0/10" in checked.text
    openai_server.script(Reply(content=json.dumps({"body": "Dear {{firstName}}, would a call help?"})))
    toned = await client_a.post("/ai/panel/tone", data={
        "_csrf_token": token, "ai_subject_field": "subject", "ai_body_field": "text", "ai_option": "formal",
        "text": "Hi {{firstName}}, would a call help?",
    }, headers={"HX-Request": "true"})
    assert toned.status_code == 200 and "<ins>" in toned.text and "Use this text" in toned.text
    unknown = await client_a.post("/ai/panel/bogus", data={"_csrf_token": token}, headers={"HX-Request": "true"})
    assert unknown.status_code == 200 and "Unknown AI action" in unknown.text
    usage_page = await client_a.get("/settings/ai")
    assert "tone" in usage_page.text and "prompt tone.v1" in usage_page.text


async def test_a_signed_in_page_streams_with_its_session_and_csrf_token(app, client_a, tenant_a, owner, openai_server):
    from tests.support import add_member, session_csrf

    await _configure(client_a, owner, openai_server)
    await add_member(tenant_a, "sam@acme.test", "member")
    await sign_in(client_a, "sam@acme.test")
    token = await session_csrf(client_a)
    openai_server.script(Reply(kind="stream", chunks=["Subject: Hi\n\n", "Hello."]))
    refused = await client_a.post("/api/v1/ai/generate/stream", json={"brief": "b"})
    assert_error(refused, 403)
    async with client_a.stream("POST", "/api/v1/ai/generate/stream", json={"brief": "b"},
                               headers={"X-CSRF-Token": token}) as response:
        body = "".join([chunk async for chunk in response.aiter_text()])
    assert response.status_code == 200 and "event: done" in body, body[:500]
