"""The send ledger's JSON API: messages with why they wait or failed, the admin's actions (retry,
mark sent, cancel, one by one or in an all-or-nothing bulk), the counts and the dry-run plan;
a viewer reads but cannot act, and bad input answers a clear 400."""

from __future__ import annotations

import uuid

from tests.integration.mailboxes.conftest import VIEWER, signed_in


async def _ledger(desk, script) -> dict[str, uuid.UUID]:
    """One message in each state an admin acts on: sent, bounced, dead letter, uncertain, queued."""
    desk.settings.outbox.max_attempts = 1
    ann = await desk.mailbox("ann@sender.example.com")
    script.outcomes["ann@sender.example.com"] = ["ok", "5xx", "4xx", "lost"]
    ids = {}
    for name in ("sent", "bounced", "dead", "uncertain"):
        ids[name] = await desk.enqueue(mailbox=ann, recipient_email=f"{name}@customer.example.com", subject=f"About {name}")
        await desk.run_pass()
    ids["queued"] = await desk.enqueue(mailbox=ann, recipient_email="later@customer.example.com",
                                       due_at=desk.clock.now().replace(year=2099), subject="Later")
    ids["mailbox"] = ann
    return ids


async def test_messages_are_listed_with_their_reasons_and_filtered(no_scheduler, client_a, tenant_a, desk, script):
    ids = await _ledger(desk, script)
    await signed_in(client_a, tenant_a)
    listed = (await client_a.get("/api/v1/outbox?sort=created_at&order=asc")).json()
    assert listed["pagination"]["total"] == 5
    by_recipient = {m["recipient"].split("@")[0]: m for m in listed["data"]}
    assert by_recipient["sent"]["state"] == "sent" and by_recipient["sent"]["sentAt"]
    bounced = by_recipient["bounced"]
    assert (bounced["state"], bounced["failure"], bounced["errorStatus"]) == ("failed", "bounced", "5.1.1")
    assert "User unknown" in bounced["lastError"]
    assert by_recipient["dead"]["failure"] == "max_attempts" and "Greylisted" in by_recipient["dead"]["lastError"]
    assert by_recipient["uncertain"]["state"] == "uncertain"
    assert by_recipient["later"]["state"] == "queued"
    assert "bodyText" not in by_recipient["sent"]
    failed = (await client_a.get("/api/v1/outbox?state=failed")).json()
    assert sorted(m["recipient"] for m in failed["data"]) == ["bounced@customer.example.com", "dead@customer.example.com"]
    assert (await client_a.get(f"/api/v1/outbox?mailbox={ids['mailbox']}")).json()["pagination"]["total"] == 5
    assert (await client_a.get(f"/api/v1/outbox?mailbox={uuid.uuid4()}")).json()["data"] == []
    assert (await client_a.get(f"/api/v1/outbox?campaign={uuid.uuid4()}")).json()["data"] == []
    one = (await client_a.get(f"/api/v1/outbox/{ids['sent']}")).json()["data"]
    assert one["bodyText"] == "Hi there" and one["messageId"].startswith("<")
    counts = (await client_a.get("/api/v1/outbox/counts")).json()["data"]
    assert (counts["sent"], counts["failed"], counts["uncertain"], counts["queued"], counts["cancelled"]) == (1, 2, 1, 1, 0)


async def test_bad_filters_and_ids_get_a_clear_answer(no_scheduler, client_a, tenant_a, desk):
    await signed_in(client_a, tenant_a)
    for query in ("state=lost", "mailbox=not-a-uuid", "sort=body_text", "limit=0", "page=0"):
        response = await client_a.get(f"/api/v1/outbox?{query}")
        assert response.status_code == 400, (query, response.text)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    missing = await client_a.get(f"/api/v1/outbox/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "OUTBOX_MESSAGE_NOT_FOUND"


async def test_an_admin_retries_marks_sent_and_cancels(no_scheduler, client_a, tenant_a, desk, script):
    ids = await _ledger(desk, script)
    headers = await signed_in(client_a, tenant_a)
    retried = await client_a.post(f"/api/v1/outbox/{ids['dead']}/retry", headers=headers)
    assert retried.status_code == 200 and retried.json()["data"]["state"] == "retry"
    bounce = await client_a.post(f"/api/v1/outbox/{ids['bounced']}/retry", headers=headers)
    assert bounce.status_code == 409 and bounce.json()["error"]["code"] == "OUTBOX_STATE_CONFLICT"
    assert bounce.json()["error"]["details"] == {"state": "failed", "failure": "bounced"}
    marked = await client_a.post(f"/api/v1/outbox/{ids['uncertain']}/mark-sent", headers=headers)
    assert marked.json()["data"]["state"] == "sent"
    again = await client_a.post(f"/api/v1/outbox/{ids['uncertain']}/mark-sent", headers=headers)
    assert again.status_code == 409
    cancelled = await client_a.post(f"/api/v1/outbox/{ids['queued']}/cancel", headers=headers)
    assert cancelled.json()["data"]["state"] == "cancelled"
    sent = await client_a.post(f"/api/v1/outbox/{ids['sent']}/cancel", headers=headers)
    assert sent.status_code == 409
    # The retried dead letter goes out once, with its original Message-ID (the app's clock, which
    # made it due, is today's; the desk's is in March).
    desk.settings.outbox.max_attempts = 5
    desk.clock.advance(days=400)
    await desk.run_pass()
    row = await desk.message(ids["dead"])
    assert row.state == "sent" and script.accepted_ids().count(row.message_id) == 1


async def test_a_bulk_action_is_all_or_nothing(no_scheduler, client_a, tenant_a, desk, script):
    ids = await _ledger(desk, script)
    headers = await signed_in(client_a, tenant_a)
    refused = await client_a.post("/api/v1/outbox/bulk", json={"action": "retry", "ids": [str(ids["dead"]), str(ids["bounced"])]},
                                  headers=headers)
    assert refused.status_code == 409 and str(ids["bounced"]) in refused.json()["error"]["message"]
    assert (await client_a.get(f"/api/v1/outbox/{ids['dead']}")).json()["data"]["state"] == "failed"
    unknown = await client_a.post("/api/v1/outbox/bulk", json={"action": "cancel", "ids": [str(ids["queued"]), str(uuid.uuid4())]},
                                  headers=headers)
    assert unknown.status_code == 404
    assert (await client_a.get(f"/api/v1/outbox/{ids['queued']}")).json()["data"]["state"] == "queued"
    done = await client_a.post("/api/v1/outbox/bulk", json={"action": "retry", "ids": [str(ids["dead"]), str(ids["uncertain"])]},
                               headers=headers)
    assert done.status_code == 200 and done.json()["data"] == {"action": "retry", "processed": 2}
    for body in ({"action": "resend", "ids": [str(ids["dead"])]}, {"action": "retry", "ids": []}, {"action": "retry"}):
        response = await client_a.post("/api/v1/outbox/bulk", json=body, headers=headers)
        assert response.status_code == 400, (body, response.text)


async def test_the_plan_shows_which_message_goes_when_from_which_mailbox(no_scheduler, client_a, tenant_a, desk, script, app):
    ann = await desk.mailbox("ann@sender.example.com", daily_cap=1)
    first = await desk.enqueue(mailbox=ann, recipient_email="first@customer.example.com", subject="One")
    desk.clock.advance(minutes=1)
    await desk.enqueue(mailbox=ann, recipient_email="second@customer.example.com", subject="Two")
    await signed_in(client_a, tenant_a)
    plan = (await client_a.get("/api/v1/outbox/plan?hours=36")).json()["data"]
    assert [(s["recipient"], s["mailbox"], s["waited_for"]) for s in plan["sends"]] == [
        ("first@customer.example.com", "ann@sender.example.com", ""),
        ("second@customer.example.com", "ann@sender.example.com", "daily cap of 1 reached"),
    ]
    assert plan["sends"][0]["message"] == str(first)
    short = (await client_a.get("/api/v1/outbox/plan?hours=2")).json()["data"]
    assert [w["reason"] for w in short["waiting"]] == ["daily cap of 1 reached"]
    assert script.attempts == 0, "a dry run sends nothing"
    for hours in ("0", "-1", "1000", "soon"):
        assert (await client_a.get(f"/api/v1/outbox/plan?hours={hours}")).status_code == 400


async def test_a_viewer_reads_the_outbox_but_cannot_act(no_scheduler, client_a, tenant_a, desk, script):
    ids = await _ledger(desk, script)
    headers = await signed_in(client_a, tenant_a, VIEWER, "viewer")
    assert (await client_a.get("/api/v1/outbox")).status_code == 200
    assert (await client_a.get("/api/v1/outbox/plan")).status_code == 200
    for url, body in ((f"/api/v1/outbox/{ids['dead']}/retry", None), (f"/api/v1/outbox/{ids['queued']}/cancel", None),
                      (f"/api/v1/outbox/{ids['uncertain']}/mark-sent", None),
                      ("/api/v1/outbox/bulk", {"action": "cancel", "ids": [str(ids["queued"])]})):
        response = await client_a.post(url, json=body, headers=headers)
        assert response.status_code == 403, (url, response.text)
    assert (await client_a.get(f"/api/v1/outbox/{ids['queued']}")).json()["data"]["state"] == "queued"
