"""A crash in the middle of an import loses only the batch in flight: resumed, the import
neither skips nor duplicates a row (leads, skipped rows and counters alike)."""

from __future__ import annotations

import csv
import io

import pytest

from salescopilot.clock import system_clock
from salescopilot.leads import imports
from salescopilot.leads.import_runner import run_import
from salescopilot.leads.repository import LeadImportProblemRepository, LeadRepository
from salescopilot.tenancy.context import tenant_scope
from tests.integration.leads.import_support import problems, start, upload
from tests.tenancy.isolation_seed import OwnerDatabase


class Crash(Exception):
    pass


def _file(rows: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "first name", "notes"])
    for i in range(rows):
        # Every 7th row is bad, every 11th repeats an earlier address; notes span lines.
        email = "broken" if i % 7 == 3 else f"r{i if i % 11 != 5 else i - 1}@example.com"
        writer.writerow([email, f"Name {i}", f"line one\nline two of {i}"])
    return buffer.getvalue().encode()


@pytest.mark.parametrize("crash_in", ["insert", "problems"])
async def test_an_import_resumes_after_a_crash_without_duplicates(settings, tenant_a, monkeypatch, crash_in):
    data = _file(100)
    row = await upload(settings, tenant_a, data)
    await start(settings, tenant_a, row.id)
    calls = {"n": 0}
    target = (LeadRepository, "insert_rows") if crash_in == "insert" else (LeadImportProblemRepository, "add_rows")
    original = getattr(*target)

    async def crashing(self, *args, **kwargs):
        calls["n"] += 1
        await original(self, *args, **kwargs)
        if calls["n"] == 3:
            raise Crash("worker died mid-batch")

    monkeypatch.setattr(*target, crashing)
    with pytest.raises(Crash):
        await run_import(tenant_a, row.id, clock=system_clock, var_dir=settings.var_dir, batch_size=10)
    database = OwnerDatabase(settings)
    after_crash = await database.fetch(
        "SELECT status, checkpoint_row, rows_processed, error FROM lead_import WHERE id = {}", row.id
    )
    assert after_crash[0][0] == "failed" and "worker died" not in after_crash[0][3]
    assert after_crash[0][3].startswith("The import stopped unexpectedly")
    # Two whole batches committed, the third rolled back with its checkpoint.
    assert after_crash[0][1] == 1 + after_crash[0][2] and after_crash[0][2] in (20, 30)
    monkeypatch.setattr(*target, original)

    result = await run_import(tenant_a, row.id, clock=system_clock, var_dir=settings.var_dir, batch_size=10)
    assert result["status"] == "completed"
    bad = sum(1 for i in range(100) if i % 7 == 3)
    repeated = sum(1 for i in range(100) if i % 11 == 5 and i % 7 != 3 and (i - 1) % 7 != 3)
    assert result["rowsProcessed"] == 100
    assert result["imported"] == 100 - bad - repeated
    assert result["skipped"] == bad + repeated
    report = await problems(settings, tenant_a, row.id)
    assert len(report) == result["skipped"] == len({r[0] for r in report})
    leads = await database.fetch("SELECT COUNT(*), COUNT(DISTINCT email_normalised) FROM lead WHERE tenant = {}", tenant_a.id)
    assert leads[0] == (result["imported"], result["imported"])
    # Running it again is a no-op.
    assert (await run_import(tenant_a, row.id, clock=system_clock, var_dir=settings.var_dir))["imported"] == result["imported"]


async def test_a_second_runner_cannot_take_a_batch_twice(settings, tenant_a):
    """The batch claim compares the checkpoint: a runner holding a stale one writes nothing."""
    from salescopilot.leads.import_runner import _Batch, _commit_batch, _RowReader
    from salescopilot.leads.imports import ImportStateConflict
    from salescopilot.leads.csv_reader import read_records
    from salescopilot.leads.repository import LeadImportRepository

    row = await upload(settings, tenant_a, _file(5))
    await start(settings, tenant_a, row.id)
    records = list(read_records(imports.imports_dir(settings.var_dir) / row.stored_name, row.encoding,
                                row.delimiter, row.checkpoint_offset, row.checkpoint_row))
    reader = _RowReader(["email", "first name", "notes"], {"email": "email", "first name": "first_name", "notes": "custom:notes"})
    async with tenant_scope(tenant_a):
        fresh = await LeadImportRepository().get(row.id)
        await _commit_batch(fresh, reader, _Batch(records, records[-1].end, records[-1].row), system_clock)
    with pytest.raises(ImportStateConflict):
        async with tenant_scope(tenant_a):
            await _commit_batch(fresh, reader, _Batch(records, records[-1].end, records[-1].row), system_clock)
    database = OwnerDatabase(settings)
    assert (await database.fetch("SELECT COUNT(*) FROM lead WHERE tenant = {}", tenant_a.id))[0][0] == 4
