"""Running a CSV import: the file streamed from its checkpoint in batches; each batch's leads,
skipped rows, counters and the new checkpoint commit in one transaction (`_commit_batch`), which
first claims the batch by comparing the checkpoint, so two runners never take the same rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import structlog

from salescopilot.addresses import check_address
from salescopilot.analytics.counters import counting
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.db.json_column import json_dict
from salescopilot.errors import DomainError
from salescopilot.leads.csv_reader import Record, read_records
from salescopilot.leads.fields import (
    MAX_CUSTOM_VALUE,
    TEXT_FIELDS,
    clean_tags,
    clean_text,
    clean_url,
    country_code,
    infer_timezone,
    valid_zone,
)
from salescopilot.leads.imports import (
    REASONS,
    ImportNotFound,
    ImportNotReady,
    ImportStateConflict,
    import_json,
    imports_dir,
)
from salescopilot.leads.repository import (
    LeadImportProblemRepository,
    LeadImportRepository,
    LeadListItemRepository,
    LeadRepository,
)
from salescopilot.leads.service import tags_list, tags_text
from salescopilot.leads.tables import STATUSES, LeadImport
from salescopilot.suppression.service import SuppressionService
from salescopilot.tenancy.context import TenantRef, tenant_scope

BATCH_SIZE = 1000

log = structlog.get_logger("salescopilot.leads")



@dataclass
class _Batch:
    records: list[Record]
    end_offset: int
    end_row: int
    inserts: list[tuple] = field(default_factory=list)
    updates: list[tuple[uuid.UUID, dict[str, Any]]] = field(default_factory=list)
    problems: list[tuple[int, str, str, str]] = field(default_factory=list)
    #: Ids of the leads this batch created or updated, for the import's list.
    touched: list[uuid.UUID] = field(default_factory=list)


class _RowReader:
    """The column values of a lead from a record's cells, as the mapping says."""

    def __init__(self, header: list[str], mapping: Mapping[str, str]) -> None:
        self.width = len(header)
        self.email_index = header.index(next(c for c in header if mapping[c] == "email"))
        self.fields = [(i, mapping[c]) for i, c in enumerate(header) if mapping[c] not in ("ignore", "email")]

    def values(self, cells: list[str]) -> tuple[str, dict[str, Any], dict[str, str], list[str], str]:
        """(email text, text fields, custom fields, tags, status) of a row."""
        email = cells[self.email_index] if self.email_index < len(cells) else ""
        texts: dict[str, Any] = {}
        custom: dict[str, str] = {}
        tags: list[str] = []
        status = ""
        for index, target in self.fields:
            if index >= len(cells):
                continue
            value = cells[index]
            if not value:
                continue
            if target.startswith("custom:"):
                custom[target[7:]] = clean_text(value, MAX_CUSTOM_VALUE)
            elif target == "tags":
                tags = clean_tags(value)
            elif target == "status":
                status = value.strip().lower().replace(" ", "_").replace("-", "_")
            elif target in ("website", "linkedin_url"):
                texts[target] = clean_url(value, TEXT_FIELDS[target][1])
            elif target == "country":
                texts[target] = country_code(clean_text(value, 100))
            else:
                texts[target] = clean_text(value, TEXT_FIELDS[target][1])
        return email, texts, custom, tags, status


async def run_import(
    tenant: TenantRef, import_id: uuid.UUID, *, clock: Clock, var_dir: Path,
    batch_size: int = BATCH_SIZE,
) -> dict[str, Any]:
    """Import the file from the last checkpoint to the end, one transaction per batch; returns
    the import as JSON. Safe to call again after a crash at any point (it resumes), and a no-op
    on a completed import."""
    async with tenant_scope(tenant):
        row = await LeadImportRepository().get(import_id)
        if row is None:
            raise ImportNotFound()
        if row.status == "uploaded":
            raise ImportNotReady()
        if row.status == "completed":
            return import_json(row)
        await LeadImportRepository().advance(import_id, {
            "status": "running", "error": "", "started_at": row.started_at or clock.now(),
        })
    header = json.loads(row.header) if isinstance(row.header, str) else row.header
    reader = _RowReader(header, json_dict(row.mapping))
    path = imports_dir(var_dir) / row.stored_name
    try:
        records = read_records(path, row.encoding, row.delimiter, row.checkpoint_offset, row.checkpoint_row)
        while True:
            batch = await anyio.to_thread.run_sync(_next_batch, records, batch_size)
            if batch is None:
                break
            async with tenant_scope(tenant):
                await _commit_batch(row, reader, batch, clock)
    except FileNotFoundError:
        return await _finish(tenant, import_id, clock, path, error="The uploaded file is gone.")
    except ImportStateConflict:
        # Another runner (a redelivered task) holds the import and carries on with it.
        async with tenant_scope(tenant):
            return import_json(await LeadImportRepository().get(import_id))
    except Exception as error:
        # The cause goes to the log (it may name SQL or paths); the user sees what to do.
        log.exception("lead_import.interrupted", import_id=str(import_id))
        message = error.message if isinstance(error, DomainError) else (
            "The import stopped unexpectedly. Resume it to continue from the last saved row."
        )
        async with tenant_scope(tenant):
            await LeadImportRepository().advance(import_id, {"status": "failed", "error": message[:500]})
        raise
    return await _finish(tenant, import_id, clock, path)


def _next_batch(records, size: int) -> _Batch | None:
    taken = []
    for record in records:
        taken.append(record)
        if len(taken) >= size:
            break
    if not taken:
        return None
    return _Batch(taken, taken[-1].end, taken[-1].row)


async def _commit_batch(row: LeadImport, reader: _RowReader, batch: _Batch, clock: Clock) -> None:
    imports = LeadImportRepository()
    start_row = batch.records[0].row - 1
    # Claim the batch first: if another runner moved the checkpoint, this transaction stops
    # before writing anything (on PostgreSQL the update waits for that runner's commit).
    claimed = await imports.update_where(
        {"checkpoint_offset": batch.end_offset, "checkpoint_row": batch.end_row},
        LeadImport.id == row.id, LeadImport.checkpoint_row == start_row,
    )
    if not claimed:
        raise ImportStateConflict("Another worker is running this import.")
    now = clock.now()
    import_tags = tags_list(row.tags)
    candidates: dict[str, tuple[int, str, dict, dict, list, str]] = {}
    for record in batch.records:
        if record.cells is None:
            batch.problems.append((record.row, record.problem, REASONS[record.problem], ""))
            continue
        if not any(cell.strip() for cell in record.cells):
            batch.problems.append((record.row, "empty_row", REASONS["empty_row"], ""))
            continue
        email_text, texts, custom, tags, status = reader.values(record.cells)
        shown = clean_text(email_text, 320)
        if len(record.cells) > reader.width and any(c.strip() for c in record.cells[reader.width:]):
            batch.problems.append((record.row, "too_many_columns", REASONS["too_many_columns"], shown))
            continue
        if not email_text.strip():
            batch.problems.append((record.row, "missing_email", REASONS["missing_email"], ""))
            continue
        email = check_address(email_text)
        if email is None:
            batch.problems.append((record.row, "invalid_email", REASONS["invalid_email"], shown))
            continue
        if status and status not in STATUSES:
            batch.problems.append((record.row, "invalid_status", REASONS["invalid_status"], shown))
            continue
        if email in candidates:
            batch.problems.append((record.row, "duplicate_in_file", REASONS["duplicate_in_file"], shown))
            continue
        candidates[email] = (record.row, email_text.strip()[:320], texts, custom, tags, status)
    blocked = await SuppressionService(clock).blocked(candidates)
    existing = await LeadRepository().existing([e for e in candidates if e not in blocked])
    for email, (number, original, texts, custom, tags, status) in candidates.items():
        if email in blocked:
            batch.problems.append((number, "suppressed", REASONS["suppressed"], original))
            continue
        found = existing.get(email)
        if found is not None:
            if found["last_import"] == row.id:
                batch.problems.append((number, "duplicate_in_file", REASONS["duplicate_in_file"], original))
            elif row.on_duplicate == "skip":
                batch.problems.append((number, "exists", REASONS["exists"], original))
            else:
                batch.updates.append((found["id"], {"texts": texts, "custom": custom,
                                                     "tags": tags + import_tags, "status": status}))
            continue
        zone = texts.get("timezone", "")
        if not valid_zone(zone):
            zone = infer_timezone(texts.get("country", ""), texts.get("phone", ""))
        lead_id = uuid.uuid4()
        batch.touched.append(lead_id)
        batch.inserts.append((
            lead_id, row.tenant, original, email, texts.get("first_name", ""),
            texts.get("last_name", ""), texts.get("company", ""), texts.get("title", ""),
            texts.get("phone", ""), texts.get("website", ""), texts.get("linkedin_url", ""), zone,
            texts.get("country", ""), json.dumps(custom, ensure_ascii=False),
            tags_text(clean_tags(tags + import_tags)), None, status or "new", row.id, now, now,
        ))
    leads = LeadRepository()
    await leads.insert_rows(batch.inserts)
    # A status given for an existing lead can book (or unbook) its meeting in analytics' counters.
    async with counting(leads=[lead_id for lead_id, change in batch.updates if change["status"]]):
        for lead_id, change in batch.updates:
            await _update_lead(leads, lead_id, change, row.id, now)
            batch.touched.append(lead_id)
    if batch.problems:
        await LeadImportProblemRepository().add_rows(row.id, batch.problems)
    if row.target_list and batch.touched:
        await LeadListItemRepository().add_leads(row.target_list, batch.touched, now)
    await imports.update_where(
        {
            "rows_processed": LeadImport.rows_processed + len(batch.records),
            "imported": LeadImport.imported + len(batch.inserts),
            "updated": LeadImport.updated + len(batch.updates),
            "skipped": LeadImport.skipped + len(batch.problems),
        },
        LeadImport.id == row.id,
    )


async def _update_lead(leads: LeadRepository, lead_id: uuid.UUID, change: dict, import_id: uuid.UUID, now) -> None:
    """Fill an existing lead from a row: given values win, empty cells keep what is there."""
    lead = await leads.get(lead_id)
    values: dict[str, Any] = dict(change["texts"])
    custom = json_dict(lead.custom_fields)
    custom.update(change["custom"])
    values["custom_fields"] = json.dumps(custom, ensure_ascii=False)
    if change["tags"]:
        values["tags"] = tags_text(clean_tags(tags_list(lead.tags) + change["tags"]))
    if change["status"]:
        values["status"] = change["status"]
    if "timezone" in values and not valid_zone(values["timezone"]):
        del values["timezone"]
    if not values.get("timezone") and not lead.timezone:
        values["timezone"] = infer_timezone(values.get("country", lead.country), values.get("phone", lead.phone))
    values.update(last_import=import_id, updated_at=now)
    await leads.update_fields(lead_id, values)


async def _finish(tenant: TenantRef, import_id: uuid.UUID, clock: Clock, path: Path, error: str = "") -> dict:
    async with tenant_scope(tenant):
        imports = LeadImportRepository()
        await imports.advance(import_id, {
            "status": "failed" if error else "completed", "error": error, "finished_at": clock.now(),
        })
        row = await imports.get(import_id)
        await AuditService(clock).record(
            "lead_import.failed" if error else "lead_import.completed", target_type="lead_import",
            target_id=str(import_id),
            after={"imported": row.imported, "updated": row.updated, "skipped": row.skipped},
        )
    path.unlink(missing_ok=True)
    return import_json(row)
