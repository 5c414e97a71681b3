"""CSV import: mapping, validation of every row, dedupe within the file and against the tenant,
the suppression list, lists and tags, the report of skipped rows, and the HTTP flow with the
background task."""

from __future__ import annotations

import asyncio
import csv
import io

from salescopilot.leads.repository import LeadRepository
from salescopilot.suppression.service import SuppressionService
from salescopilot.tenancy.context import tenant_scope
from tests.integration.leads.import_support import import_bytes, problems, start, upload
from tests.integration.web.web_support import assert_error


def _csv(rows: list[list[str]], delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode()


async def _leads(tenant) -> dict[str, dict]:
    async with tenant_scope(tenant):
        page = await LeadRepository().list_page(__import__("salescopilot.listing").listing.ListQuery(limit=200))
    return {row["email_normalised"]: row for row in page.items}


async def test_rows_are_imported_validated_and_deduplicated(settings, tenant_a):
    data = _csv([
        ["E-mail", "First Name", "Company", "Industry", "Country"],
        ["ana@example.com", "Ana", "Acme", "Logistics", "DE"],
        ["not an address", "Bad", "", "", ""],
        ["ANA@example.com", "Ana again", "", "", ""],
        ["", "No email", "", "", ""],
        ["bo@example.com", "Bo", "Initech", "=1+1", "France"],
        ["cy@example.com", "Cy", "", "", "", "surplus"],
        [],
    ], delimiter=";")
    result = await import_bytes(settings, tenant_a, data)
    assert result["status"] == "completed"
    assert (result["rowsProcessed"], result["imported"], result["updated"], result["skipped"]) == (7, 2, 0, 5)
    reasons = {row[0]: row[2] for row in await problems(settings, tenant_a, result["id"])}
    assert reasons == {"3": "invalid_email", "4": "duplicate_in_file", "5": "missing_email",
                       "7": "too_many_columns", "8": "empty_row"}
    leads = await _leads(tenant_a)
    assert set(leads) == {"ana@example.com", "bo@example.com"}
    assert leads["ana@example.com"]["timezone"] == "Europe/Berlin"
    assert leads["bo@example.com"]["country"] == "FR"
    assert "logistics" in leads["ana@example.com"]["custom_fields"].lower()


async def test_existing_leads_are_updated_or_skipped_as_chosen(settings, tenant_a):
    await import_bytes(settings, tenant_a, _csv([["email", "company"], ["dee@example.com", "Old"]]))
    skipped = await import_bytes(settings, tenant_a, _csv([["email", "company"], ["DEE@example.com", "New"]]),
                                 on_duplicate="skip")
    assert (skipped["imported"], skipped["updated"], skipped["skipped"]) == (0, 0, 1)
    assert (await _leads(tenant_a))["dee@example.com"]["company"] == "Old"
    updated = await import_bytes(settings, tenant_a, _csv([["email", "company", "title"], ["dee@example.com", "New", ""],
                                                           ["dee@example.com", "Newer", ""]]))
    assert (updated["imported"], updated["updated"], updated["skipped"]) == (0, 1, 1)
    assert (await _leads(tenant_a))["dee@example.com"]["company"] == "New"


async def test_duplicates_across_batches_are_caught(settings, tenant_a):
    rows = [["email"]] + [[f"u{i}@example.com"] for i in range(25)] + [["U3@example.com"]]
    result = await import_bytes(settings, tenant_a, _csv(rows), batch_size=4)
    assert (result["imported"], result["skipped"]) == (25, 1)


async def test_the_suppression_list_is_honoured(settings, tenant_a):
    async with tenant_scope(tenant_a):
        await SuppressionService().add("gone@example.com", reason="unsubscribe", source="test")
        await SuppressionService().add("blocked.example", reason="manual", source="test")
    result = await import_bytes(settings, tenant_a, _csv([["email"], ["Gone@example.com"], ["x@mail.blocked.example"],
                                                          ["ok@example.com"]]))
    assert (result["imported"], result["skipped"]) == (1, 2)
    assert {row[2] for row in await problems(settings, tenant_a, result["id"])} == {"suppressed"}


async def test_mapping_list_tags_and_saved_mappings(settings, tenant_a):
    from salescopilot.clock import system_clock
    from salescopilot.leads.imports import ImportService
    from salescopilot.leads.service import LeadService

    async with tenant_scope(tenant_a):
        lead_list = await LeadService(clock=system_clock).create_list("Imported")
    data = _csv([["Work mail", "Given", "Notes", "Skip me"], ["eve@example.com", "Eve", "met at expo", "x"]])
    row = await upload(settings, tenant_a, data)
    assert row.delimiter == ","
    mapping = {"Work mail": "email", "Given": "first_name", "Notes": "custom:note", "Skip me": "ignore"}
    await start(settings, tenant_a, row.id, mapping=mapping, list_id=lead_list.id, tags=["Expo"],
                save_mapping_as="Expo export")
    from salescopilot.leads.import_runner import run_import

    result = await run_import(tenant_a, row.id, clock=system_clock, var_dir=settings.var_dir)
    assert result["imported"] == 1
    eve = (await _leads(tenant_a))["eve@example.com"]
    assert eve["first_name"] == "Eve" and eve["tags"] == ",expo," and "skip" not in eve["custom_fields"]
    async with tenant_scope(tenant_a):
        assert await LeadService(clock=system_clock).lists_of(eve["id"]) == [lead_list.id]
    # The saved mapping is suggested for the next file with these columns.
    again = await upload(settings, tenant_a, data)
    assert __import__("json").loads(again.mapping) == mapping
    async with tenant_scope(tenant_a):
        saved = await ImportService(clock=system_clock, var_dir=settings.var_dir).saved_mappings()
    assert [m["name"] for m in saved] == ["Expo export"]


async def test_a_mapping_without_email_is_refused(settings, tenant_a):
    from salescopilot.errors import ValidationFailed

    row = await upload(settings, tenant_a, _csv([["a", "b"], ["x@example.com", "y"]]))
    try:
        await start(settings, tenant_a, row.id, mapping={"a": "first_name", "b": "ignore"})
    except ValidationFailed as error:
        assert error.code == "INVALID_IMPORT_MAPPING"
    else:
        raise AssertionError("a mapping without email was accepted")


async def test_the_http_flow_upload_start_progress_report(client_a, owner):
    data = _csv([["email", "name"], ["h1@example.com", "H"], ["bad", "B"], ["h2@example.com", "=cmd|' /C calc'!A0"]])
    uploaded = await client_a.post("/api/v1/lead-imports?filename=people.csv", content=data,
                                   headers={**owner.headers, "Content-Type": "text/csv"})
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()["data"]
    assert body["status"] == "uploaded" and body["header"] == ["email", "name"]
    assert body["mapping"] == {"email": "email", "name": "custom:name"}
    started = await client_a.post(f"/api/v1/lead-imports/{body['id']}/start", json={"onDuplicate": "skip"},
                                  headers=owner.headers)
    assert started.status_code == 202, started.text
    for _ in range(200):
        state = (await client_a.get(f"/api/v1/lead-imports/{body['id']}", headers=owner.headers)).json()["data"]
        if state["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.05)
    assert state["status"] == "completed", state
    assert (state["imported"], state["skipped"], state["skippedByReason"]) == (2, 1, {"invalid_email": 1})
    report = await client_a.get(f"/api/v1/lead-imports/{body['id']}/report", headers=owner.headers)
    assert list(csv.reader(io.StringIO(report.text))) == [
        ["row", "email", "reason", "detail"], ["3", "bad", "invalid_email", "The email address is not valid."]
    ]
    again = await client_a.post(f"/api/v1/lead-imports/{body['id']}/start", json={}, headers=owner.headers)
    assert_error(again, 409, "LEAD_IMPORT_STATE")
    listed = (await client_a.get("/api/v1/lead-imports", headers=owner.headers)).json()
    assert listed["pagination"]["total"] == 1


async def test_an_empty_upload_is_refused_and_leaves_nothing(client_a, owner, settings):
    response = await client_a.post("/api/v1/lead-imports", content=b"", headers=owner.headers)
    assert_error(response, 400, "IMPORT_FILE_EMPTY")
    response = await client_a.post("/api/v1/lead-imports", content=b"\n\n  \n", headers=owner.headers)
    assert_error(response, 400, "IMPORT_FILE_EMPTY")
    assert list((settings.var_dir / "imports").iterdir()) == []
    listed = (await client_a.get("/api/v1/lead-imports", headers=owner.headers)).json()
    assert listed["pagination"]["total"] == 0


async def test_an_upload_retried_with_its_idempotency_key_makes_one_import(client_a, owner, settings):
    headers = {**owner.headers, "Idempotency-Key": "upload-1"}
    data = _csv([["email"], ["i@example.com"]])
    first = await client_a.post("/api/v1/lead-imports", content=data, headers=headers)
    second = await client_a.post("/api/v1/lead-imports", content=data, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["data"]["id"] == second.json()["data"]["id"]
    assert len(list((settings.var_dir / "imports").iterdir())) == 1


async def test_uploads_may_be_larger_than_other_request_bodies(client_a, owner, settings):
    rows = [["email", "notes"]] + [[f"big{i}@example.com", "x" * 200] for i in range(15_000)]
    data = _csv(rows)
    assert len(data) > 3 * settings.max_request_body
    response = await client_a.post("/api/v1/lead-imports", content=data, headers=owner.headers)
    assert response.status_code == 201, response.text[:300]
    assert response.json()["data"]["sizeBytes"] == len(data)
    other = await client_a.post("/api/v1/leads", content=b'{"email": "' + b"a" * len(data) + b'"}',
                                headers={**owner.headers, "Content-Type": "application/json"})
    assert other.status_code == 413
