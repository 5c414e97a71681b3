"""Queries on composer drafts."""

from __future__ import annotations

import uuid
from typing import Any

from salescopilot.composer.tables import ComposerDraft
from salescopilot.listing import ListQuery, Page
from salescopilot.tenancy.repository import TenantRepository


class ComposerDraftRepository(TenantRepository[ComposerDraft]):
    table = ComposerDraft
    sortable = ("updated_at", "created_at", "send_at", "subject", "status")
    default_sort = "updated_at"

    async def page(self, query: ListQuery) -> Page[dict]:
        return await self.list_page(query)

    async def change_if(self, draft_id: uuid.UUID, status: str, values: dict[str, Any]) -> bool:
        """Apply `values` only while the draft is still in `status` (two requests sending the
        same draft: one wins, the other changes nothing)."""
        changed = await self.update_where(values, ComposerDraft.id == draft_id, ComposerDraft.status == status)
        return changed == 1
