"""Exports of a tenant's audit log as JSON Lines or CSV, streamed in batches.

Both exports are async iterators of text chunks, one chunk per batch of rows, so a web response or
a file is written while the log is read and the log is never held in memory. Each batch is read in
its own short read-only tenant scope, up to the chain head seen when the export started: the
export is a consistent snapshot (entries are append-only), and no transaction stays open while a
slow client downloads. Iterate them with no tenant scope open, or inside a still-open scope of the
same tenant.

JSONL: one entry per line with every stored field, `hash` included, in chain order. A full
(unfiltered) export can be verified offline with `verify_jsonl`, given the chain key.
CSV: the same columns; `before`/`after` as JSON text; cells that a spreadsheet would run as a
formula (starting with = + - @ tab or CR) are prefixed with a single quote.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from salescopilot.audit.chain import (
    HASHED_FIELDS,
    ChainHead,
    ChainVerifier,
    VerifyResult,
    chain_key,
)
from salescopilot.audit.repository import AuditFilter, AuditRepository
from salescopilot.audit.service import entry_dict
from salescopilot.tenancy.context import TenantRef, tenant_scope

EXPORT_FIELDS: tuple[str, ...] = (*HASHED_FIELDS, "hash")
FORMATS = ("jsonl", "csv")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_BATCH_SIZE = 500


async def export_entries(
    tenant: TenantRef, filter: AuditFilter | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> AsyncIterator[list[dict[str, Any]]]:
    """Batches of matching entries (as `entry_dict`s), oldest first, up to today's head."""
    async with tenant_scope(tenant, write=False):
        head = await AuditRepository().head()
    if head is None:
        return
    filter = filter or AuditFilter()
    after = 0
    while True:
        async with tenant_scope(tenant, write=False):
            rows = await AuditRepository().export_batch(
                filter, after_seq=after, up_to_seq=head.seq, limit=batch_size
            )
        if not rows:
            return
        yield [entry_dict(row) for row in rows]
        after = rows[-1]["seq"]
        if len(rows) < batch_size or after >= head.seq:
            return


async def export_jsonl(
    tenant: TenantRef, filter: AuditFilter | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> AsyncIterator[str]:
    """The log as JSON Lines, one chunk per batch."""
    async for chunk in export_chunks(tenant, "jsonl", filter, batch_size=batch_size):
        yield chunk


async def export_csv(
    tenant: TenantRef, filter: AuditFilter | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> AsyncIterator[str]:
    """The log as CSV (RFC 4180, header row first), one chunk per batch."""
    async for chunk in export_chunks(tenant, "csv", filter, batch_size=batch_size):
        yield chunk


async def export_chunks(
    tenant: TenantRef,
    format: str,
    filter: AuditFilter | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> AsyncIterator[str]:
    """The log in `format` ("jsonl" or "csv"); raises ValueError for another format."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    if preamble(format):
        yield preamble(format)
    async for batch in export_entries(tenant, filter, batch_size=batch_size):
        yield render(format, batch)


def preamble(format: str) -> str:
    """What comes before the first entry: the CSV header row; nothing for JSONL."""
    return _csv_chunk([list(EXPORT_FIELDS)]) if format == "csv" else ""


def render(format: str, entries: list[dict[str, Any]]) -> str:
    """Entries (as `entry_dict`s) as one chunk of `format`."""
    if format == "csv":
        return _csv_chunk([[csv_cell(entry, name) for name in EXPORT_FIELDS] for entry in entries])
    return "".join(jsonl_line(entry) for entry in entries)


def jsonl_line(entry: dict[str, Any]) -> str:
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"


def csv_cell(entry: dict[str, Any], name: str) -> str:
    value = entry[name]
    if name in ("before", "after"):
        text = "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = "" if value is None else str(value)
    return defuse_formula(text)


def defuse_formula(text: str) -> str:
    """Prefix a cell a spreadsheet would evaluate with a quote, so it shows as text (OWASP)."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _csv_chunk(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def read_jsonl(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Entries from JSON Lines (blank lines skipped); raises ValueError naming a bad line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"line {number} is not JSON: {error.msg}") from None
        if not isinstance(entry, dict):
            raise ValueError(f"line {number} is not a JSON object")
        yield entry


def verify_jsonl(
    lines: Iterable[str], *, key: bytes | None = None, expected_head: ChainHead | None = None
) -> VerifyResult:
    """Verify the chain in a full JSONL export, away from the database (needs the chain key)."""
    verifier = ChainVerifier(key or chain_key(), expected_head=expected_head)
    try:
        for entry in read_jsonl(lines):
            if not verifier.check(entry):
                break
    except ValueError as error:
        return VerifyResult(
            ok=False, checked=verifier.checked, first_broken_seq=verifier.expected_seq,
            problem=str(error), code="malformed", head=verifier.last,
        )
    return verifier.result()
