"""Templates over the API: create, save as new versions, restore, categories, preview for a real
lead (problems reported), the library of 20 and "Add to my library"."""

from __future__ import annotations

from tests.integration.web.web_support import assert_error

CONTENT = {
    "name": "Intro", "category": "Cold outreach", "subject": "Hi {{firstName|there}}",
    "html": "<p>Hello {{firstName}} at {{company}}, {{custom.industry|your industry}}</p>",
    "text": "Hello {{firstName}}{{#if company}} at {{company}}{{/if}}",
}


async def _lead(client, owner, **fields):
    response = await client.post("/api/v1/leads", json=fields, headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_templates_are_versioned_and_restorable(client_a, owner):
    created = await client_a.post("/api/v1/templates", json=CONTENT, headers=owner.headers)
    assert created.status_code == 201, created.text
    template = created.json()["data"]
    assert template["version"] == 1
    url = f"/api/v1/templates/{template['id']}"
    saved = await client_a.put(url, json={**CONTENT, "subject": "Hello {{firstName|there}}"}, headers=owner.headers)
    assert saved.json()["data"]["version"] == 2
    same = await client_a.put(url, json={**CONTENT, "subject": "Hello {{firstName|there}}"}, headers=owner.headers)
    assert same.json()["data"]["version"] == 2
    versions = (await client_a.get(f"{url}/versions", headers=owner.headers)).json()["data"]
    assert [v["version"] for v in versions] == [2, 1]
    restored = await client_a.post(f"{url}/versions/1/restore", headers=owner.headers)
    assert restored.json()["data"]["subject"] == CONTENT["subject"] and restored.json()["data"]["version"] == 3
    assert_error(await client_a.post(f"{url}/versions/9/restore", headers=owner.headers), 404, "TEMPLATE_VERSION_NOT_FOUND")
    listed = (await client_a.get("/api/v1/templates?category=Cold outreach", headers=owner.headers)).json()
    assert listed["pagination"]["total"] == 1
    categories = (await client_a.get("/api/v1/templates/categories", headers=owner.headers)).json()["data"]
    assert "Cold outreach" in categories and "Follow-up" in categories
    assert (await client_a.delete(url, headers=owner.headers)).status_code == 204
    assert_error(await client_a.get(url, headers=owner.headers), 404, "TEMPLATE_NOT_FOUND")


async def test_invalid_tags_are_refused_on_save(client_a, owner):
    response = await client_a.post("/api/v1/templates", json={**CONTENT, "text": "Hi {{#if company}}open"},
                                   headers=owner.headers)
    error = assert_error(response, 400, "TEMPLATE_SYNTAX")
    assert error["details"]["problems"][0]["part"] == "text"


async def test_preview_for_a_real_lead_reports_problems(client_a, owner):
    full = await _lead(client_a, owner, email="ana@example.com", firstName="Ana", company="A&B <Co>",
                       customFields={"industry": "Logistics"})
    sparse = await _lead(client_a, owner, email="bo@example.com")
    preview = await client_a.post("/api/v1/templates/preview", json={**{k: CONTENT[k] for k in ("subject", "html", "text")},
                                                                     "leadId": full["id"]}, headers=owner.headers)
    data = preview.json()["data"]
    assert data["ok"] and data["subject"] == "Hi Ana"
    assert data["html"] == "<p>Hello Ana at A&amp;B &lt;Co&gt;, Logistics</p>"
    gaps = await client_a.post("/api/v1/templates/preview", json={"subject": "", "html": CONTENT["html"], "text": "",
                                                                  "leadId": sparse["id"]}, headers=owner.headers)
    problems = gaps.json()["data"]["problems"]
    assert {(p["variable"], p["kind"]) for p in problems} == {("firstName", "empty_variable"), ("company", "empty_variable")}
    assert "{{" not in gaps.json()["data"]["html"]
    missing = await client_a.post("/api/v1/templates/preview", json={"text": "x", "leadId": "00000000-0000-4000-8000-000000000000"},
                                  headers=owner.headers)
    assert_error(missing, 404, "LEAD_NOT_FOUND")


async def test_the_library_installs_on_demand(client_a, owner):
    library = (await client_a.get("/api/v1/template-library", headers=owner.headers)).json()["data"]
    assert len(library) == 20 and not any(item["installed"] for item in library)
    assert {"cold-intro", "follow-up-1", "follow-up-2", "follow-up-3", "break-up", "meeting-request", "event-invite",
            "referral-ask", "re-engagement", "case-study-share", "trial-follow-up", "demo-no-show"} <= {i["slug"] for i in library}
    installed = await client_a.post("/api/v1/template-library/break-up/install", headers=owner.headers)
    assert installed.status_code == 201 and installed.json()["data"]["librarySlug"] == "break-up"
    library = (await client_a.get("/api/v1/template-library", headers=owner.headers)).json()["data"]
    assert [i["slug"] for i in library if i["installed"]] == ["break-up"]
    assert_error(await client_a.post("/api/v1/template-library/nope/install", headers=owner.headers), 404)
    sender_preview = await client_a.post(f"/api/v1/templates/{installed.json()['data']['id']}/preview", json={},
                                         headers=owner.headers)
    # Library templates give every lead field a fallback; the sender is the signed-in user.
    data = sender_preview.json()["data"]
    assert data["problems"] == [] and data["text"].startswith("Hi there,") and data["text"].endswith("Olga\n")
