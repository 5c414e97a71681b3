"""CSV import of leads: upload (streamed to the var dir), detection, column mapping (saved
mappings; unknown columns become custom fields), progress and the report of skipped rows. The
import itself runs in `import_runner.run_import`: batches that each commit their leads, skipped
rows and the import's checkpoint in one transaction, so a crash loses at most the batch in
flight and a resumed import neither skips nor duplicates a row."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from salescopilot.audit.export import defuse_formula
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.db.json_column import json_dict
from salescopilot.errors import Conflict, DomainError, NotFound, ValidationFailed
from salescopilot.leads.csv_reader import inspect_file
from salescopilot.leads.fields import IMPORT_TARGETS, clean_tags, clean_text, custom_key, suggest_target
from salescopilot.leads.repository import (
    LeadImportMappingRepository,
    LeadImportProblemRepository,
    LeadImportRepository,
    LeadListRepository,
)
from salescopilot.leads.service import tags_list, tags_text
from salescopilot.leads.tables import LeadImport
from salescopilot.listing import ListQuery, Page

#: Largest upload accepted, bytes (a million rows of ten columns is about 100 MB).
MAX_UPLOAD_BYTES = 1 << 30
ON_DUPLICATE = ("update", "skip")
#: Why a row was skipped, as the report names it.
REASONS = {
    "invalid_email": "The email address is not valid.",
    "missing_email": "The row has no email address.",
    "duplicate_in_file": "The address appears earlier in this file.",
    "exists": "A lead with this address exists and the import skips existing leads.",
    "suppressed": "The address is on the suppression list.",
    "too_many_columns": "The row has more cells than the header has columns.",
    "malformed_row": "The row is not valid CSV (an unclosed quote, a NUL byte, ...).",
    "row_too_large": "The row is larger than 1 MiB.",
    "invalid_status": "The status is not one of the lead statuses.",
    "empty_row": "The row is empty.",
}


class ImportNotFound(NotFound):
    code = "LEAD_IMPORT_NOT_FOUND"
    default_message = "No such import."


class ImportFileTooLarge(ValidationFailed):
    code = "IMPORT_FILE_TOO_LARGE"
    status_code = 413
    default_message = "The file is larger than the import limit."


class ImportStateConflict(Conflict):
    code = "LEAD_IMPORT_STATE"
    default_message = "The import cannot do that in its current state."


class ImportNotReady(DomainError):
    """The task ran before the request that queued it committed: retried shortly."""

    code = "LEAD_IMPORT_NOT_READY"
    status_code = 503


class InvalidMapping(ValidationFailed):
    code = "INVALID_IMPORT_MAPPING"
    default_message = "The column mapping is not valid."


def imports_dir(var_dir: Path) -> Path:
    folder = Path(var_dir) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def suggested_mapping(header: list[str], saved: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each column's likely target; a saved mapping wins for the columns it names. The first
    column suggesting a field takes it; later ones become custom fields."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column in header:
        target = (saved or {}).get(column) or suggest_target(column)
        if target in taken and not target.startswith("custom:") and target != "ignore":
            target = "custom:" + custom_key(column)
        taken.add(target)
        mapping[column] = target
    return mapping


def check_mapping(header: list[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """A complete mapping for `header` (columns not named are custom fields), with exactly one
    email column and no field mapped twice."""
    unknown = [c for c in mapping if c not in header]
    if unknown:
        raise InvalidMapping("The mapping names columns the file does not have.",
                             details={"columns": unknown[:20]})
    result, seen = {}, set()
    for column in header:
        target = mapping.get(column) or "custom:" + custom_key(column)
        if target.startswith("custom:"):
            target = "custom:" + custom_key(target.removeprefix("custom:"))
        elif target != "ignore" and target not in IMPORT_TARGETS:
            raise InvalidMapping(f"Unknown target {target!r} for column {column!r}.",
                                 details={"column": column})
        if target != "ignore":
            if target in seen:
                raise InvalidMapping(f"Two columns map to {target}.", details={"target": target})
            seen.add(target)
        result[column] = target
    if "email" not in seen:
        raise InvalidMapping("Map one column to email.", details={"target": "email"})
    return result


def import_json(row: LeadImport | Mapping[str, Any]) -> dict[str, Any]:
    get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name)
    when = lambda value: value.isoformat() if value else None  # noqa: E731
    header = get("header")
    header = json.loads(header) if isinstance(header, str) else header or []
    return {
        "id": str(get("id")),
        "status": get("status"),
        "filename": get("filename"),
        "sizeBytes": get("size_bytes"),
        "encoding": get("encoding"),
        "delimiter": get("delimiter"),
        "header": header,
        "mapping": json_dict(get("mapping")),
        "onDuplicate": get("on_duplicate"),
        "listId": str(get("target_list")) if get("target_list") else None,
        "tags": tags_list(get("tags")),
        "rowsProcessed": get("rows_processed"),
        "imported": get("imported"),
        "updated": get("updated"),
        "skipped": get("skipped"),
        "error": get("error") or None,
        "createdAt": when(get("created_at")),
        "startedAt": when(get("started_at")),
        "finishedAt": when(get("finished_at")),
    }


@dataclass
class ReceivedUpload:
    path: Path
    size: int
    sha256: str
    #: Set once an import row owns the file; until then `discard` deletes it.
    kept: bool = False

    def discard(self) -> None:
        if not self.kept:
            self.path.unlink(missing_ok=True)


class ImportService:
    """Upload, mapping and progress of imports, in the current tenant scope."""

    SORTABLE = LeadImportRepository.sortable

    def __init__(self, *, clock: Clock, var_dir: Path) -> None:
        self.clock = clock
        self.var_dir = Path(var_dir)
        self.imports = LeadImportRepository()
        self.mappings = LeadImportMappingRepository()
        self.problems = LeadImportProblemRepository()

    async def receive(self, chunks: AsyncIterable[bytes], max_bytes: int = MAX_UPLOAD_BYTES) -> ReceivedUpload:
        """Write an upload to the var dir chunk by chunk (never whole in memory)."""
        path = imports_dir(self.var_dir) / f"incoming-{uuid.uuid4().hex}.csv"
        digest = hashlib.sha256()
        size = 0
        try:
            with open(path, "wb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise ImportFileTooLarge(details={"maxBytes": max_bytes})
                    digest.update(chunk)
                    handle.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return ReceivedUpload(path, size, digest.hexdigest())

    async def register(
        self, filename: str, received: ReceivedUpload, *, created_by: uuid.UUID | None
    ) -> LeadImport:
        """Detect the received file's format, keep it under its import's name, and suggest a
        mapping (a saved one when it names these columns)."""
        stored_name = f"{uuid.uuid4().hex}.csv"
        path = imports_dir(self.var_dir) / stored_name
        received.path.rename(path)
        received.path = path
        detected = await anyio.to_thread.run_sync(inspect_file, path)
        saved = await self._saved_for(detected.header)
        row = LeadImport(
            filename=clean_text(Path(filename or "upload.csv").name, 255) or "upload.csv",
            stored_name=stored_name,
            size_bytes=received.size,
            encoding=detected.encoding,
            delimiter=detected.delimiter,
            header=json.dumps(detected.header),
            mapping=json.dumps(suggested_mapping(detected.header, saved)),
            checkpoint_offset=detected.data_offset,
            checkpoint_row=1,  # the header
            created_by=created_by,
            created_at=self.clock.now(),
        )
        await self.imports.add(row)
        received.kept = True
        await AuditService(self.clock).record(
            "lead_import.uploaded", target_type="lead_import", target_id=str(row.id),
            after={"filename": row.filename, "size": received.size, "encoding": detected.encoding},
        )
        return row

    async def upload(
        self, filename: str, chunks: AsyncIterable[bytes], *, created_by: uuid.UUID | None
    ) -> LeadImport:
        """`receive` then `register` (the page's upload and the tests use this)."""
        received = await self.receive(chunks)
        try:
            return await self.register(filename, received, created_by=created_by)
        finally:
            received.discard()

    async def get(self, import_id: uuid.UUID) -> LeadImport:
        row = await self.imports.get(import_id)
        if row is None:
            raise ImportNotFound()
        return row

    async def page(self, query: ListQuery) -> Page[dict]:
        return await self.imports.list_page(query)

    async def start(
        self, import_id: uuid.UUID, *, mapping: Mapping[str, str] | None, on_duplicate: str,
        list_id: uuid.UUID | None, tags: list[str], save_mapping_as: str = "",
    ) -> LeadImport:
        """Fix the mapping and options and mark the import queued (the caller enqueues it)."""
        row = await self.get(import_id)
        if row.status != "uploaded":
            raise ImportStateConflict("This import has started already.")
        if on_duplicate not in ON_DUPLICATE:
            raise ValidationFailed("onDuplicate is update or skip.", details={"field": "onDuplicate"})
        header = json.loads(row.header) if isinstance(row.header, str) else row.header
        chosen = check_mapping(header, mapping if mapping is not None else json_dict(row.mapping))
        if list_id is not None and await LeadListRepository().get(list_id) is None:
            raise ValidationFailed("No such list.", details={"field": "listId"})
        if save_mapping_as.strip():
            await self.mappings.save_named(clean_text(save_mapping_as, 100), chosen, self.clock.now())
        await self.imports.advance(row.id, {
            "mapping": json.dumps(chosen), "on_duplicate": on_duplicate, "target_list": list_id,
            "tags": tags_text(clean_tags(tags)), "status": "queued",
        })
        await AuditService(self.clock).record(
            "lead_import.started", target_type="lead_import", target_id=str(row.id),
            after={"onDuplicate": on_duplicate},
        )
        return await self.get(row.id)

    async def mark_for_resume(self, import_id: uuid.UUID) -> LeadImport:
        row = await self.get(import_id)
        if row.status not in ("failed", "running", "queued"):
            raise ImportStateConflict("Only a failed or interrupted import can be resumed.")
        await self.imports.advance(row.id, {"status": "queued", "error": ""})
        return await self.get(row.id)

    async def saved_mappings(self) -> list[dict]:
        return [{"id": str(m.id), "name": m.name, "mapping": json_dict(m.mapping)}
                for m in await self.mappings.all()]

    async def reasons(self, import_id: uuid.UUID) -> dict[str, int]:
        await self.get(import_id)
        return await self.problems.reasons(import_id)

    async def report_csv(self, import_id: uuid.UUID) -> AsyncIterator[str]:
        """The skipped rows and why, as CSV chunks (safe to open in a spreadsheet)."""
        await self.get(import_id)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["row", "email", "reason", "detail"])
        async for rows in self.problems.stream(import_id):
            for row in rows:
                writer.writerow([row["row_number"], defuse_formula(row["email"] or ""),
                                 row["reason"], defuse_formula(row["detail"] or "")])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        if buffer.getvalue():
            yield buffer.getvalue()

    async def _saved_for(self, header: list[str]) -> dict[str, str]:
        """The saved mapping naming most of these columns, if any."""
        best: dict[str, str] = {}
        for saved in await self.mappings.all():
            mapping = json_dict(saved.mapping)
            if len(set(mapping) & set(header)) > len(set(best) & set(header)):
                best = mapping
        return best
