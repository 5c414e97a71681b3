"""The filtered, paginated list of the console/API, and tenant isolation of the log."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from tests.integration.audit.audit_support import ALICE, fill

from salescopilot.actor import Actor, acting_as
from salescopilot.audit.service import AuditEntryNotFound
from salescopilot.audit.tables import AuditEntry
from salescopilot.errors import ValidationFailed
from salescopilot.listing import ListQuery
from salescopilot.tenancy.context import tenant_scope

BOB = Actor(kind="api_key", id="key-7", label="CI deploy key", request_id="req-bob")


async def _mixed_log(audit, tenant):
    """Eight entries at 09:00:00 .. 09:00:07 from two actors and three actions."""
    plan = [
        (ALICE, "auth.sign_in", "user", "u-alice"),
        (ALICE, "team.role_changed", "membership", "m-1"),
        (BOB, "lead.updated", "lead", "l-1"),
        (ALICE, "auth.sign_in_failed", "user", "u-alice"),
        (BOB, "lead.updated", "lead", "l-2"),
        (ALICE, "authx.other", "thing", "t-1"),
        (BOB, "team_admin.x", "thing", "t-2"),
        (ALICE, "auth.sign_out", "user", "u-alice"),
    ]
    async with tenant_scope(tenant):
        for actor, action, target_type, target_id in plan:
            with acting_as(actor):
                await audit.record(action, target_type=target_type, target_id=target_id)
            audit.clock.advance(seconds=1)


async def _seqs(audit, tenant, **query) -> list[int]:
    async with tenant_scope(tenant, write=False):
        page = await audit.list_entries(ListQuery(**query))
    return [entry["seq"] for entry in page.items]


async def test_newest_first_with_pagination(audit, tenant_a):
    await _mixed_log(audit, tenant_a)
    async with tenant_scope(tenant_a, write=False):
        first = await audit.list_entries(ListQuery(page=1, limit=3))
        last = await audit.list_entries(ListQuery(page=3, limit=3))
    assert [e["seq"] for e in first.items] == [8, 7, 6]
    assert [e["seq"] for e in last.items] == [2, 1]
    assert first.envelope()["pagination"] == {"page": 1, "limit": 3, "total": 8, "totalPages": 3}
    assert await _seqs(audit, tenant_a, sort="occurred_at", limit=3) == [1, 2, 3]
    assert await _seqs(audit, tenant_a, sort="seq", descending=True, limit=2) == [8, 7]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"action": "lead.updated"}, [5, 3]),
        ({"action": "auth."}, [8, 4, 1]),
        ({"action": "auth.*"}, [8, 4, 1]),
        ({"action": "auth"}, []),
        ({"action": "team_"}, []),  # '_' is not a wildcard
        ({"action": "team_*"}, [7]),
        ({"actor_id": "key-7"}, [7, 5, 3]),
        ({"actor": "ALICE@acme"}, [8, 6, 4, 2, 1]),
        ({"actor": "deploy"}, [7, 5, 3]),
        ({"actor": "%"}, []),
        ({"actor_kind": "api_key"}, [7, 5, 3]),
        ({"target_type": "user", "target_id": "u-alice"}, [8, 4, 1]),
        ({"from": "2026-01-05T09:00:02Z", "to": "2026-01-05T09:00:04+00:00"}, [4, 3]),
        ({"from": "2026-01-05T10:00:06+01:00"}, [8, 7]),
        ({"to": "2026-01-05"}, []),
        ({"from": dt.datetime(2026, 1, 5, 9, 0, 7, tzinfo=dt.UTC), "action": "auth."}, [8]),
        ({"action": "", "actor": None}, [8, 7, 6, 5, 4, 3, 2, 1]),
    ],
)
async def test_filters(audit, tenant_a, filters, expected):
    await _mixed_log(audit, tenant_a)
    assert await _seqs(audit, tenant_a, filters=filters, limit=50) == expected


@pytest.mark.parametrize(
    "query",
    [
        ListQuery(filters={"password": "x"}),
        ListQuery(filters={"action": "DROP TABLE"}),
        ListQuery(filters={"action": "a" * 101}),
        ListQuery(filters={"actor": 5}),
        ListQuery(filters={"actor": "x\x00"}),
        ListQuery(filters={"actor_kind": "root"}),
        ListQuery(filters={"from": "yesterday"}),
        ListQuery(filters={"from": "2026-02-01", "to": "2026-01-01"}),
        ListQuery(sort="hash"),
        ListQuery(page=0),
        ListQuery(limit=0),
        ListQuery(limit=10_000),
    ],
)
async def test_bad_queries_are_validation_errors(audit, tenant_a, query):
    async with tenant_scope(tenant_a, write=False):
        with pytest.raises(ValidationFailed) as caught:
            await audit.list_entries(query)
    assert caught.value.code == "VALIDATION_ERROR" and caught.value.details


async def test_tenants_see_and_verify_only_their_own_log(audit, tenant_a, tenant_b, tamper):
    await fill(audit, tenant_a, 3)
    async with tenant_scope(tenant_b, write=False):
        page = await audit.list_entries(ListQuery())
        assert page.total == 0 and page.items == []
        # On PostgreSQL even a query without the repository's tenant filter sees nothing of A:
        # row-level security is the backstop.
        if tamper.postgres:
            assert await AuditEntry.select().where(AuditEntry.seq > 0) == []
    assert await audit.head(tenant_b) is None

    await fill(audit, tenant_b, 2)
    b_head = await audit.head(tenant_b)
    assert b_head.seq == 2  # B's chain starts at 1, independent of A's
    async with tenant_scope(tenant_a, write=False):
        a_entry = (await audit.list_entries(ListQuery(limit=1))).items[0]
    async with tenant_scope(tenant_b, write=False):
        with pytest.raises(AuditEntryNotFound):
            await audit.get_entry(uuid.UUID(a_entry["id"]))

    await tamper.execute(
        ("UPDATE audit_entry SET action = ? WHERE tenant = ? AND seq = ?",
         ("lead.deleted", tenant_a.id, 2))
    )
    broken, intact = await audit.verify(tenant_a), await audit.verify(tenant_b)
    assert (broken.ok, broken.first_broken_seq) == (False, 2)
    assert (intact.ok, intact.checked) == (True, 2)


async def test_a_row_moved_to_another_tenant_breaks_both_chains(audit, tenant_a, tenant_b, tamper):
    await fill(audit, tenant_a, 2)
    await fill(audit, tenant_b, 2)
    await tamper.execute(
        ("DELETE FROM audit_entry WHERE tenant = ? AND seq = 2", (tenant_b.id,)),
        ("UPDATE audit_entry SET tenant = ? WHERE tenant = ? AND seq = 2",
         (tenant_b.id, tenant_a.id)),
    )
    a, b = await audit.verify(tenant_a), await audit.verify(tenant_b)
    assert (a.ok, b.ok) == (True, False)  # A lost its newest entry: only an anchor shows that
    assert (b.first_broken_seq, b.code) == (2, "altered")
