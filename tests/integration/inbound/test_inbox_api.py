"""The unified inbox: `/api/v1/inbox` (list with filters, one message with its thread, the
correction, the policy) and the `/inbox` pages."""

from __future__ import annotations

import re

import pytest

from tests.integration.inbound import messages as mail
from tests.integration.inbound.test_effects import setup_lead
from tests.integration.web.web_support import assert_error, make_caller
from tests.support import add_member, form_post, sign_in


@pytest.fixture
async def filled(inbox):
    """Two mailboxes; a reply, an out-of-office and a bounce for Lee, a stranger's message."""
    anna = await inbox.mailbox("anna@seller.example")
    bert = await inbox.mailbox("bert@seller.example")
    lee, sent = await setup_lead(inbox, anna, "lee@customer.example", steps=3)
    await inbox.receive(anna, mail.out_of_office("lee@customer.example", sent.message_id))
    inbox.clock.advance(hours=1)
    await inbox.receive(anna, mail.reply("lee@customer.example", sent.message_id))
    await inbox.receive(bert, mail.bounce("gone@nowhere.example", None), mail.reply("stranger@else.example"))
    return {"anna": anna, "bert": bert, "lee": lee, "sent": sent}


async def test_the_inbox_api_lists_filters_shows_threads_and_corrects(no_scheduler, app, client_a, tenant_a, filled):
    owner = await make_caller(app, tenant_a, "olga@acme.test", "owner")
    listed = (await client_a.get("/api/v1/inbox", headers=owner.headers)).json()
    assert listed["pagination"]["total"] == 4
    assert sorted(m["kind"] for m in listed["data"]) == ["auto_reply", "bounce", "reply", "reply"]
    assert listed["data"][-1]["kind"] == "auto_reply"  # newest first
    replies = (await client_a.get("/api/v1/inbox?kind=reply", headers=owner.headers)).json()["data"]
    assert {m["fromAddress"] for m in replies} == {"lee@customer.example", "stranger@else.example"}
    by_mailbox = (await client_a.get(f"/api/v1/inbox?mailbox={filled['bert']}", headers=owner.headers)).json()
    assert by_mailbox["pagination"]["total"] == 2
    by_lead = (await client_a.get(f"/api/v1/inbox?lead={filled['lee']}&sort=received_at&order=asc",
                                  headers=owner.headers)).json()["data"]
    assert [m["kind"] for m in by_lead] == ["auto_reply", "reply"]
    assert by_lead[1]["matchedBy"] == "thread" and by_lead[1]["outboxMessage"] == str(filled["sent"].id)
    assert "sequence_stopped" in by_lead[1]["effects"]

    shown = (await client_a.get(f"/api/v1/inbox/{by_lead[1]['id']}", headers=owner.headers)).json()["data"]
    assert [item["direction"] for item in shown["thread"]] == ["out", "in", "in"]
    assert shown["thread"][0]["messageId"] == filled["sent"].message_id
    assert "Date" in shown["headers"]

    ooo = by_lead[0]["id"]
    corrected = await client_a.post(f"/api/v1/inbox/{ooo}/classification", json={"kind": "unknown"},
                                    headers=owner.headers)
    assert corrected.status_code == 200
    data = corrected.json()["data"]
    assert (data["kind"], data["classifiedAs"], data["corrected"]) == ("unknown", "auto_reply", True)
    assert len((await client_a.get("/api/v1/inbox?kind=auto_reply", headers=owner.headers)).json()["data"]) == 0

    assert_error(await client_a.post(f"/api/v1/inbox/{ooo}/classification", json={"kind": "spam"},
                                     headers=owner.headers), 400)
    assert_error(await client_a.get("/api/v1/inbox/00000000-0000-4000-8000-000000000000", headers=owner.headers),
                 404, "INBOUND_MESSAGE_NOT_FOUND")
    assert_error(await client_a.get("/api/v1/inbox?kind=spam", headers=owner.headers), 400)
    viewer = await make_caller(app, tenant_a, "vic@acme.test", "viewer")
    assert (await client_a.get("/api/v1/inbox", headers=viewer.headers)).status_code == 200
    assert_error(await client_a.post(f"/api/v1/inbox/{ooo}/classification", json={"kind": "reply"},
                                     headers=viewer.headers), 403)


async def test_the_inbound_policy_api(app, client_a, tenant_a, db):
    owner = await make_caller(app, tenant_a, "olga@acme.test", "owner")
    shown = (await client_a.get("/api/v1/inbox/policy", headers=owner.headers)).json()["data"]
    assert shown == {"stopCompanyOnReply": False, "outOfOfficeDays": 7, "softBounceLimit": 3}
    changed = await client_a.put("/api/v1/inbox/policy", headers=owner.headers,
                                 json={"stopCompanyOnReply": True, "outOfOfficeDays": 14, "softBounceLimit": 2})
    assert changed.json()["data"] == {"stopCompanyOnReply": True, "outOfOfficeDays": 14, "softBounceLimit": 2}
    assert_error(await client_a.put("/api/v1/inbox/policy", headers=owner.headers,
                                    json={"outOfOfficeDays": 500}), 400)
    assert (await client_a.get("/api/v1/inbox/sync-status", headers=owner.headers)).json() == {"data": []}


async def test_the_inbox_pages_filter_thread_and_correct(no_scheduler, client_a, tenant_a, filled):
    await add_member(tenant_a, "mia@acme.test", "member")
    await sign_in(client_a, "mia@acme.test")
    page = await client_a.get("/inbox")
    assert page.status_code == 200
    assert "lee@customer.example" in page.text and "stranger@else.example" in page.text
    assert 'href="/inbox"' in page.text  # in the navigation
    bounces = await client_a.get("/inbox?kind=bounce")
    assert "gone@nowhere.example" not in bounces.text or "MAILER-DAEMON" in bounces.text
    assert "stranger@else.example" not in bounces.text
    only_bert = await client_a.get(f"/inbox?mailbox={filled['bert']}")
    assert "lee@customer.example" not in only_bert.text
    assert (await client_a.get("/inbox?mailbox=nonsense")).status_code == 400
    message = re.search(r'lee@customer.example</span></td>\s*<td[^>]*><a href="/inbox/([0-9a-f-]{36})">Re: Quick',
                        page.text).group(1)
    shown = await client_a.get(f"/inbox/{message}")
    assert "We sent" in shown.text and "Thread" in shown.text
    corrected = await form_post(client_a, f"/inbox/{message}", f"/inbox/{message}/classification",
                                {"kind": "unsubscribe"})
    assert corrected.status_code in (302, 303)
    after = await client_a.get(corrected.headers["location"])
    assert "Classified as unsubscribe request." in after.text and "corrected by a person" in after.text
