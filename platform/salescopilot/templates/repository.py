"""Queries on email templates and their versions."""

from __future__ import annotations

import uuid
from typing import Any

from salescopilot.listing import ListQuery, Page
from salescopilot.templates.tables import EmailTemplate, EmailTemplateVersion
from salescopilot.tenancy.repository import TenantRepository


class EmailTemplateRepository(TenantRepository[EmailTemplate]):
    table = EmailTemplate
    sortable = ("updated_at", "created_at", "name", "category")
    default_sort = "updated_at"

    async def page(self, query: ListQuery, q: str | None) -> Page[dict]:
        if q:
            return await self._list_page_built(
                query, EmailTemplate.name.ilike(f"%{q}%") | EmailTemplate.subject.ilike(f"%{q}%")
            )
        return await self.list_page(query)

    async def categories(self) -> list[str]:
        rows = await EmailTemplate.select(EmailTemplate.category).where(self.tenant_condition()).distinct()
        return sorted({row["category"] for row in rows if row["category"]})

    async def installed_slugs(self) -> set[str]:
        rows = await EmailTemplate.select(EmailTemplate.library_slug).where(
            self._where(EmailTemplate.library_slug != "")
        )
        return {row["library_slug"] for row in rows}

    async def change(self, template_id: uuid.UUID, values: dict[str, Any]) -> None:
        await self.update_where(values, EmailTemplate.id == template_id)


class EmailTemplateVersionRepository(TenantRepository[EmailTemplateVersion]):
    table = EmailTemplateVersion

    async def of(self, template_id: uuid.UUID) -> list[EmailTemplateVersion]:
        return await (
            EmailTemplateVersion.objects()
            .where(self._where(EmailTemplateVersion.template == template_id))
            .order_by(EmailTemplateVersion.version, ascending=False)
        )

    async def one(self, template_id: uuid.UUID, version: int) -> EmailTemplateVersion | None:
        return await self.find_one(
            EmailTemplateVersion.template == template_id, EmailTemplateVersion.version == version
        )

    async def remove_all(self, template_id: uuid.UUID) -> None:
        await self.delete_where(EmailTemplateVersion.template == template_id)
