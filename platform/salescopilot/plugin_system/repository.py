"""Queries on `tenant_plugin_config`, always scoped to the current tenant."""

from __future__ import annotations

from salescopilot.plugin_system.tables import TenantPluginConfig
from salescopilot.tenancy.repository import TenantRepository


class TenantPluginConfigRepository(TenantRepository[TenantPluginConfig]):
    table = TenantPluginConfig
    sortable = ("kind", "slug", "updated_at", "created_at")

    async def by_key(self, kind: str, slug: str) -> TenantPluginConfig | None:
        return await self.find_one(TenantPluginConfig.kind == kind, TenantPluginConfig.slug == slug)

    async def all_configs(self) -> list[TenantPluginConfig]:
        return await self.find()

    async def enabled_keys(self) -> frozenset[tuple[str, str]]:
        """(kind, slug) of every plugin the tenant has enabled."""
        rows = await TenantPluginConfig.select(
            TenantPluginConfig.kind, TenantPluginConfig.slug
        ).where(self._where(TenantPluginConfig.enabled.eq(True)))
        return frozenset((row["kind"], row["slug"]) for row in rows)

    async def delete_key(self, kind: str, slug: str) -> None:
        await self.delete_where(TenantPluginConfig.kind == kind, TenantPluginConfig.slug == slug)
