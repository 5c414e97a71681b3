"""The template pages: library with "Add to my library", the editor (save = new version,
restore), and the live preview for a lead at desktop and mobile widths."""

from __future__ import annotations

import re

from tests.support import add_member, csrf_from, form_post, sign_in


async def test_library_editor_versions_and_preview(client_a, tenant_a):
    await add_member(tenant_a, "tina@acme.test", "owner")
    await sign_in(client_a, "tina@acme.test")
    await form_post(client_a, "/leads/new", "/leads", {"email": "lena@example.com", "firstName": "Lena",
                                                       "company": "Q&A <Ltd>"})
    index = await client_a.get("/templates")
    assert index.status_code == 200 and index.text.count("Add to my library") == 20
    installed = await form_post(client_a, "/templates", "/templates/library/meeting-request/install", {})
    editor_url = installed.headers["location"].split("?")[0]
    editor = await client_a.get(editor_url)
    assert "Meeting request" in editor.text and "data-insert" in editor.text
    content = {"name": "Meeting request", "category": "Meetings", "subject": "Hi {{firstName}}",
               "html": "<p>Hello {{firstName}} at {{company}}</p>", "text": "Hello {{firstName}}"}
    saved = await form_post(client_a, editor_url, editor_url, content)
    assert saved.status_code in (302, 303)
    editor = await client_a.get(editor_url)
    assert "v2" in editor.text and "Restore version 1" in editor.text
    lead_id = re.search(r'<option value="([0-9a-f-]{36})">lena@example.com', editor.text).group(1)
    preview = await client_a.post("/templates/preview", data={**content, "lead": lead_id,
                                                              "_csrf_token": csrf_from(editor.text)},
                                  headers={"HX-Request": "true"})
    assert preview.status_code == 200
    assert 'width="600"' in preview.text and 'width="375"' in preview.text and 'sandbox=""' in preview.text
    # The lead's company is escaped in the body, then again as the iframe's attribute.
    assert "Q&amp;amp;A &amp;lt;Ltd&amp;gt;" in preview.text and "Every variable has a value" in preview.text
    gaps = await client_a.post("/templates/preview", data={**content, "lead": "", "_csrf_token": csrf_from(editor.text)})
    assert "is not a known variable" in gaps.text
    bad = await form_post(client_a, editor_url, editor_url, {**content, "text": "{{#if company}}never closed"})
    assert bad.status_code == 400 and "without {{/if}}" in bad.text
    restored = await form_post(client_a, editor_url, editor_url + "/versions/1/restore", {})
    assert restored.status_code in (302, 303)
    assert "v3" in (await client_a.get(editor_url)).text
