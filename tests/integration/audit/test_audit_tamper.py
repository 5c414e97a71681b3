"""Tampering straight in the database: `verify` catches each change and names the first broken
entry; the app's own connection cannot change the log at all."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest
from tests.integration.audit.audit_support import Tamper, fill

from salescopilot.audit.chain import ChainHead, canonical_json, chain_fields
from salescopilot.audit.service import AuditService
from salescopilot.audit.tables import AuditEntry
from salescopilot.db.schema import schema_statements
from salescopilot.tenancy.context import TenantRef, tenant_scope

WHERE = "WHERE tenant = ? AND seq = ?"


async def _tampered(audit: AuditService, tamper: Tamper, tenant: TenantRef, *statements):
    await fill(audit, tenant, 6)
    assert (await audit.verify(tenant)).ok
    await tamper.execute(*statements)
    return await audit.verify(tenant, batch_size=2)


async def test_an_edited_entry_is_named(audit, tamper, tenant_a):
    after = json.dumps({"status": "contacted", "n": 999})
    result = await _tampered(
        audit, tamper, tenant_a,
        (f"UPDATE audit_entry SET after = ? {WHERE}", (after, tenant_a.id, 4)),
    )
    assert not result.ok
    assert (result.first_broken_seq, result.code, result.checked) == (4, "altered", 3)
    assert "entry 4" in result.problem


async def test_an_edited_actor_is_named(audit, tamper, tenant_a):
    result = await _tampered(
        audit, tamper, tenant_a,
        (f"UPDATE audit_entry SET actor_label = ? {WHERE}", ("mallory@evil.test", tenant_a.id, 2)),
    )
    assert (result.ok, result.first_broken_seq, result.code) == (False, 2, "altered")


async def test_a_deleted_entry_is_named(audit, tamper, tenant_a):
    result = await _tampered(
        audit, tamper, tenant_a, (f"DELETE FROM audit_entry {WHERE}", (tenant_a.id, 3))
    )
    assert (result.ok, result.first_broken_seq, result.code) == (False, 3, "missing")
    assert result.head == ChainHead(2, result.head.hash)


async def test_a_deleted_and_renumbered_tail_is_named(audit, tamper, tenant_a):
    result = await _tampered(
        audit, tamper, tenant_a,
        (f"DELETE FROM audit_entry {WHERE}", (tenant_a.id, 3)),
        ("UPDATE audit_entry SET seq = seq - 1 WHERE tenant = ? AND seq > 3", (tenant_a.id,)),
    )
    assert (result.ok, result.first_broken_seq, result.code) == (False, 3, "altered")


async def test_reordered_entries_are_named(audit, tamper, tenant_a):
    # Swap the positions of entries 3 and 4 (through a free seq: the unique index holds).
    result = await _tampered(
        audit, tamper, tenant_a,
        (f"UPDATE audit_entry SET seq = -1 {WHERE}", (tenant_a.id, 3)),
        (f"UPDATE audit_entry SET seq = 3 {WHERE}", (tenant_a.id, 4)),
        (f"UPDATE audit_entry SET seq = 4 {WHERE}", (tenant_a.id, -1)),
    )
    assert (result.ok, result.first_broken_seq, result.code) == (False, 3, "altered")


async def test_a_forged_row_is_named(audit, tamper, tenant_a):
    await fill(audit, tenant_a, 6)
    head = await audit.head(tenant_a)
    forged = await _forged_row(tamper, tenant_a, template_seq=6, seq=7, prev_hash=head.hash)
    await _insert(tamper, forged)
    result = await audit.verify(tenant_a)
    assert (result.ok, result.first_broken_seq, result.code, result.checked) == (
        False, 7, "altered", 6
    )


@pytest.mark.parametrize("batch_size", [2, 3, 1000])
async def test_a_forged_row_at_a_taken_position_is_named(audit, tamper, tenant_a, batch_size):
    """Even with the unique (tenant, seq) index dropped, a second row at seq 3 is caught, also
    where it falls on a batch boundary."""
    await fill(audit, tenant_a, 6)
    original = await tamper.fetch_row(tenant_a, 3)
    forged = await _forged_row(tamper, tenant_a, template_seq=3, seq=3,
                               prev_hash=original["prev_hash"])
    await tamper.execute(("DROP INDEX audit_entry_tenant_seq_uniq", ()))
    try:
        await _insert(tamper, forged)
        result = await audit.verify(tenant_a, batch_size=batch_size)
    finally:
        # The PostgreSQL test database outlives this test: put the index back.
        await tamper.execute(
            ("DELETE FROM audit_entry WHERE id = ?", (_uuid_arg(tamper, forged["id"]),)),
            (_unique_index_sql(tamper), ()),
        )
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert result.code in ("altered", "duplicate")


async def test_a_forged_row_before_the_first_is_named(audit, tamper, tenant_a):
    await fill(audit, tenant_a, 3)
    forged = await _forged_row(tamper, tenant_a, template_seq=1, seq=-1, prev_hash="0" * 64)
    await _insert(tamper, forged)
    result = await audit.verify(tenant_a)
    assert (result.ok, result.first_broken_seq, result.code) == (False, -1, "misplaced")


async def test_a_removed_tail_is_caught_against_a_recorded_head(audit, tamper, tenant_a):
    await fill(audit, tenant_a, 6)
    anchor = await audit.head(tenant_a)
    await tamper.execute(
        ("DELETE FROM audit_entry WHERE tenant = ? AND seq > ?", (tenant_a.id, 4))
    )
    # Without an anchor a shorter chain is still a valid chain: that is why heads are recorded.
    assert (await audit.verify(tenant_a)).ok
    result = await audit.verify(tenant_a, expected_head=anchor)
    assert (result.ok, result.first_broken_seq, result.code) == (False, 5, "truncated")
    # A longer, intact chain still matches an older anchor.
    assert (await audit.verify(tenant_a, expected_head=ChainHead(4, result.head.hash))).ok


async def test_a_rewritten_history_differs_from_the_recorded_head(audit, tamper, tenant_a):
    await fill(audit, tenant_a, 3)
    result = await audit.verify(tenant_a, expected_head=ChainHead(2, "f" * 64))
    assert (result.ok, result.first_broken_seq, result.code) == (False, 2, "anchor_mismatch")


async def test_the_app_connection_cannot_update_or_delete_entries(audit, tenant_a):
    await fill(audit, tenant_a, 2)
    attempts = [
        AuditEntry.update({AuditEntry.action: "lead.deleted"}).where(AuditEntry.seq == 1),
        AuditEntry.delete().where(AuditEntry.seq == 2),
        AuditEntry.raw("UPDATE audit_entry SET actor_label = 'x'"),
        AuditEntry.raw("DELETE FROM audit_entry"),
    ]
    for attempt in attempts:
        with pytest.raises(Exception) as caught:
            async with tenant_scope(tenant_a):
                await attempt
        message = str(caught.value).lower()
        assert "append-only" in message or "permission denied" in message, message
    assert (await audit.verify(tenant_a)).checked == 2


async def test_the_app_connection_cannot_empty_the_table(audit, tenant_a, tamper):
    """TRUNCATE on PostgreSQL; SQLite has none, its equivalent is an unqualified DELETE (whose
    truncate optimisation SQLite skips when a DELETE trigger exists)."""
    await fill(audit, tenant_a, 1)
    statement = "TRUNCATE audit_entry" if tamper.postgres else "DELETE FROM audit_entry"
    with pytest.raises(Exception, match="(?i)permission denied|append-only"):
        async with tenant_scope(tenant_a):
            await AuditEntry.raw(statement)
    assert (await audit.head(tenant_a)).seq == 1


async def _forged_row(tamper: Tamper, tenant: TenantRef, *, template_seq: int, seq: int,
                      prev_hash: str) -> dict:
    """A plausible row written by someone without the chain key (they hash with plain SHA-256
    and, for good measure, with a guessed key)."""
    row = await tamper.fetch_row(tenant, template_seq)
    row.update(id=str(uuid.uuid4()), seq=seq, prev_hash=prev_hash, action="team.role_changed",
               after=json.dumps({"role": "owner"}))
    fields = chain_fields({**row, "before": json.loads(row["before"]),
                           "after": json.loads(row["after"])})
    row["hash"] = hmac.new(b"guessed-key", canonical_json(fields), hashlib.sha256).hexdigest()
    return row


async def _insert(tamper: Tamper, row: dict) -> None:
    columns = list(row)
    values = []
    for name in columns:
        value = row[name]
        if name in ("id", "tenant") and tamper.postgres:
            value = uuid.UUID(str(value))
        if name in ("before", "after") and not isinstance(value, (str, type(None))):
            value = json.dumps(value)
        values.append(value)
    placeholders = ", ".join("?" for _ in columns)
    await tamper.execute(
        (f"INSERT INTO audit_entry ({', '.join(map(_quote, columns))}) VALUES ({placeholders})",
         tuple(values))
    )


def _unique_index_sql(tamper: Tamper) -> str:
    return next(
        sql for sql in schema_statements(postgres=tamper.postgres)
        if "audit_entry_tenant_seq_uniq" in sql
    )


def _uuid_arg(tamper: Tamper, value) -> object:
    return uuid.UUID(str(value)) if tamper.postgres else str(value)


def _quote(name: str) -> str:
    return f'"{name}"'
