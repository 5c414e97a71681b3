"""The composer pages: the editor (recipients, sender, rich-text body, variable picker, AI slot),
save as draft, refusal with the reasons shown, send now, schedule and cancel, and the list by
status; the preview partial at desktop and phone widths."""

from __future__ import annotations

import datetime as dt
import re

from tests.support import csrf_from, form_post


def _lead_id(page: str, email: str) -> str:
    return re.search(rf'<option value="([0-9a-f-]{{36}})"[^>]*>{re.escape(email)}', page).group(1)


async def test_write_save_send_and_schedule_from_the_pages(desk):
    client = desk.client
    client.headers.update(desk.owner.headers)
    ana_id = await desk.lead(email="ana@northwind.example.com", firstName="Ana", company="Northwind")
    await desk.lead(email="bo@contoso.example.com")
    lead_page = await client.get(f"/leads/{ana_id}")
    assert f'href="/composer/new?lead={ana_id}"' in lead_page.text
    preselected = await client.get(f"/composer/new?lead={ana_id}")
    assert f'<option value="{ana_id}" selected>' in preselected.text
    new = await client.get("/composer/new")
    assert new.status_code == 200
    assert "<trix-editor" in new.text and "data-insert" in new.text and "AI ACTIONS SLOT" not in new.text
    ana = _lead_id(new.text, "ana@northwind.example.com")
    bo = _lead_id(new.text, "bo@contoso.example.com")
    fields = {"leads": [ana, bo], "sender": f"mailbox:{desk.mailbox}", "subject": "Hi {{firstName}}",
              "html": "<div>Hello {{firstName}} at {{company|your company}}<script>x()</script></div>"}
    saved = await form_post(client, "/composer/new", "/composer", {**fields, "action": "save"})
    assert saved.status_code in (302, 303), saved.text
    url = saved.headers["location"].split("?")[0]
    editor = (await client.get(saved.headers["location"])).text
    assert "Draft saved." in editor and "x()" not in editor
    assert f'<option value="{ana}" selected>' in editor and f'value="mailbox:{desk.mailbox}" selected' in editor

    refused = await form_post(client, url, url, {**fields, "action": "send"})
    assert refused.status_code == 422 and "bo@contoso.example.com" in refused.text
    assert "is empty and has no fallback" in refused.text
    assert desk.sink.transactions == [] and await desk.outbox() == []

    preview = await client.post("/composer/preview", data={**fields, "lead": ana, "_csrf_token": csrf_from(editor)},
                                headers={"HX-Request": "true"})
    assert 'width="600"' in preview.text and 'width="375"' in preview.text and "Every variable has a value" in preview.text

    fields["subject"] = "Hi {{firstName|there}}"
    fields["html"] = fields["html"].replace("Hello {{firstName}}", "Hello {{firstName|there}}")
    # In a browser one hour east of UTC (getTimezoneOffset() = -60).
    local = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).replace(hour=9, minute=30, second=0, microsecond=0)
    scheduled = await form_post(client, url, url, {**fields, "action": "schedule",
                                                   "send_at": local.strftime("%Y-%m-%dT%H:%M"), "tz_offset": "-60"})
    assert scheduled.status_code in (302, 303), scheduled.text
    page = (await client.get(scheduled.headers["location"])).text
    assert "Scheduled for 2 leads." in page and f"{local.strftime('%Y-%m-%d')} 08:30 UTC" in page and "Cancel the scheduled send" in page
    listed = (await client.get("/composer?status=scheduled")).text
    assert url in listed
    cancelled = await form_post(client, url, url + "/cancel", {})
    assert "it is a draft again" in (await client.get(cancelled.headers["location"])).text

    sent = await form_post(client, url, url, {**fields, "action": "send"})
    assert sent.status_code in (302, 303), sent.text
    assert "Queued for 2 leads" in (await client.get(sent.headers["location"])).text
    await desk.delivered(2)
    assert {t.rcpt_tos[0] for t in desk.sink.transactions} == {"ana@northwind.example.com", "bo@contoso.example.com"}
    page = (await client.get(url)).text
    assert "Delivery" in page and page.count(">sent<") + page.count(">sent (") >= 1
    assert url in (await client.get("/composer?status=sent")).text
