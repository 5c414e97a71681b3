"""Queries of the audit log: chain head and append, chain-order batches, filtered pages.

The only code that reads `audit_entry` (an architecture test checks it). Rows leave as dicts with
`before`/`after` already parsed from JSON.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from piccolo.columns.combination import WhereRaw

from salescopilot.audit.chain import ChainHead
from salescopilot.audit.tables import AuditEntry
from salescopilot.db.engine import advisory_lock_key, is_postgres
from salescopilot.listing import ListQuery, Page
from salescopilot.tenancy.repository import TenantRepository


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries a list or export covers; every field optional, all given ones must match."""

    #: Case-insensitive part of the actor's label (an email, a key name, "cli").
    actor: str | None = None
    actor_id: str | None = None
    actor_kind: str | None = None
    #: Exact action ("auth.sign_in").
    action: str | None = None
    #: Action prefix ("auth." matches auth.sign_in, auth.sign_in_failed, ...).
    action_prefix: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    #: Inclusive lower and exclusive upper bound on `occurred_at` (timezone-aware).
    occurred_from: dt.datetime | None = None
    occurred_to: dt.datetime | None = None


_HEAD = 'SELECT "seq", "hash" FROM "audit_entry" WHERE "tenant" = {} ORDER BY "seq" DESC LIMIT 1'


class AuditRepository(TenantRepository[AuditEntry]):
    table = AuditEntry
    sortable: ClassVar[tuple[str, ...]] = ("seq", "occurred_at")
    default_sort: ClassVar[str] = "seq"

    # -- the chain ------------------------------------------------------------------------------

    async def lock_chain(self) -> None:
        """Serialise appends to this tenant's chain until the current transaction ends.

        PostgreSQL: a transaction-level advisory lock keyed by the tenant, taken on the tenant
        scope's connection (`Table.raw` runs on the current transaction). SQLite needs none: a
        write transaction already excludes every other writer. The unique (tenant, seq) index
        backs both up: a lost race fails loudly instead of forking the chain.
        """
        if is_postgres(AuditEntry._meta.db):
            await AuditEntry.raw("select pg_advisory_xact_lock({})", _lock_key(self.tenant_id))

    async def lock_chain_and_read_head(self) -> ChainHead | None:
        """`lock_chain()`, then `head()`: what an append needs. On PostgreSQL one round trip
        (`salescopilot_audit_head`, see `salescopilot.db.schema`)."""
        if not is_postgres(AuditEntry._meta.db):
            return await self.head()  # SQLite: the write transaction is the lock
        rows = await AuditEntry.raw(
            "SELECT seq, hash FROM salescopilot_audit_head({}, {})",
            self.tenant_id, _lock_key(self.tenant_id),
        )
        return ChainHead(rows[0]["seq"], rows[0]["hash"]) if rows else None

    async def head(self) -> ChainHead | None:
        # Read on every append: a fixed statement instead of one built per call.
        rows = await AuditEntry.raw(_HEAD, self.tenant_id)
        return ChainHead(rows[0]["seq"], rows[0]["hash"]) if rows else None

    async def append(self, entry: AuditEntry) -> AuditEntry:
        return await self.add(entry)

    async def chain_batch(self, from_seq: int | None, limit: int) -> list[dict]:
        """Up to `limit` entries with seq >= `from_seq` (None: from the very first, whatever its
        seq), in seq order: a range scan of the (tenant, seq) index, so a long walk stays linear."""
        conditions = [] if from_seq is None else [AuditEntry.seq >= from_seq]
        return await (
            AuditEntry.select()
            .output(load_json=True)
            .where(self._where(*conditions))
            .order_by(AuditEntry.seq)
            .limit(limit)
        )

    # -- reading --------------------------------------------------------------------------------

    async def export_batch(
        self, filter: AuditFilter, *, after_seq: int, up_to_seq: int, limit: int
    ) -> list[dict]:
        """Entries matching `filter` with after_seq < seq <= up_to_seq, oldest first."""
        conditions = [*filter_conditions(filter), AuditEntry.seq > after_seq,
                      AuditEntry.seq <= up_to_seq]
        return await (
            AuditEntry.select()
            .output(load_json=True)
            .where(self._where(*conditions))
            .order_by(AuditEntry.seq)
            .limit(limit)
        )

    async def page(self, filter: AuditFilter, query: ListQuery) -> Page[dict]:
        """One page of matching entries; `query.sort` None means newest first."""
        where = self._where(*filter_conditions(filter))
        if query.sort is None:
            sort, ascending = AuditEntry.seq, False
        else:
            sort, ascending = self._col(query.sort), not query.descending
        rows = await (
            AuditEntry.select()
            .output(load_json=True)
            .where(where)
            .order_by(sort, ascending=ascending)
            .order_by(AuditEntry.seq, ascending=ascending)
            .limit(query.limit)
            .offset(query.offset)
        )
        total = await AuditEntry.count().where(where)
        return Page(items=rows, total=total, query=query)

    async def by_id(self, entry_id: uuid.UUID) -> dict | None:
        return await (
            AuditEntry.select()
            .output(load_json=True)
            .where(self._where(AuditEntry.id == entry_id))
            .first()
        )


def filter_conditions(filter: AuditFilter) -> list[Any]:
    conditions: list[Any] = []
    equal = {
        AuditEntry.actor_id: filter.actor_id,
        AuditEntry.actor_kind: filter.actor_kind,
        AuditEntry.action: filter.action,
        AuditEntry.target_type: filter.target_type,
        AuditEntry.target_id: filter.target_id,
    }
    conditions += [column == value for column, value in equal.items() if value is not None]
    if filter.action_prefix:
        # substr, not LIKE: '_' in action names is a LIKE wildcard and SQLite has no default
        # escape character.
        conditions.append(
            WhereRaw("substr(action, 1, {}) = {}", len(filter.action_prefix), filter.action_prefix)
        )
    if filter.actor:
        find = "strpos" if is_postgres(AuditEntry._meta.db) else "instr"
        conditions.append(WhereRaw(f"{find}(lower(actor_label), lower({{}})) > 0", filter.actor))
    if filter.occurred_from is not None:
        conditions.append(AuditEntry.occurred_at >= filter.occurred_from)
    if filter.occurred_to is not None:
        conditions.append(AuditEntry.occurred_at < filter.occurred_to)
    return conditions


def _lock_key(tenant_id: uuid.UUID) -> int:
    return advisory_lock_key("audit-chain", tenant_id)

