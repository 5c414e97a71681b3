"""The tenant's daily quota over all mailboxes, set through the API: audited, refused when out of
range, changed only by managers (the claim holding it: tests/integration/outbox)."""

from __future__ import annotations

from salescopilot.audit.repository import AuditRepository
from salescopilot.tenancy.context import tenant_scope
from tests.integration.mailboxes.conftest import VIEWER, signed_in


async def test_the_quota_is_set_cleared_audited_and_only_by_managers(client_a, tenant_a, no_scheduler):
    headers = await signed_in(client_a, tenant_a)
    assert (await client_a.get("/api/v1/sending-policy")).json()["data"] == {"daily_quota": None}
    changed = await client_a.put("/api/v1/sending-policy", json={"daily_quota": 250}, headers=headers)
    assert changed.status_code == 200, changed.text
    assert (await client_a.get("/api/v1/sending-policy")).json()["data"] == {"daily_quota": 250}
    for bad in ({"daily_quota": -1}, {"daily_quota": "lots"}, {"quota": 5}):
        refused = await client_a.put("/api/v1/sending-policy", json=bad, headers=headers)
        assert refused.status_code == 400, refused.text
    assert (await client_a.put("/api/v1/sending-policy", json={"daily_quota": None}, headers=headers)).status_code == 200
    async with tenant_scope(tenant_a, write=False):
        actions = [e["action"] for e in (await AuditRepository().chain_batch(None, 100))]
    assert actions.count("sending_policy.changed") == 2


async def test_a_viewer_reads_the_quota_but_cannot_change_it(client_a, tenant_a, no_scheduler):
    headers = await signed_in(client_a, tenant_a, VIEWER, "viewer")
    assert (await client_a.get("/api/v1/sending-policy")).status_code == 200
    refused = await client_a.put("/api/v1/sending-policy", json={"daily_quota": 1}, headers=headers)
    assert refused.status_code == 403

