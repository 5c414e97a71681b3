"""The composer over the API: a one-off email to several leads sent now through the outbox and
real SMTP (each lead once, rendered for them, never twice on a retry), drafts (save, list, edit,
delete), scheduling and cancelling, variables reported before anything is sent, suppression
honoured, cleaned HTML, and clear errors for bad input."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import uuid

from tests.integration.web.web_support import Ledger, assert_error, make_caller

CONTENT = {
    "subject": "Quick question, {{firstName|there}}",
    "html": "<div>Hi {{firstName|there}},</div><div><br></div><div>How is <strong>{{company|your team}}</strong> "
            "handling follow-ups?</div><script>alert(1)</script>",
}


def _body(data: bytes) -> str:
    message = email.message_from_bytes(data, policy=email.policy.default)
    return message.get_body(("plain",)).get_content()


async def _send(desk, lead_ids, *, key: str | None = None, **extra):
    headers = dict(desk.owner.headers)
    if key:
        headers["Idempotency-Key"] = key
    return await desk.client.post("/api/v1/composer/send", headers=headers,
                                  json={**CONTENT, "leadIds": lead_ids, "mailboxId": desk.mailbox, **extra})


async def test_an_email_to_two_leads_goes_out_once_each_rendered_for_them(desk):
    ana = await desk.lead(email="ana@northwind.example.com", firstName="Ana", company="Northwind")
    bo = await desk.lead(email="bo@contoso.example.com")
    response = await _send(desk, [ana, bo], key="send-1")
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["draft"]["status"] == "sent" and data["draft"]["queued"] == 2 and data["skipped"] == []
    assert "<script>" not in data["draft"]["html"] and "alert" not in data["draft"]["html"]
    assert {m["recipient"] for m in data["messages"]} == {"ana@northwind.example.com", "bo@contoso.example.com"}

    replay = await _send(desk, [ana, bo], key="send-1")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == response.json()

    transactions = await desk.delivered(2)
    await asyncio.sleep(0.3)
    assert await desk.run_pass() == 0
    assert len(desk.sink.transactions) == 2
    by_recipient = {t.rcpt_tos[0]: t.data for t in transactions}
    ana_mail = by_recipient["ana@northwind.example.com"]
    assert b"Subject: Quick question, Ana" in ana_mail and b"From: Sam Carter <sam@brightpath.example.com>" in ana_mail
    assert "How is Northwind handling follow-ups?" in _body(ana_mail)
    assert "How is your team handling follow-ups?" in _body(by_recipient["bo@contoso.example.com"])
    assert b"List-Unsubscribe:" in ana_mail and b"alert(1)" not in ana_mail
    outbox = await desk.outbox()
    assert len(outbox) == 2 and {m["step"] for m in outbox} == {0}
    assert len({m["enrollment"] for m in outbox}) == 2

    listed = (await desk.client.get("/api/v1/composer/drafts?status=sent", headers=desk.owner.headers)).json()
    assert listed["pagination"]["total"] == 1
    draft_id = listed["data"][0]["id"]
    messages = (await desk.client.get(f"/api/v1/composer/drafts/{draft_id}/messages", headers=desk.owner.headers)).json()
    assert sorted(m["state"] for m in messages["data"]) == ["sent", "sent"]
    # Sending the same email again is refused: it was sent.
    again = await desk.client.post(f"/api/v1/composer/drafts/{draft_id}/send", json={}, headers=desk.owner.headers)
    assert_error(again, 409, "COMPOSER_DRAFT_NOT_EDITABLE")
    assert len(await desk.outbox()) == 2


async def test_drafts_are_saved_listed_edited_and_deleted(desk):
    ana = await desk.lead(email="ana@northwind.example.com", firstName="Ana")
    created = await desk.client.post("/api/v1/composer/drafts", json={"subject": "Draft one"}, headers=desk.owner.headers)
    assert created.status_code == 201, created.text
    draft = created.json()["data"]
    assert (draft["status"], draft["leadIds"], draft["text"]) == ("draft", [], "")
    url = f"/api/v1/composer/drafts/{draft['id']}"
    saved = await desk.client.put(url, json={**CONTENT, "leadIds": [ana, ana], "mailboxId": desk.mailbox},
                                  headers=desk.owner.headers)
    assert saved.status_code == 200, saved.text
    saved = saved.json()["data"]
    assert saved["leadIds"] == [ana] and saved["mailboxId"] == desk.mailbox
    assert saved["text"].startswith("Hi {{firstName|there}},\n\nHow is {{company|your team}} handling")
    incomplete = await desk.client.post("/api/v1/composer/drafts", json={"html": "<p>x</p>"}, headers=desk.owner.headers)
    refused = await desk.client.post(f"/api/v1/composer/drafts/{incomplete.json()['data']['id']}/send", json={},
                                     headers=desk.owner.headers)
    assert set(assert_error(refused, 400, "COMPOSER_INCOMPLETE")["details"]["missing"]) == {"subject", "leadIds", "mailboxId"}
    listed = (await desk.client.get("/api/v1/composer/drafts?status=draft", headers=desk.owner.headers)).json()
    assert listed["pagination"]["total"] == 2
    assert (await desk.client.delete(url, headers=desk.owner.headers)).status_code == 204
    assert_error(await desk.client.get(url, headers=desk.owner.headers), 404, "COMPOSER_DRAFT_NOT_FOUND")
    assert await desk.outbox() == []


async def test_a_scheduled_email_waits_can_be_cancelled_edited_and_sent(desk):
    ana = await desk.lead(email="ana@northwind.example.com", firstName="Ana")
    draft = (await desk.client.post("/api/v1/composer/drafts", headers=desk.owner.headers,
                                    json={**CONTENT, "leadIds": [ana], "mailboxId": desk.mailbox})).json()["data"]
    url = f"/api/v1/composer/drafts/{draft['id']}"
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(microsecond=0)
    scheduled = await desk.client.post(f"{url}/send", json={"sendAt": later.isoformat()}, headers=desk.owner.headers)
    assert scheduled.status_code == 201, scheduled.text
    data = scheduled.json()["data"]
    assert data["draft"]["status"] == "scheduled"
    assert dt.datetime.fromisoformat(data["messages"][0]["dueAt"]) == later
    assert await desk.run_pass() == 0 and desk.sink.transactions == []
    assert_error(await desk.client.put(url, json=CONTENT, headers=desk.owner.headers), 409, "COMPOSER_DRAFT_NOT_EDITABLE")
    assert_error(await desk.client.delete(url, headers=desk.owner.headers), 409, "COMPOSER_DRAFT_NOT_EDITABLE")

    cancelled = await desk.client.post(f"{url}/cancel", headers=desk.owner.headers)
    assert cancelled.status_code == 200 and cancelled.json()["data"]["status"] == "draft"
    assert [m["state"] for m in await desk.outbox()] == ["cancelled"]
    assert_error(await desk.client.post(f"{url}/cancel", headers=desk.owner.headers), 409, "COMPOSER_NOT_CANCELLABLE")
    edited = await desk.client.put(url, json={**CONTENT, "subject": "Lunch, {{firstName}}?", "leadIds": [ana],
                                              "mailboxId": desk.mailbox}, headers=desk.owner.headers)
    assert edited.status_code == 200
    now = await desk.client.post(f"{url}/send", json={}, headers=desk.owner.headers)
    assert now.status_code == 201 and now.json()["data"]["draft"]["status"] == "sent"
    [sent] = await desk.delivered(1)
    assert b"Subject: Lunch, Ana?" in sent.data
    assert sorted(m["state"] for m in await desk.outbox()) == ["cancelled", "sent"]


async def test_unknown_or_empty_variables_are_reported_and_nothing_is_written(desk, settings, tenant_a):
    ana = await desk.lead(email="ana@northwind.example.com", firstName="Ana")
    bo = await desk.lead(email="bo@contoso.example.com")
    ledger = Ledger(settings, tenant_a)
    before = await ledger.take()
    unknown = await _send(desk, [ana, bo], text="Hi {{nickname}}", html="")
    error = assert_error(unknown, 422, "COMPOSER_VARIABLE_PROBLEMS")
    assert {r["email"] for r in error["details"]["recipients"]} == {"ana@northwind.example.com", "bo@contoso.example.com"}
    assert error["details"]["recipients"][0]["problems"][0]["kind"] == "unknown_variable"
    empty = await _send(desk, [ana, bo], subject="Hi {{firstName}}")
    error = assert_error(empty, 422, "COMPOSER_VARIABLE_PROBLEMS")
    [problem] = error["details"]["recipients"]
    assert problem["email"] == "bo@contoso.example.com" and problem["problems"][0]["kind"] == "empty_variable"
    assert await ledger.take() == before
    preview = await desk.client.post("/api/v1/composer/preview", headers=desk.owner.headers,
                                     json={"subject": "Hi {{firstName}}", "text": "x", "leadId": bo})
    assert preview.json()["data"]["ok"] is False


async def test_suppressed_unsubscribed_and_bounced_leads_are_skipped(desk):
    ana = await desk.lead(email="ana@northwind.example.com", firstName="Ana")
    blocked = await desk.lead(email="cy@blocked.example.com", firstName="Cy")
    gone = await desk.lead(email="di@contoso.example.com", firstName="Di", status="unsubscribed")
    added = await desk.client.post("/api/v1/suppressions", json={"value": "blocked.example.com"}, headers=desk.owner.headers)
    assert added.status_code == 201, added.text
    response = await _send(desk, [ana, blocked, gone])
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert [m["recipient"] for m in data["messages"]] == ["ana@northwind.example.com"]
    assert {(s["email"], s["reason"]) for s in data["skipped"]} == {
        ("cy@blocked.example.com", "suppressed"), ("di@contoso.example.com", "unsubscribed")}
    nobody = await _send(desk, [blocked, gone])
    assert_error(nobody, 422, "COMPOSER_NO_RECIPIENTS")
    # Suppressed after it was queued: the outbox refuses it at the moment of sending.
    later = await desk.lead(email="ed@late.example.com", firstName="Ed")
    queued = await _send(desk, [later], sendAt=(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).isoformat())
    assert queued.status_code == 201
    await desk.client.post("/api/v1/suppressions", json={"value": "ed@late.example.com"}, headers=desk.owner.headers)
    await asyncio.sleep(2.1)
    await desk.delivered(1)
    for _ in range(50):
        await desk.run_pass()
        states = {m["recipient"]: (m["state"], m["failure"]) for m in await desk.outbox()}
        if states["ed@late.example.com"][0] != "queued":
            break
        await asyncio.sleep(0.1)
    assert states["ed@late.example.com"] == ("failed", "suppressed")
    assert [t.rcpt_tos for t in desk.sink.transactions] == [("ana@northwind.example.com",)]


async def test_two_sends_of_one_draft_at_once_queue_it_once(desk):
    leads = [await desk.lead(email=f"lead{i}@northwind.example.com", firstName=f"L{i}") for i in range(3)]
    draft = (await desk.client.post("/api/v1/composer/drafts", headers=desk.owner.headers,
                                    json={**CONTENT, "leadIds": leads, "mailboxId": desk.mailbox})).json()["data"]
    url = f"/api/v1/composer/drafts/{draft['id']}/send"
    first, second = await asyncio.gather(*(desk.client.post(url, json={}, headers=desk.owner.headers) for _ in range(2)))
    assert sorted([first.status_code, second.status_code]) == [201, 409], (first.text, second.text)
    assert len(await desk.outbox()) == 3


async def test_bad_input_gets_a_clear_answer(desk, app, tenant_a):
    ana = await desk.lead(email="ana@northwind.example.com", firstName="Ana")
    past = await _send(desk, [ana], sendAt="2020-01-01T00:00:00+00:00")
    assert_error(past, 400, "COMPOSER_SEND_AT_INVALID")
    naive = await _send(desk, [ana], sendAt="2030-01-01T00:00:00")
    assert naive.status_code == 400
    both = await _send(desk, [ana], poolId=str(uuid.uuid4()))
    assert_error(both, 400, "VALIDATION_ERROR")
    assert_error(await _send(desk, [str(uuid.uuid4())]), 404, "LEAD_NOT_FOUND")
    assert_error(await _send(desk, [ana], mailboxId=str(uuid.uuid4())), 404, "MAILBOX_NOT_FOUND")
    too_many = await _send(desk, [str(uuid.uuid4()) for _ in range(501)])
    assert too_many.status_code == 400
    assert_error(await _send(desk, [ana], surprise=1), 400)
    assert_error(await _send(desk, [ana], text="{{#if company}}open"), 400, "TEMPLATE_SYNTAX")
    viewer = await make_caller(app, tenant_a, "vera@acme.test", "viewer")
    assert (await desk.client.get("/api/v1/composer/drafts", headers=viewer.headers)).status_code == 200
    denied = await desk.client.post("/api/v1/composer/send", headers=viewer.headers,
                                    json={**CONTENT, "leadIds": [ana], "mailboxId": desk.mailbox})
    assert_error(denied, 403)
    assert await desk.outbox() == []
