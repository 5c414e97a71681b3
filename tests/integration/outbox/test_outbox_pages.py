"""The outbox pages: tabs of queued, sent, failed and uncertain messages with their reasons, the
admin's actions (an uncertain message's retry warns that it may arrive twice), and the dry-run
plan; a viewer sees no actions and cannot act."""

from __future__ import annotations

from tests.integration.mailboxes.conftest import VIEWER, signed_in
from tests.integration.outbox.test_outbox_api import _ledger
from tests.support import form_post


async def test_each_tab_lists_its_messages_with_their_reasons(no_scheduler, client_a, tenant_a, desk, script):
    await _ledger(desk, script)
    await signed_in(client_a, tenant_a)
    queued = (await client_a.get("/outbox")).text
    assert "later@customer.example.com" in queued and "bounced@customer.example.com" not in queued
    assert 'href="/outbox?tab=queued" aria-current="page"' in queued
    assert 'Failed <span class="badge badge-muted">2</span>' in queued
    failed = (await client_a.get("/outbox?tab=failed")).text
    assert "bounced@customer.example.com" in failed and "dead@customer.example.com" in failed
    assert "User unknown" in failed and "(5.1.1)" in failed and "max attempts" in failed
    assert 'aria-label="Retry the message to dead@customer.example.com"' in failed
    assert 'aria-label="Retry the message to bounced@customer.example.com"' not in failed, "a hard bounce is final"
    uncertain = (await client_a.get("/outbox?tab=uncertain")).text
    assert "may arrive twice" in uncertain or "can deliver it twice" in uncertain
    assert 'hx-confirm="Retry the message to uncertain@customer.example.com? It may already have arrived' in uncertain
    assert "Mark sent" in uncertain
    sent = (await client_a.get("/outbox?tab=sent")).text
    assert "sent@customer.example.com" in sent and "Retry" not in sent
    assert (await client_a.get("/outbox?tab=everything")).status_code == 400


async def test_the_actions_work_from_the_page(no_scheduler, client_a, tenant_a, desk, script):
    ids = await _ledger(desk, script)
    await signed_in(client_a, tenant_a)
    response = await form_post(client_a, "/outbox?tab=failed", f"/outbox/{ids['dead']}/retry", {"tab": "failed"})
    assert response.status_code in (302, 303) and response.headers["location"] == "/outbox?tab=failed"
    assert (await desk.message(ids["dead"])).state == "retry"
    await form_post(client_a, "/outbox?tab=uncertain", f"/outbox/{ids['uncertain']}/mark-sent", {"tab": "uncertain"})
    assert (await desk.message(ids["uncertain"])).state == "sent"
    await form_post(client_a, "/outbox", f"/outbox/{ids['queued']}/cancel", {"tab": "queued"})
    assert (await desk.message(ids["queued"])).state == "cancelled"
    refused = await form_post(client_a, "/outbox?tab=failed", f"/outbox/{ids['bounced']}/retry", {"tab": "failed"},
                              headers={"Accept": "text/html"})
    assert refused.status_code == 409 and "cannot be retried" in refused.text
    assert (await desk.message(ids["bounced"])).state == "failed"


async def test_the_plan_page_says_what_goes_when_and_what_waits(no_scheduler, client_a, tenant_a, desk, script):
    ann = await desk.mailbox("ann@sender.example.com", daily_cap=1)
    await desk.enqueue(mailbox=ann, recipient_email="first@customer.example.com", subject="One")
    desk.clock.advance(minutes=1)
    await desk.enqueue(mailbox=ann, recipient_email="second@customer.example.com", subject="Two")
    await signed_in(client_a, tenant_a, VIEWER, "viewer")
    page = (await client_a.get("/outbox/plan?hours=6")).text
    assert "Sends <span class=\"muted\">(1)</span>" in page
    assert "first@customer.example.com" in page and "ann@sender.example.com" in page
    assert "Still waiting after 6 hours" in page and "daily cap of 1 reached" in page
    longer = (await client_a.get("/outbox/plan?hours=72")).text
    assert "Sends <span class=\"muted\">(2)</span>" in longer
    assert (await client_a.get("/outbox/plan?hours=9999")).status_code == 400
    assert script.attempts == 0


async def test_a_viewer_sees_no_actions_and_cannot_act(no_scheduler, client_a, tenant_a, desk, script):
    ids = await _ledger(desk, script)
    await signed_in(client_a, tenant_a, VIEWER, "viewer")
    failed = (await client_a.get("/outbox?tab=failed")).text
    assert "dead@customer.example.com" in failed and "Retry" not in failed
    response = await form_post(client_a, "/outbox?tab=failed", f"/outbox/{ids['dead']}/retry", {"tab": "failed"})
    assert response.status_code == 403
    assert (await desk.message(ids["dead"])).state == "failed"
