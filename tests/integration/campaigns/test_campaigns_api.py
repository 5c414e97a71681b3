"""The sequences and campaigns API: envelopes, validation, the edit preview and confirmation,
the lifecycle, lead sources, bulk actions, the dry run and the timeline, permissions."""

from __future__ import annotations

import uuid

from salescopilot.clock import system_clock
from salescopilot.leads.service import LeadService
from salescopilot.mailboxes.schemas import MailboxInput
from salescopilot.mailboxes.service import MailboxService, PoolService
from salescopilot.tenancy.context import tenant_scope
from tests.integration.campaigns.conftest import step
from tests.integration.mailboxes.conftest import signed_in


async def _pool(tenant) -> str:
    async with tenant_scope(tenant):
        mailbox = await MailboxService().create(MailboxInput(
            email="ann@sender.example.com", provider="smtp", min_gap_seconds=0, jitter_seconds=0,
            account={"address": "ann@sender.example.com", "smtp_host": "127.0.0.1", "smtp_port": 9,
                     "smtp_security": "none", "auth_method": "none", "append_to_sent": "never"}))
        return str((await PoolService().create("Pool", [mailbox.id])).id)


async def _leads(tenant, n: int) -> list[str]:
    async with tenant_scope(tenant):
        service = LeadService(clock=system_clock)
        return [str((await service.create({"email": f"lead{i}@customer.example.com", "first_name": f"L{i}",
                                           "timezone": "Europe/Paris", "country": "FR"})).id) for i in range(n)]


async def test_sequence_crud_validation_and_library(client_a, tenant_a, no_scheduler):
    headers = await signed_in(client_a, tenant_a)
    bad = await client_a.post("/api/v1/sequences", headers=headers, json={"name": "x", "steps": [
        {"variants": [{"subject": "", "text": ""}]}]})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
    bad_tag = await client_a.post("/api/v1/sequences", headers=headers, json={"name": "x", "steps": [
        {"variants": [{"subject": "Hi {{#if}}", "text": "x"}]}]})
    assert bad_tag.status_code == 400
    unknown = await client_a.post("/api/v1/sequences", headers=headers, json={"name": "x", "steps": [
        {"condition": "sometimes", "variants": [{"subject": "s", "text": "t"}]}]})
    assert unknown.status_code == 400
    created = await client_a.post("/api/v1/sequences", headers={**headers, "Idempotency-Key": "seq-1"}, json={
        "name": "Outbound", "steps": [step(1, "always", 0, thread="new"), step(2, "no_reply", 3)]})
    assert created.status_code == 201, created.text
    again = await client_a.post("/api/v1/sequences", headers={**headers, "Idempotency-Key": "seq-1"}, json={
        "name": "Outbound", "steps": [step(1, "always", 0, thread="new"), step(2, "no_reply", 3)]})
    assert again.json()["data"]["id"] == created.json()["data"]["id"]
    data = created.json()["data"]
    assert data["version"] == 1 and len(data["steps"]) == 2 and data["stopRules"]["reply"] is True
    listed = (await client_a.get("/api/v1/sequences")).json()
    assert listed["pagination"]["total"] == 1
    library = (await client_a.get("/api/v1/sequences/library")).json()["data"]
    assert len(library) >= 5
    installed = await client_a.post(f"/api/v1/sequences/library/{library[0]['slug']}/install", headers=headers)
    assert installed.status_code == 201
    steps = installed.json()["data"]["steps"]
    assert all(v["template"] for s in steps for v in s["variants"])
    assert len(steps[0]["variants"]) == 2
    missing = await client_a.post("/api/v1/sequences/library/nope/install", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "LIBRARY_SEQUENCE_NOT_FOUND"
    saved = await client_a.put(f"/api/v1/sequences/{data['id']}", headers=headers, json={"name": "Outbound v2"})
    assert saved.status_code == 200 and saved.json()["data"]["version"] == 2
    versions = (await client_a.get(f"/api/v1/sequences/{data['id']}/versions")).json()["data"]
    assert [v["version"] for v in versions] == [2, 1]


async def test_campaign_lifecycle_edit_preview_dry_run_and_timeline(client_a, tenant_a, no_scheduler):
    headers = await signed_in(client_a, tenant_a)
    pool = await _pool(tenant_a)
    leads = await _leads(tenant_a, 3)
    sequence = (await client_a.post("/api/v1/sequences", headers=headers, json={
        "name": "Outbound", "steps": [step(1, "always", 0, thread="new"), step(2, "no_reply", 3),
                                      step(3, "no_reply", 3)]})).json()["data"]
    bad_window = await client_a.post("/api/v1/campaigns", headers=headers, json={
        "name": "Q3", "sequence": sequence["id"], "pool": pool, "window": {"start": "18:00", "end": "09:00"}})
    assert bad_window.status_code == 400
    created = await client_a.post("/api/v1/campaigns", headers={**headers, "Idempotency-Key": "c-1"}, json={
        "name": "Q3", "sequence": sequence["id"], "pool": pool, "dailyNewLeads": 100,
        "window": {"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "23:59"}})
    assert created.status_code == 201, created.text
    campaign = created.json()["data"]
    assert campaign["status"] == "draft" and campaign["counts"]["leads"] == 0
    not_ready = await client_a.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=headers)
    assert not_ready.status_code == 400 and not_ready.json()["error"]["code"] == "CAMPAIGN_NOT_READY"
    added = await client_a.post(f"/api/v1/campaigns/{campaign['id']}/leads", headers=headers,
                                json={"kind": "ids", "ids": leads[:2] + [str(uuid.uuid4())]})
    assert added.json().get("data") == {"added": 2, "skipped": {"not_found": 1}}, added.text
    by_csv = await client_a.post(f"/api/v1/campaigns/{campaign['id']}/leads", headers=headers, json={
        "kind": "csv", "csv": "email,name\nLEAD1@customer.example.com,x\nlead2@customer.example.com,y\nnobody@x.example\n"})
    assert by_csv.json()["data"] == {"added": 1, "skipped": {"not_a_lead": 1, "already_enrolled": 1}}
    plan = (await client_a.get(f"/api/v1/campaigns/{campaign['id']}/dry-run?days=10")).json()["data"]
    assert sorted(s["step"] for s in plan["sends"]) == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    launched = await client_a.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=headers)
    assert launched.status_code == 200 and launched.json()["data"]["status"] == "active"
    twice = await client_a.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=headers)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "CAMPAIGN_STATE_CONFLICT"

    # An edit of the running sequence first shows the leads in flight, then applies.
    edit = {"steps": [step(1, "always", 0, thread="new"), step(3, "no_reply", 3)]}
    refused = await client_a.put(f"/api/v1/sequences/{sequence['id']}", headers=headers, json=edit)
    assert refused.status_code == 409
    preview = refused.json()["error"]["details"]["preview"]
    assert preview["leadsInFlight"] == 3 and preview["runningCampaigns"][0]["id"] == campaign["id"]
    applied = await client_a.put(f"/api/v1/sequences/{sequence['id']}", headers=headers, json={**edit, "confirm": True})
    assert applied.status_code == 200 and applied.json()["data"]["version"] == 2
    shown = (await client_a.get(f"/api/v1/campaigns/{campaign['id']}")).json()["data"]
    counts = shown["counts"]["enrollments"]
    assert shown["sequenceVersion"] == 2 and counts["waiting"] + counts["active"] == 3

    paused = await client_a.post("/api/v1/campaigns/bulk", headers=headers, json={"action": "pause", "ids": [campaign["id"]]})
    assert paused.json()["data"]["count"] == 1
    refused_bulk = await client_a.post("/api/v1/campaigns/bulk", headers=headers,
                                       json={"action": "pause", "ids": [campaign["id"]]})
    assert refused_bulk.status_code == 409
    assert (await client_a.post(f"/api/v1/campaigns/{campaign['id']}/resume", headers=headers)).status_code == 200
    enrollments = (await client_a.get(f"/api/v1/campaigns/{campaign['id']}/enrollments")).json()
    assert enrollments["pagination"]["total"] == 3
    first = enrollments["data"][0]
    timeline = (await client_a.get(f"/api/v1/campaigns/{campaign['id']}/enrollments/{first['id']}/timeline")).json()
    assert [s["status"] for s in timeline["data"]["steps"]][0] in ("next", "done")
    stopped = await client_a.post(f"/api/v1/campaigns/{campaign['id']}/enrollments/bulk", headers=headers,
                                  json={"action": "stop", "ids": [first["id"]]})
    assert stopped.json()["data"]["count"] == 1
    bad_state = await client_a.get(f"/api/v1/campaigns/{campaign['id']}/enrollments?state=nope")
    assert bad_state.status_code == 400


async def test_a_viewer_reads_but_cannot_launch(client_a, tenant_a, no_scheduler):
    headers = await signed_in(client_a, tenant_a, email="viewer@acme.example.com", role="viewer")
    assert (await client_a.get("/api/v1/campaigns")).status_code == 200
    refused = await client_a.post("/api/v1/sequences", headers=headers, json={
        "name": "x", "steps": [step(1, "always", 0, thread="new")]})
    assert refused.status_code == 403
