"""JSONL and CSV exports: streamed in batches, round-trip exactly, verify offline, and cannot
smuggle spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import json

import pytest
from tests.integration.audit.audit_support import fill

from salescopilot.actor import Actor, acting_as
from salescopilot.audit.chain import chain_key
from salescopilot.audit.export import (
    EXPORT_FIELDS,
    export_chunks,
    export_csv,
    export_jsonl,
    verify_jsonl,
)
from salescopilot.audit.repository import AuditFilter, AuditRepository
from salescopilot.listing import ListQuery
from salescopilot.tenancy.context import tenant_scope


async def _collect(chunks) -> list[str]:
    return [chunk async for chunk in chunks]


async def _all_entries(audit, tenant) -> list[dict]:
    async with tenant_scope(tenant, write=False):
        page = await audit.list_entries(ListQuery(limit=200, sort="seq"))
    return page.items


async def test_jsonl_round_trips_and_verifies_offline(audit, tenant_a):
    await fill(audit, tenant_a, 7)
    chunks = await _collect(export_jsonl(tenant_a, batch_size=3))
    assert len(chunks) == 3  # 3 + 3 + 1 entries
    lines = "".join(chunks).splitlines(keepends=True)
    assert [json.loads(line) for line in lines] == await _all_entries(audit, tenant_a)
    assert list(json.loads(lines[0])) == list(EXPORT_FIELDS)

    result = verify_jsonl(lines)
    assert result.ok and result.checked == 7 and result.head == await audit.head(tenant_a)

    edited = json.loads(lines[4])
    edited["after"]["status"] = "won"
    tampered = [*lines[:4], json.dumps(edited) + "\n", *lines[5:]]
    broken = verify_jsonl(tampered)
    assert (broken.ok, broken.first_broken_seq, broken.code) == (False, 5, "altered")
    assert verify_jsonl(tampered, key=chain_key()).first_broken_seq == 5
    missing = verify_jsonl(lines[:3] + lines[4:])
    assert (missing.first_broken_seq, missing.code) == (4, "missing")
    assert verify_jsonl(lines[:3] + ["{not json\n"]).code == "malformed"
    assert verify_jsonl(lines[:2], key=b"wrong" * 8).first_broken_seq == 1


async def test_csv_defuses_formulas(audit, tenant_a):
    attacker = Actor(kind="user", id="=1+1", label="@SUM(A1:A9)", user_agent="\tcmd",
                     ip="-2+3", request_id="+cmd|' /C calc'!A0")
    with acting_as(attacker):
        async with tenant_scope(tenant_a):
            await audit.record(
                "lead.updated", target_type="=HYPERLINK(\"http://evil\")", target_id="\rx",
                before="=cmd", after={"note": "=2+2"},
            )
    text = "".join(await _collect(export_csv(tenant_a)))
    header, row = list(csv.reader(io.StringIO(text)))
    assert header == list(EXPORT_FIELDS)
    cells = dict(zip(header, row))
    assert cells["actor_id"] == "'=1+1"
    assert cells["actor_label"] == "'@SUM(A1:A9)"
    assert cells["user_agent"] == "'\tcmd"
    assert cells["ip"] == "'-2+3"
    assert cells["request_id"] == "'+cmd|' /C calc'!A0"
    assert cells["target_type"] == "'=HYPERLINK(\"http://evil\")"
    assert cells["target_id"] == "'\rx"
    assert cells["before"] == '"=cmd"' and json.loads(cells["after"]) == {"note": "=2+2"}
    dangerous = ("=", "+", "-", "@", "\t", "\r")
    assert not any(cell.startswith(dangerous) for cell in row)
    assert text.endswith("\r\n")


async def test_filtered_exports(audit, tenant_a):
    await fill(audit, tenant_a, 3, action="lead.updated")
    await fill(audit, tenant_a, 2, action="auth.sign_in")
    text = "".join(await _collect(export_jsonl(tenant_a, AuditFilter(action_prefix="auth."))))
    assert [json.loads(line)["seq"] for line in text.splitlines()] == [4, 5]
    empty = await _collect(export_csv(tenant_a, AuditFilter(action="nothing.here")))
    assert len(empty) == 1 and empty[0].startswith("id,tenant,seq")
    with pytest.raises(ValueError):
        await _collect(export_chunks(tenant_a, "xml"))


async def test_an_empty_log_exports_nothing(audit, tenant_a):
    assert await _collect(export_jsonl(tenant_a)) == []
    assert verify_jsonl([]).ok


@pytest.mark.slow
async def test_5000_entries_stream_in_batches(audit, tenant_a, monkeypatch):
    await fill(audit, tenant_a, 5000)
    batches: list[int] = []
    original = AuditRepository.export_batch

    async def spy(self, *args, **kwargs):
        rows = await original(self, *args, **kwargs)
        batches.append(len(rows))
        return rows

    monkeypatch.setattr(AuditRepository, "export_batch", spy)
    lines = 0
    async for chunk in export_jsonl(tenant_a, batch_size=500):
        # Each chunk is produced from one database batch, before the next one is read.
        assert len(batches) == lines // 500 + 1
        lines += chunk.count("\n")
    assert lines == 5000 and batches == [500] * 10
    csv_chunks = await _collect(export_csv(tenant_a, batch_size=1000))
    assert len(csv_chunks) == 1 + 5
    assert sum(chunk.count("\r\n") for chunk in csv_chunks) == 5001
    result = await audit.verify(tenant_a, batch_size=700)
    assert result.ok and result.checked == 5000
