"""`salescopilot audit ...` through click's CliRunner, against the test database."""

from __future__ import annotations

import asyncio
import json

from tests.integration.audit.audit_support import Tamper, fill, make_tenant
from click.testing import CliRunner

from salescopilot.audit.chain import ChainHead
from salescopilot.audit.export import verify_jsonl
from salescopilot.audit.service import AuditService
from salescopilot.cli import main
from salescopilot.clock import FakeClock
from salescopilot.db.engine import start_database, stop_database
from salescopilot.listing import ListQuery
from salescopilot.settings import get_settings
from salescopilot.tenancy.context import tenant_scope


def _in_database(make_coroutine):
    """Run a coroutine with the app engine up, the way the CLI itself does (sync tests only:
    the CLI runs its own event loop)."""

    async def body():
        await start_database(get_settings())
        try:
            return await make_coroutine()
        finally:
            await stop_database()

    return asyncio.run(body())


def _two_tenants():
    async def setup():
        acme, globex = await make_tenant("acme"), await make_tenant("globex")
        await fill(AuditService(FakeClock()), acme, 5)
        await fill(AuditService(FakeClock()), globex, 2)
        return acme, globex

    return _in_database(setup)


def test_verify_passes_then_names_the_first_broken_entry(settings, database_url):
    acme, _ = _two_tenants()
    runner = CliRunner()
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "acme: ok (5 entries, head 5:" in result.output
    assert "globex: ok (2 entries" in result.output

    asyncio.run(Tamper(database_url).execute(
        ("DELETE FROM audit_entry WHERE tenant = ? AND seq = ?", (acme.id, 3))
    ))
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 1
    assert "acme: BROKEN at entry 3 (missing)" in result.output
    assert "globex: ok (2 entries" in result.output
    assert "1 of 2 audit chain(s) broken" in result.output

    only_globex = runner.invoke(main, ["audit", "verify", "--tenant", "globex"])
    assert only_globex.exit_code == 0 and "acme" not in only_globex.output


def test_verify_catches_an_edit_and_a_truncation_against_a_head(settings, database_url):
    acme, _ = _two_tenants()
    runner = CliRunner()
    head = runner.invoke(main, ["audit", "head", "--tenant", "acme"])
    assert head.exit_code == 0
    anchor = ChainHead.parse(head.output)
    assert anchor.seq == 5

    tamper = Tamper(database_url)
    asyncio.run(tamper.execute(
        ("DELETE FROM audit_entry WHERE tenant = ? AND seq = ?", (acme.id, 5))
    ))
    assert runner.invoke(main, ["audit", "verify", "--tenant", "acme"]).exit_code == 0
    result = runner.invoke(
        main, ["audit", "verify", "--tenant", "acme", "--expect-head", str(anchor)]
    )
    assert result.exit_code == 1 and "BROKEN at entry 5 (truncated)" in result.output

    asyncio.run(tamper.execute(
        ("UPDATE audit_entry SET target_id = ? WHERE tenant = ? AND seq = ?", ("x", acme.id, 2))
    ))
    result = runner.invoke(main, ["audit", "verify", "--tenant", "acme"])
    assert result.exit_code == 1 and "BROKEN at entry 2 (altered)" in result.output


def test_bad_arguments_are_usage_errors(settings, database_url):
    _two_tenants()
    runner = CliRunner()
    unknown = runner.invoke(main, ["audit", "verify", "--tenant", "nope"])
    assert unknown.exit_code == 2 and "no tenant with slug 'nope'" in unknown.output
    bad_head = runner.invoke(main, ["audit", "verify", "--tenant", "acme", "--expect-head", "x"])
    assert bad_head.exit_code == 2 and "SEQ:HASH" in bad_head.output
    no_tenant = runner.invoke(main, ["audit", "verify", "--expect-head", "1:" + "a" * 64])
    assert no_tenant.exit_code == 2
    bad_format = runner.invoke(main, ["audit", "export", "--tenant", "acme", "--format", "xml"])
    assert bad_format.exit_code == 2


def test_export_writes_files_and_is_itself_audited(settings, database_url, tmp_path):
    acme, _ = _two_tenants()
    runner = CliRunner()
    jsonl = tmp_path / "acme.jsonl"
    result = runner.invoke(main, ["audit", "export", "--tenant", "acme", "--output", str(jsonl)])
    assert result.exit_code == 0, result.output
    assert "exported 5 entries" in result.output
    lines = jsonl.read_text(encoding="utf-8").splitlines(keepends=True)
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert verify_jsonl(lines).ok

    csv_file = tmp_path / "acme.csv"
    result = runner.invoke(
        main, ["audit", "export", "--tenant", "acme", "--format", "csv", "--output", str(csv_file)]
    )
    assert result.exit_code == 0, result.output
    assert "exported 6 entries" in result.output  # the first export is in the log now
    assert csv_file.read_bytes().startswith(b"id,tenant,seq,occurred_at,")

    stdout = runner.invoke(main, ["audit", "export", "--tenant", "globex"])
    assert stdout.exit_code == 0 and stdout.output.count('"tenant":') == 2

    async def exports():
        async with tenant_scope(acme, write=False):
            query = ListQuery(filters={"action": "audit.exported"})
            page = await AuditService().list_entries(query)
            return page.items

    entries = _in_database(exports)
    assert [e["after"]["format"] for e in entries] == ["csv", "jsonl"]
    assert {(e["actor_kind"], e["actor_label"]) for e in entries} == {("system", "cli")}
    assert (_in_database(lambda: AuditService().verify(acme))).ok


def test_verify_file_checks_an_export_offline(settings, database_url, tmp_path):
    _two_tenants()
    runner = CliRunner()
    export = tmp_path / "acme.jsonl"
    assert runner.invoke(
        main, ["audit", "export", "--tenant", "acme", "--output", str(export)]
    ).exit_code == 0
    assert not (tmp_path / "acme.jsonl.part").exists()
    ok = runner.invoke(main, ["audit", "verify-file", str(export)])
    assert ok.exit_code == 0 and "acme.jsonl: ok (5 entries, head 5:" in ok.output

    lines = export.read_text(encoding="utf-8").splitlines(keepends=True)
    edited = json.loads(lines[1])
    edited["actor_label"] = "someone-else@acme.test"
    export.write_text("".join([lines[0], json.dumps(edited) + "\n", *lines[2:]]), "utf-8")
    broken = runner.invoke(main, ["audit", "verify-file", str(export)])
    assert broken.exit_code == 1 and "BROKEN at entry 2 (altered)" in broken.output

    export.write_text("".join(lines[:3]), "utf-8")
    last = json.loads(lines[4])
    anchor = ChainHead(last["seq"], last["hash"])
    cut = runner.invoke(main, ["audit", "verify-file", str(export), "--expect-head", str(anchor)])
    assert cut.exit_code == 1 and "BROKEN at entry 4 (truncated)" in cut.output


def test_verify_with_no_tenants_says_so(settings, database_url):
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 0 and "no tenants" in result.output


def test_a_failed_export_leaves_no_file(settings, database_url, tmp_path, monkeypatch):
    _two_tenants()

    async def failing(tenant, *args, **kwargs):
        yield [{"seq": 1}]
        raise ConnectionError("database went away")

    monkeypatch.setattr("salescopilot.audit.cli.export_entries", failing)
    output = tmp_path / "acme.jsonl"
    result = CliRunner().invoke(
        main, ["audit", "export", "--tenant", "acme", "--output", str(output)]
    )
    assert result.exit_code != 0 and isinstance(result.exception, ConnectionError)
    assert not output.exists() and not (tmp_path / "acme.jsonl.part").exists()
