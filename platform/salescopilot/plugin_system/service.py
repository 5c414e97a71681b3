"""Per-tenant plugin configuration: which catalogue entries a tenant uses, with what settings.

Rules: settings are validated against the plugin's `settings_model` before anything is written;
secret fields are stored only inside one SecretBox token (never in the readable JSON, never in
a view, never logged); a plugin can be enabled only with valid settings. Every method acts for
the current tenant (call it inside `tenant_scope`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from salescopilot.audit.service import AuditService
from salescopilot.db.json_column import json_dict
from salescopilot.clock import Clock, system_clock
from salescopilot.crypto import SecretBox
from salescopilot.plugin_system.interfaces import PluginClass
from salescopilot.plugin_system.registry import CatalogueEntry, PluginCatalogue, get_catalogue
from salescopilot.plugin_system.repository import TenantPluginConfigRepository
from salescopilot.plugin_system.sealing import (
    open_secrets,
    open_settings,
    seal_settings,
    secret_field_names,
    validate_settings,
)
from salescopilot.plugin_system.tables import TenantPluginConfig
from salescopilot.tenancy.context import TenantRef, tenant_scope


@dataclass(frozen=True, slots=True)
class PluginConfigView:
    """What an admin may see of a tenant's plugin configuration: never a secret's value."""

    kind: str
    slug: str
    display_name: str
    enabled: bool
    #: The settings without their secret fields.
    settings: dict[str, Any]
    #: Secret fields, each with whether a value is stored.
    secrets: dict[str, bool]
    updated_at: dt.datetime | None


def _stored_settings(row: TenantPluginConfig) -> dict[str, Any]:
    return json_dict(row.settings)


class PluginConfigService:
    def __init__(
        self, catalogue: PluginCatalogue, box: SecretBox, clock: Clock = system_clock
    ) -> None:
        self.catalogue = catalogue
        self.box = box
        self.clock = clock

    def _subject(self, entry: CatalogueEntry) -> str:
        return f"{entry.kind.value} plugin {entry.slug!r}"

    def _view(self, entry: CatalogueEntry, row: TenantPluginConfig | None) -> PluginConfigView:
        secret_names = secret_field_names(entry.plugin_class.settings_model)
        stored = set(open_secrets(row.secrets_encrypted, self.box)) if row else set()
        return PluginConfigView(
            kind=entry.kind.value,
            slug=entry.slug,
            display_name=entry.display_name,
            enabled=bool(row and row.enabled),
            settings=_stored_settings(row) if row else {},
            secrets={name: name in stored for name in secret_names},
            updated_at=row.updated_at if row else None,
        )

    async def get(self, kind: str, slug: str) -> PluginConfigView:
        """The tenant's configuration of one installed plugin (disabled and empty if none)."""
        entry = self.catalogue.get(kind, slug)
        row = await TenantPluginConfigRepository().by_key(entry.kind.value, slug)
        return self._view(entry, row)

    async def list_configs(self, kind: str | None = None) -> list[PluginConfigView]:
        """Every installed plugin (of `kind`) with the tenant's configuration of it."""
        rows = {(r.kind, r.slug): r for r in await TenantPluginConfigRepository().all_configs()}
        return [self._view(e, rows.get(e.key)) for e in self.catalogue.entries(kind)]

    async def configure(
        self, kind: str, slug: str, settings: Any, *, enabled: bool | None = None
    ) -> PluginConfigView:
        """Validate and store the tenant's settings for a plugin; `enabled=None` keeps the current
        state (a new configuration starts disabled). Secret fields left out keep their stored
        value. Raises `PluginSettingsInvalid` (nothing written) or `PluginNotFound`."""
        entry = self.catalogue.get(kind, slug)
        repository = TenantPluginConfigRepository()
        row = await repository.by_key(entry.kind.value, slug)
        kept = open_secrets(row.secrets_encrypted, self.box) if row else {}
        model = entry.plugin_class.settings_model
        instance = validate_settings(
            model, settings, subject=self._subject(entry), kept_secrets=kept
        )
        given = [name for name in secret_field_names(model) if name in settings]
        return await self._store(
            "plugin.configured",
            entry,
            repository,
            row,
            instance,
            enabled,
            credentials_changed=given,
        )

    async def set_enabled(self, kind: str, slug: str, enabled: bool) -> PluginConfigView:
        """Turn a plugin on or off for the tenant. Turning it on re-validates the stored settings,
        so a plugin with missing required settings cannot be enabled."""
        entry = self.catalogue.get(kind, slug)
        repository = TenantPluginConfigRepository()
        row = await repository.by_key(entry.kind.value, slug)
        if enabled:
            instance = validate_settings(
                entry.plugin_class.settings_model,
                _stored_settings(row) if row else {},
                subject=self._subject(entry),
                kept_secrets=open_secrets(row.secrets_encrypted, self.box) if row else {},
            )
            return await self._store("plugin.enabled", entry, repository, row, instance, True)
        if row is None or not row.enabled:
            return self._view(entry, row)
        before = self._view(entry, row)
        row.enabled = False
        row.updated_at = self.clock.now()
        await repository.save(row)
        after = self._view(entry, row)
        await self._audit("plugin.disabled", entry, before, after)
        return after

    async def _store(
        self,
        action: str,
        entry: CatalogueEntry,
        repository: TenantPluginConfigRepository,
        row: TenantPluginConfig | None,
        instance: BaseModel,
        enabled: bool | None,
        *,
        credentials_changed: list[str] | None = None,
    ) -> PluginConfigView:
        before = self._view(entry, row) if row is not None else None
        public, token = seal_settings(instance, self.box)
        now = self.clock.now()
        new = row is None
        if row is None:
            row = TenantPluginConfig(
                kind=entry.kind.value, slug=entry.slug, created_at=now, enabled=bool(enabled)
            )
        elif enabled is not None:
            row.enabled = enabled
        row.settings = json.dumps(public)
        row.secrets_encrypted = token
        row.updated_at = now
        if new:
            await repository.add(row)
        else:
            await repository.save(row)
        after = self._view(entry, row)
        await self._audit(action, entry, before, after, credentials_changed or ())
        return after

    async def _audit(
        self,
        action: str,
        entry: CatalogueEntry,
        before: PluginConfigView | None,
        after: PluginConfigView | None,
        credentials_changed: Sequence[str] = (),
    ) -> None:
        """One audit entry per real change. Secret values never reach it: only which secret
        fields are stored (`credentials_set`) and which this change replaced."""
        states = [
            (
                None
                if view is None
                else {
                    "enabled": view.enabled,
                    "settings": view.settings,
                    "credentials_set": view.secrets,
                }
            )
            for view in (before, after)
        ]
        if states[0] == states[1] and not credentials_changed:
            return
        if states[1] is not None and credentials_changed:
            states[1]["credentials_changed"] = sorted(credentials_changed)
        await AuditService(self.clock).record(
            action,
            target_type="plugin",
            target_id=f"{entry.kind.value}:{entry.slug}",
            before=states[0],
            after=states[1],
        )

    async def remove(self, kind: str, slug: str) -> None:
        """Forget the tenant's configuration of a plugin, secrets included."""
        entry = self.catalogue.get(kind, slug)
        repository = TenantPluginConfigRepository()
        row = await repository.by_key(entry.kind.value, slug)
        if row is None:
            return
        before = self._view(entry, row)
        await repository.delete_key(entry.kind.value, slug)
        await self._audit("plugin.removed", entry, before, None)

    async def enabled_entries(self, kind: str | None = None) -> list[CatalogueEntry]:
        """The installed plugins (of `kind`) the tenant has enabled."""
        keys = await TenantPluginConfigRepository().enabled_keys()
        return [e for e in self.catalogue.entries(kind) if e.key in keys]

    async def load_settings(self, kind: str, slug: str) -> BaseModel:
        """The plugin's settings for this tenant, secrets decrypted: for the plugin itself only,
        never for display. A plugin never configured gets its model's defaults, if valid."""
        entry = self.catalogue.get(kind, slug)
        row = await TenantPluginConfigRepository().by_key(entry.kind.value, slug)
        model = entry.plugin_class.settings_model
        if row is None:
            return validate_settings(model, {}, subject=self._subject(entry))
        return open_settings(
            model,
            _stored_settings(row),
            row.secrets_encrypted,
            self.box,
            subject=self._subject(entry),
        )


def default_service(clock: Clock = system_clock) -> PluginConfigService:
    """A service over the process-wide catalogue and the configured SecretBox."""
    from salescopilot.settings import get_settings

    return PluginConfigService(get_catalogue(), SecretBox.from_settings(get_settings()), clock)


async def settings_for_plugin(plugin_class: type[PluginClass]) -> BaseModel:
    """The current tenant's decrypted settings for `plugin_class` (see `load_settings`)."""
    service = default_service()
    entry = service.catalogue.entry_for_class(plugin_class)
    return await service.load_settings(entry.kind.value, entry.slug)


async def plugin_enabled(plugin_class: type[PluginClass]) -> bool:
    """Whether the current tenant has enabled `plugin_class`."""
    entry = get_catalogue().entry_for_class(plugin_class)
    return entry.key in await TenantPluginConfigRepository().enabled_keys()


async def enabled_plugin_keys(tenant: TenantRef) -> frozenset[tuple[str, str]]:
    """(kind, slug) of every plugin `tenant` has enabled; joins the tenant's open scope if any."""
    async with tenant_scope(tenant, write=False):
        return await TenantPluginConfigRepository().enabled_keys()
