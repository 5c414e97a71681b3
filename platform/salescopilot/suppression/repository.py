"""Queries on the suppression list (the only code that touches its table)."""

from __future__ import annotations

import datetime as dt
import uuid

from salescopilot.db.engine import among, execute_many, fetch_all
from salescopilot.suppression.tables import Suppression
from salescopilot.tenancy.repository import TenantRepository


class SuppressionRepository(TenantRepository[Suppression]):
    table = Suppression
    sortable = ("created_at", "value", "reason")

    async def matching(self, values: list[str]) -> set[str]:
        """The stored values among `values` (one query)."""
        if not values:
            return set()
        rows = await fetch_all(*among("suppression", "suppression.value", self.tenant_id, "value", values))
        return {row["value"] for row in rows}

    async def add_missing(
        self, entries: list[tuple[str, str]], *, reason: str, source: str, now: dt.datetime
    ) -> int:
        """Insert (kind, value) entries not yet present; returns how many were new."""
        if not entries:
            return 0
        present = await self.matching([value for _, value in entries])
        fresh: dict[str, str] = {}
        for kind, value in entries:
            if value not in present:
                fresh.setdefault(value, kind)
        # ON CONFLICT: a concurrent add of the same value (two bounces at once) is not an error.
        await execute_many(
            "INSERT INTO suppression (id, tenant, kind, value, reason, source, created_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT (tenant, value) DO NOTHING",
            [(uuid.uuid4(), self.tenant_id, kind, value, reason, source, now) for value, kind in fresh.items()],
        )
        return len(fresh)

    async def remove(self, entry_id: uuid.UUID) -> Suppression | None:
        entry = await self.get(entry_id)
        if entry is not None:
            await self.delete_where(Suppression.id == entry_id)
        return entry

    async def remove_value(self, value: str) -> None:
        await self.delete_where(Suppression.value == value)

    async def search(self, text: str, limit: int, offset: int) -> tuple[list[Suppression], int]:
        condition = Suppression.value.ilike(f"%{text.lower()}%")
        rows = await (
            Suppression.objects()
            .where(self._where(condition))
            .order_by(Suppression.created_at, ascending=False)
            .limit(limit)
            .offset(offset)
        )
        return rows, await self.count(condition)


