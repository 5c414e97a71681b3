"""Queries on sequences and their versions."""

from __future__ import annotations

import uuid
from typing import Any

from salescopilot.listing import ListQuery, Page
from salescopilot.sequences.tables import Sequence, SequenceVersion
from salescopilot.tenancy.repository import TenantRepository


class SequenceRepository(TenantRepository[Sequence]):
    table = Sequence
    sortable = ("updated_at", "created_at", "name")
    default_sort = "updated_at"

    async def page(self, query: ListQuery, q: str | None) -> Page[dict]:
        if q:
            return await self._list_page_built(query, Sequence.name.ilike(f"%{q}%"))
        return await self.list_page(query)

    async def change(self, sequence_id: uuid.UUID, values: dict[str, Any]) -> None:
        await self.update_where(values, Sequence.id == sequence_id)

    async def installed_slugs(self) -> set[str]:
        rows = await Sequence.select(Sequence.library_slug).where(self._where(Sequence.library_slug != ""))
        return {row["library_slug"] for row in rows}


class SequenceVersionRepository(TenantRepository[SequenceVersion]):
    table = SequenceVersion

    async def one(self, sequence_id: uuid.UUID, version: int) -> SequenceVersion | None:
        return await self.find_one(SequenceVersion.sequence == sequence_id, SequenceVersion.version == version)

    async def of(self, sequence_id: uuid.UUID) -> list[SequenceVersion]:
        return await (
            SequenceVersion.objects()
            .where(self._where(SequenceVersion.sequence == sequence_id))
            .order_by(SequenceVersion.version, ascending=False)
        )

    async def remove_all(self, sequence_id: uuid.UUID) -> None:
        await self.delete_where(SequenceVersion.sequence == sequence_id)
