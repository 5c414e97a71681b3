"""The audit log's rules: record an entry in the chain, verify a chain, read filtered pages.

Recording happens inside the caller's `tenant_scope`, in the same transaction as the change it
describes, so both commit or neither does. Who acted, from where, comes from the `Actor` context
(`salescopilot.actor`), set by the web middleware, tasks and the CLI.

Secrets never reach the log: in `before`/`after`, the value of every key whose name contains
password, passwd, passphrase, secret, token, key_hash, totp or private_key (any case, at any depth)
is replaced by "[redacted]". Booleans and nulls are kept: they carry no secret, and whether
two-factor was switched off (`totp_enabled: false`) is exactly what an auditor needs to see.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

from salescopilot.actor import current_actor
from salescopilot.audit.chain import (
    GENESIS_HASH,
    ChainHead,
    ChainVerifier,
    VerifyResult,
    canonical_time,
    chain_key,
    entry_hash,
)
from salescopilot.audit.repository import AuditFilter, AuditRepository
from salescopilot.audit.tables import AuditEntry
from salescopilot.clock import Clock, system_clock
from salescopilot.db.engine import get_engine
from salescopilot.errors import NotFound, ValidationFailed
from salescopilot.listing import MAX_LIMIT, ListQuery, Page
from salescopilot.tenancy.context import TenantRef, current_tenant, tenant_scope

REDACTED = "[redacted]"
SECRET_KEY_NAMES = re.compile(
    r"password|passwd|passphrase|secret|token|key_hash|totp|private_key", re.IGNORECASE
)
#: A before/after snapshot longer than this (as JSON) is replaced by a note of its size.
MAX_SNAPSHOT_CHARS = 64 * 1024

ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
ACTOR_KINDS = ("user", "api_key", "scim_token", "system", "anonymous")
#: Keys a list's `ListQuery.filters` may carry (the API's query parameters).
FILTER_FIELDS = (
    "actor", "actor_id", "actor_kind", "action", "target_type", "target_id", "from", "to",
)
SORT_FIELDS = AuditRepository.sortable

_MAX_LENGTHS = {
    "actor_kind": 20, "actor_id": 100, "actor_label": 320, "target_type": 63,
    "target_id": 320, "ip": 64, "user_agent": 1000, "request_id": 100,
}


class AuditEntryNotFound(NotFound):
    code = "AUDIT_ENTRY_NOT_FOUND"
    default_message = "Audit entry not found."


class AuditOutsideTransaction(RuntimeError):
    """`record` was called without an open tenant transaction to join."""


class AuditService:
    """Record, verify and read the current tenant's audit log."""

    def __init__(self, clock: Clock = system_clock, *, key: bytes | None = None) -> None:
        self.clock = clock
        self._key = key

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = chain_key()
        return self._key

    async def record(
        self,
        action: str,
        *,
        target_type: str,
        target_id: str,
        before: Any = None,
        after: Any = None,
    ) -> AuditEntry:
        """Append an entry to the current tenant's chain, in the current transaction.

        Must run inside `tenant_scope` (raises `TenantNotResolved` otherwise, and
        `AuditOutsideTransaction` if no transaction is open). `before`/`after` are made
        JSON-safe and redacted; strings are trimmed to their column sizes.
        """
        if not isinstance(action, str) or len(action) > 100 or not ACTION_PATTERN.match(action):
            raise ValueError(f"audit action must look like 'noun.verb', got {action!r}")
        tenant = current_tenant()
        if get_engine().current_transaction.get() is None:
            raise AuditOutsideTransaction("record an audit entry inside a tenant_scope")
        actor = current_actor()
        repository = AuditRepository()
        head = await repository.lock_chain_and_read_head()
        fields: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "tenant": str(tenant.id),
            "seq": head.seq + 1 if head else 1,
            "occurred_at": canonical_time(self.clock.now()),
            "actor_kind": _text(actor.kind, "actor_kind"),
            "actor_id": _text(actor.id, "actor_id"),
            "actor_label": _text(actor.label, "actor_label") or "",
            "action": action,
            "target_type": _text(target_type, "target_type") or "",
            "target_id": _text(target_id, "target_id") or "",
            "before": snapshot(before),
            "after": snapshot(after),
            "ip": _text(actor.ip, "ip"),
            "user_agent": _text(actor.user_agent, "user_agent"),
            "request_id": _text(actor.request_id, "request_id") or "",
            "prev_hash": head.hash if head else GENESIS_HASH,
        }
        digest = entry_hash(self.key, fields)
        entry = AuditEntry(
            **{
                **fields,
                "id": uuid.UUID(fields["id"]),
                "tenant": tenant.id,
                "occurred_at": dt.datetime.fromisoformat(fields["occurred_at"]),
                "before": _json_or_none(fields["before"]),
                "after": _json_or_none(fields["after"]),
                "hash": digest,
            }
        )
        return await repository.append(entry)

    async def head(self, tenant: TenantRef | None = None) -> ChainHead | None:
        """The newest entry of the tenant's chain (current tenant by default); None if empty."""
        async with tenant_scope(tenant or current_tenant(), write=False):
            return await AuditRepository().head()

    async def verify(
        self,
        tenant: TenantRef | None = None,
        *,
        expected_head: ChainHead | None = None,
        batch_size: int = 1000,
    ) -> VerifyResult:
        """Walk the tenant's chain in seq order, `batch_size` rows at a time, and name the first
        broken entry. With `expected_head` (recorded earlier, outside the database) it also
        detects removal of the newest entries and a rewritten history up to that point."""
        tenant = tenant or current_tenant()
        batch_size = max(batch_size, 2)
        verifier = ChainVerifier(self.key, expected_head=expected_head, tenant=tenant.id)
        async with tenant_scope(tenant, write=False):
            repository = AuditRepository()
            last_id = None
            while True:
                # Each batch starts again at the last checked seq (>=, not >): a forged row that
                # shares that seq (once someone dropped the unique index) is read and caught
                # rather than skipped. The one row already checked is passed over.
                start = None if verifier.last is None else verifier.last.seq
                rows = await repository.chain_batch(start, batch_size)
                fresh = [row for row in rows if row["id"] != last_id]
                for row in fresh:
                    if not verifier.check(row):
                        return verifier.result()
                if len(rows) < batch_size or not fresh:
                    return verifier.result()
                last_id = fresh[-1]["id"]

    async def list_entries(self, query: ListQuery) -> Page[dict]:
        """One page of the current tenant's entries, newest first unless `query.sort` is set.

        `query.filters` may hold the keys of `FILTER_FIELDS` as strings (from query parameters)
        or typed values; anything invalid raises `ValidationFailed` naming the field.
        """
        if query.page < 1 or not 1 <= query.limit <= MAX_LIMIT:
            raise ValidationFailed(
                "page must be >= 1 and limit between 1 and %d" % MAX_LIMIT,
                details={"page": query.page, "limit": query.limit},
            )
        if query.sort is not None and query.sort not in SORT_FIELDS:
            raise ValidationFailed(
                "cannot sort by that field", details={"sort": query.sort, "allowed": SORT_FIELDS}
            )
        page = await AuditRepository().page(parse_filters(query.filters), query)
        return Page(items=[entry_dict(row) for row in page.items], total=page.total, query=query)

    async def get_entry(self, entry_id: uuid.UUID) -> dict:
        row = await AuditRepository().by_id(entry_id)
        if row is None:
            raise AuditEntryNotFound()
        return entry_dict(row)


def entry_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """An entry as plain JSON values (ids and times as strings), fields in export order."""
    return {
        "id": str(row["id"]),
        "tenant": str(row["tenant"]),
        "seq": row["seq"],
        "occurred_at": canonical_time(row["occurred_at"]),
        **{
            name: row[name]
            for name in (
                "actor_kind", "actor_id", "actor_label", "action", "target_type", "target_id",
                "before", "after", "ip", "user_agent", "request_id", "prev_hash", "hash",
            )
        },
    }


# -- filters ------------------------------------------------------------------------------------


def parse_filters(filters: Mapping[str, Any]) -> AuditFilter:
    """Validate list/export filters from untrusted input; raises `ValidationFailed`."""
    unknown = sorted(set(filters) - set(FILTER_FIELDS))
    if unknown:
        raise ValidationFailed(
            "unknown filter", details={"unknown": unknown, "allowed": list(FILTER_FIELDS)}
        )
    values: dict[str, Any] = {}
    for name in ("actor", "actor_id", "target_type", "target_id"):
        if filters.get(name) not in (None, ""):
            values[name] = _filter_text(name, filters[name], 320)
    kind = filters.get("actor_kind")
    if kind not in (None, ""):
        if kind not in ACTOR_KINDS:
            raise ValidationFailed(
                "unknown actor kind", details={"field": "actor_kind", "allowed": ACTOR_KINDS}
            )
        values["actor_kind"] = kind
    action = filters.get("action")
    if action not in (None, ""):
        action = _filter_text("action", action, 100)
        if not re.fullmatch(r"[a-z0-9_.]+\*?", action):
            raise ValidationFailed(
                "an action is lower-case words and dots, optionally ending in '.' or '*'",
                details={"field": "action"},
            )
        if action.endswith(("*", ".")):
            values["action_prefix"] = action.rstrip("*")
        else:
            values["action"] = action
    for name, attribute in (("from", "occurred_from"), ("to", "occurred_to")):
        if filters.get(name) not in (None, ""):
            values[attribute] = _filter_time(name, filters[name])
    start, end = values.get("occurred_from"), values.get("occurred_to")
    if start is not None and end is not None and start > end:
        raise ValidationFailed("'from' is after 'to'", details={"field": "from"})
    return AuditFilter(**values)


def _filter_text(name: str, value: Any, max_length: int) -> str:
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise ValidationFailed(
            f"{name} must be text of at most {max_length} characters", details={"field": name}
        )
    return value


def _filter_time(name: str, value: Any) -> dt.datetime:
    """A datetime, a date (midnight) or ISO 8601 text; without a zone it is taken as UTC."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        try:
            text = _filter_text(name, value, 40).strip().replace("Z", "+00:00")
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationFailed(
                f"{name} must be an ISO 8601 date or time", details={"field": name}
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


# -- snapshots ----------------------------------------------------------------------------------


def snapshot(value: Any) -> Any:
    """`value` as JSON-safe data with secrets redacted; None stays None.

    Oversized snapshots are replaced by `{"omitted": "too large", "chars": n}` so one bulk change
    cannot bloat the log.
    """
    if value is None:
        return None
    data = _jsonable(value)
    size = len(json.dumps(data, ensure_ascii=False))
    if size > MAX_SNAPSHOT_CHARS:
        return {"omitted": "too large", "chars": size}
    return data


def _jsonable(value: Any, depth: int = 0) -> Any:
    if depth > 32:
        return "[too deep]"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # Outside 64 bits some JSON readers (and databases) lose precision: keep it as text.
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            name = _clean(str(key.value if isinstance(key, enum.Enum) else key))
            secret = SECRET_KEY_NAMES.search(name) and not isinstance(item, (bool, type(None)))
            result[name] = REDACTED if secret else _jsonable(item, depth + 1)
        return result
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(item, depth + 1) for item in items]
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, depth + 1)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    return _clean(str(value))


def _clean(text: str) -> str:
    """Text any database stores and any reader decodes: no NUL, no lone surrogates."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _text(value: Any, column: str) -> str | None:
    if value is None:
        return None
    return _clean(str(value))[: _MAX_LENGTHS[column]]


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)
