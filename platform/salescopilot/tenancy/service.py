"""Applying tenant manifests: create or update tenants, their domains, theme and plugin
configuration. Idempotent: applying the same manifests twice changes nothing the second time."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.crypto import SecretBox
from salescopilot.db.json_column import json_dict
from salescopilot.plugin_system.errors import PluginNotFound
from salescopilot.plugin_system.interfaces import Theme
from salescopilot.plugin_system.manager import SalesCopilotPluginManager, fire_event
from salescopilot.plugin_system.registry import PluginCatalogue, PluginKind, catalogue_for
from salescopilot.plugin_system.service import PluginConfigService
from salescopilot.settings import Settings
from salescopilot.tenancy.context import TenantRef, tenant_scope
from salescopilot.tenancy.manifest import LoadedManifest, ManifestInvalid, load_all
from salescopilot.tenancy.repository import TenantCatalogue
from salescopilot.tenancy.tables import Tenant


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class TenantManifestService:
    def __init__(self, settings: Settings, plugin_manager: SalesCopilotPluginManager, clock: Clock) -> None:
        self.settings = settings
        self.plugin_manager = plugin_manager
        self.catalogue: PluginCatalogue = catalogue_for(plugin_manager)
        self.clock = clock
        self.tenants = TenantCatalogue()

    async def apply(self, directory: Path) -> ApplyReport:
        loaded = load_all(directory)
        await self._check_against_database(loaded)
        report = ApplyReport()
        for item in loaded:
            outcome = await self._apply_one(item)
            getattr(report, outcome).append(item.manifest.slug)
        return report

    async def _check_against_database(self, loaded: list[LoadedManifest]) -> None:
        """Everything that could fail halfway is checked before anything is written."""
        problems: list[str] = []
        for item in loaded:
            manifest = item.manifest
            existing = await self.tenants.by_slug(manifest.slug)
            for domain in self._domains(manifest.slug, manifest.domains):
                owner = await self.tenants.domain_owner(domain)
                if owner is not None and (existing is None or owner != existing.id):
                    problems.append(f"{item.path}: domains: {domain!r} belongs to another tenant")
            themes = {e.slug: e.plugin_class for e in self.catalogue.entries(PluginKind.THEME)}
            theme: type[Theme] | None = themes.get(manifest.theme.name)
            if theme is None:
                problems.append(f"{item.path}: theme.name: no installed theme {manifest.theme.name!r}")
            else:
                try:
                    theme.tokens().with_overrides(manifest.theme.tokens)
                except ValidationError as error:
                    for e in error.errors():
                        problems.append(f"{item.path}: theme.tokens.{'.'.join(map(str, e['loc']))}: {e['msg']}")
            for kind, plugins in manifest.plugins.items():
                if kind == PluginKind.THEME.value:
                    # One source of truth for a tenant's theme: the manifest's [theme] table.
                    problems.append(f"{item.path}: plugins.{kind}: choose the theme with theme.name instead")
                    continue
                for slug in plugins:
                    try:
                        self.catalogue.get(kind, slug)
                        item.resolve_secrets(kind, slug)
                    except PluginNotFound:
                        problems.append(f"{item.path}: plugins.{kind}.{slug}: no such installed plugin")
                    except ManifestInvalid as error:
                        problems += error.problems
        if problems:
            raise ManifestInvalid(problems)

    def _domains(self, slug: str, extra: list[str]) -> list[str]:
        return sorted({f"{slug}.{self.settings.base_domain}", *extra})

    async def _apply_one(self, item: LoadedManifest) -> str:
        manifest = item.manifest
        tenant = await self.tenants.by_slug(manifest.slug)
        desired = {
            "name": manifest.name,
            "status": manifest.status,
            "theme": manifest.theme.name,
            "theme_tokens": dict(sorted(manifest.theme.tokens.items())),
            "postal_address": manifest.postal_address,
        }
        created = tenant is None
        before: dict = {}
        if tenant is None:
            tenant = Tenant(slug=manifest.slug, created_at=self.clock.now(), **desired)
            await self.tenants.add(tenant)
        else:
            before = {key: getattr(tenant, key) for key in desired}
            before["theme_tokens"] = json_dict(tenant.theme_tokens)
            for key, value in desired.items():
                setattr(tenant, key, value)
        changed = {k: v for k, v in desired.items() if before.get(k) != v}
        domains_before = await self.tenants.hostnames(tenant.id)
        domains_after = self._domains(manifest.slug, manifest.domains)
        for hostname in set(domains_after) - set(domains_before):
            await self.tenants.add_domain(tenant.id, hostname)
        for hostname in set(domains_before) - set(domains_after):
            await self.tenants.remove_domain(tenant.id, hostname)
        if changed and not created:
            tenant.updated_at = self.clock.now()
            await self.tenants.save(tenant)

        plugins_changed = False
        ref = TenantRef(id=tenant.id, slug=tenant.slug)
        async with tenant_scope(ref):
            configs = PluginConfigService(self.catalogue, SecretBox.from_settings(self.settings), self.clock)
            for kind, plugins in manifest.plugins.items():
                for slug, plugin in plugins.items():
                    current = await configs.get(kind, slug)
                    secrets = item.resolve_secrets(kind, slug)
                    if current.enabled == plugin.enabled and current.settings == plugin.settings and not secrets:
                        continue
                    await configs.configure(kind, slug, {**plugin.settings, **secrets}, enabled=plugin.enabled)
                    plugins_changed = True
            if created or changed or domains_before != domains_after:
                await AuditService(self.clock).record(
                    "tenant.created" if created else "tenant.updated",
                    target_type="tenant",
                    target_id=str(tenant.id),
                    before=None if created else {**{k: before[k] for k in changed}, "domains": domains_before},
                    after={**changed, "domains": domains_after},
                )
            if created:
                await fire_event(self.plugin_manager, "on_tenant_created", tenant=ref)
        if created:
            return "created"
        return "updated" if changed or plugins_changed or domains_before != domains_after else "unchanged"

