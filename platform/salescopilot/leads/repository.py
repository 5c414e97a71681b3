"""Queries on leads, lists, imports, import problems and saved mappings: the only code that
touches those tables."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from piccolo.columns.combination import WhereRaw

from salescopilot.db.engine import among, execute_many, fetch_all, is_postgres, uuid_in
from salescopilot.leads.tables import (
    Lead,
    LeadImport,
    LeadImportMapping,
    LeadImportProblem,
    LeadList,
    LeadListItem,
)
from salescopilot.listing import ListQuery, Page
from salescopilot.tenancy.repository import TenantRepository

#: Columns a batch insert writes, in order.
LEAD_INSERT_COLUMNS = (
    "id", "tenant", "email", "email_normalised", "first_name", "last_name", "company", "title",
    "phone", "website", "linkedin_url", "timezone", "country", "custom_fields", "tags", "owner",
    "status", "last_import", "created_at", "updated_at",
)


class LeadRepository(TenantRepository[Lead]):
    table = Lead
    sortable = ("created_at", "updated_at", "email_normalised", "company", "last_name", "status")

    def conditions(self, filters: dict[str, Any]) -> list:
        """Query conditions for the list filters the API offers (equality filters aside)."""
        found = []
        if filters.get("tag"):
            found.append(Lead.tags.like(f"%,{filters['tag']},%"))
        if filters.get("list"):
            found.append(
                WhereRaw(
                    "id IN (SELECT \"lead\" FROM lead_list_item WHERE tenant = {} AND \"list\" = {})",
                    self.tenant_id, filters["list"],
                )
            )
        if filters.get("q"):
            text = f"%{filters['q']}%"
            found.append(
                Lead.email_normalised.ilike(text.lower()) | Lead.first_name.ilike(text)
                | Lead.last_name.ilike(text) | Lead.company.ilike(text)
            )
        return found

    async def page(self, query: ListQuery, filters: dict[str, Any]) -> Page[dict]:
        extra = self.conditions(filters)
        if extra:
            return await self._list_page_built(query, *extra)
        return await self.list_page(query)

    async def by_email(self, email_normalised: str) -> Lead | None:
        return await self.find_one(Lead.email_normalised == email_normalised)

    async def ids_at_domain(self, domain: str, limit: int = 10_000) -> list[uuid.UUID]:
        """The leads whose address is at exactly `domain` (lower-case)."""
        rows = await (
            Lead.select(Lead.id)
            .where(self._where(WhereRaw("email_normalised LIKE {}", "%@" + domain)))
            .limit(limit)
        )
        return [row["id"] for row in rows]

    async def by_ids(self, ids: Sequence[uuid.UUID]) -> list[Lead]:
        if not ids:
            return []
        return await self.find(Lead.id.is_in(list(ids)))

    async def values_by_ids(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict]:
        """Every field but the times of the given leads as plain dicts (what a template and a
        message need), in one statement without row objects: the campaign scheduler's read."""
        if not ids:
            return {}
        condition, values = uuid_in("id", list(ids))
        names = [c._meta.db_column_name for c in Lead._meta.columns if c._meta.name not in ("created_at", "updated_at")]
        rows = await fetch_all(
            f"SELECT {', '.join(chr(34) + n + chr(34) for n in names)} FROM lead WHERE tenant = {{}} AND {condition}",
            [self.tenant_id, *values],
        )
        found = {}
        postgres = is_postgres(Lead._meta.db)  # asyncpg gives UUIDs already
        for row in rows:
            if not postgres:
                for name in ("id", "owner", "last_import", "tenant"):
                    row[name] = _uuid(row[name])
            found[row["id"]] = row
        return found

    async def set_status_many(self, ids: Sequence[uuid.UUID], status: str, now: dt.datetime) -> None:
        """`set_status` for a batch of ids in one statement with one array parameter."""
        if not ids:
            return
        condition, values = uuid_in("id", list(ids))
        await fetch_all(f"UPDATE lead SET status = {{}}, updated_at = {{}} WHERE tenant = {{}} AND {condition}",
                        [status, now, self.tenant_id, *values])

    async def existing(self, emails: Sequence[str]) -> dict[str, dict]:
        """email_normalised -> {id, last_import} of the leads among `emails` (one query)."""
        if not emails:
            return {}
        rows = await fetch_all(*among(
            "lead", "lead.id, lead.email_normalised, lead.last_import", self.tenant_id,
            "email_normalised", list(emails),
        ))
        return {
            row["email_normalised"]: {"id": _uuid(row["id"]), "last_import": _uuid(row["last_import"])}
            for row in rows
        }

    async def insert_rows(self, rows: list[tuple]) -> None:
        """Insert leads given as value tuples in `LEAD_INSERT_COLUMNS` order through the
        driver's executemany: the import's hot path. Each row's tenant must be this one."""
        if any(row[1] != self.tenant_id for row in rows):
            raise PermissionError("a row belongs to another tenant")
        names = ", ".join(f'"{c}"' for c in LEAD_INSERT_COLUMNS)
        marks = ", ".join("{}" for _ in LEAD_INSERT_COLUMNS)
        await execute_many(f"INSERT INTO lead ({names}) VALUES ({marks})", rows)

    async def update_fields(self, lead_id: uuid.UUID, values: dict[str, Any]) -> None:
        await self.update_where(values, Lead.id == lead_id)

    async def set_status(self, ids: Sequence[uuid.UUID], status: str, now: dt.datetime) -> int:
        return await self.update_where({"status": status, "updated_at": now}, Lead.id.is_in(list(ids)))

    async def delete_ids(self, ids: Sequence[uuid.UUID]) -> None:
        if ids:
            await self.delete_where(Lead.id.is_in(list(ids)))

    async def stream(self, filters: dict[str, Any], batch: int = 1000) -> AsyncIterator[list[dict]]:
        """Every lead matching `filters`, in pages of `batch` by keyset (never all in memory)."""
        after: uuid.UUID | None = None
        base = [*self.conditions(filters)]
        for name in ("status", "owner", "country"):
            if filters.get(name) is not None:
                base.append(self._col(name) == filters[name])
        while True:
            conditions = [*base] + ([Lead.id > after] if after else [])
            rows = await (
                Lead.select().where(self._where(*conditions)).order_by(Lead.id).limit(batch)
            )
            if not rows:
                return
            yield rows
            after = rows[-1]["id"]


class LeadListRepository(TenantRepository[LeadList]):
    table = LeadList
    sortable = ("created_at", "name")

    async def all(self) -> list[LeadList]:
        return await LeadList.objects().where(self.tenant_condition()).order_by(LeadList.name)

    async def sizes(self) -> dict[uuid.UUID, int]:
        rows = await LeadListItem.raw(
            "SELECT \"list\", COUNT(*) AS n FROM lead_list_item WHERE tenant = {} GROUP BY \"list\"",
            self.tenant_id,
        )
        return {uuid.UUID(str(row["list"])): row["n"] for row in rows}


class LeadListItemRepository(TenantRepository[LeadListItem]):
    table = LeadListItem

    async def add_leads(self, list_id: uuid.UUID, lead_ids: Sequence[uuid.UUID], now: dt.datetime) -> int:
        """Put leads on a list, leaving those already there; returns how many were added."""
        if not lead_ids:
            return 0
        present = {
            row["lead"]
            for row in await LeadListItem.select(LeadListItem.lead).where(
                self._where(LeadListItem.list == list_id, LeadListItem.lead.is_in(list(lead_ids)))
            )
        }
        fresh = [i for i in dict.fromkeys(lead_ids) if i not in present]
        await self.add_many([LeadListItem(list=list_id, lead=i, created_at=now) for i in fresh])
        return len(fresh)

    async def lists_of(self, lead_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await LeadListItem.select(LeadListItem.list).where(self._where(LeadListItem.lead == lead_id))
        return [row["list"] for row in rows]

    async def remove_leads(self, lead_ids: Sequence[uuid.UUID]) -> None:
        if lead_ids:
            await self.delete_where(LeadListItem.lead.is_in(list(lead_ids)))

    async def remove_list(self, list_id: uuid.UUID) -> None:
        await self.delete_where(LeadListItem.list == list_id)

    async def remove_from_list(self, list_id: uuid.UUID, lead_ids: Sequence[uuid.UUID]) -> None:
        if lead_ids:
            await self.delete_where(LeadListItem.list == list_id, LeadListItem.lead.is_in(list(lead_ids)))


class LeadImportRepository(TenantRepository[LeadImport]):
    table = LeadImport
    sortable = ("created_at", "status")

    async def advance(self, import_id: uuid.UUID, values: dict[str, Any]) -> None:
        await self.update_where(values, LeadImport.id == import_id)


class LeadImportProblemRepository(TenantRepository[LeadImportProblem]):
    table = LeadImportProblem

    async def add_rows(self, import_id: uuid.UUID, problems: list[tuple[int, str, str, str]]) -> None:
        """(row number, reason, detail, email) tuples of one batch."""
        await self.add_many(
            [
                LeadImportProblem(lead_import=import_id, row_number=row, reason=reason,
                                  detail=detail, email=email)
                for row, reason, detail, email in problems
            ]
        )

    async def stream(self, import_id: uuid.UUID, batch: int = 2000) -> AsyncIterator[list[dict]]:
        after = -1
        while True:
            rows = await (
                LeadImportProblem.select(
                    LeadImportProblem.row_number, LeadImportProblem.reason,
                    LeadImportProblem.detail, LeadImportProblem.email,
                )
                .where(self._where(LeadImportProblem.lead_import == import_id,
                                   LeadImportProblem.row_number > after))
                .order_by(LeadImportProblem.row_number)
                .limit(batch)
            )
            if not rows:
                return
            yield rows
            after = rows[-1]["row_number"]

    async def reasons(self, import_id: uuid.UUID) -> dict[str, int]:
        rows = await LeadImportProblem.raw(
            "SELECT reason, COUNT(*) AS n FROM lead_import_problem WHERE tenant = {} "
            "AND lead_import = {} GROUP BY reason ORDER BY reason",
            self.tenant_id, import_id,
        )
        return {row["reason"]: row["n"] for row in rows}


class LeadImportMappingRepository(TenantRepository[LeadImportMapping]):
    table = LeadImportMapping

    async def all(self) -> list[LeadImportMapping]:
        return await LeadImportMapping.objects().where(self.tenant_condition()).order_by(LeadImportMapping.name)

    async def save_named(self, name: str, mapping: dict[str, str], now: dt.datetime) -> LeadImportMapping:
        existing = await self.find_one(LeadImportMapping.name == name)
        if existing is not None:
            existing.mapping = json.dumps(mapping)
            return await self.save(existing)
        return await self.add(LeadImportMapping(name=name, mapping=json.dumps(mapping), created_at=now))


def _uuid(value: Any) -> uuid.UUID | None:
    """A UUID column read by `fetch_all` (SQLite gives text, PostgreSQL a UUID)."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))
