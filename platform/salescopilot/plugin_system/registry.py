"""The catalogue: every plugin class of every kind the installation offers, built once from the
manager's `register_*` hooks. Which of them a tenant uses is data (`tenant_plugin_config`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import pluggy

from salescopilot.plugin_system.errors import (
    DuplicatePluginSlug,
    InvalidPluginClass,
    PluginNotFound,
)
from salescopilot.plugin_system.interfaces import (
    CrmConnector,
    EnrichmentSource,
    MailProvider,
    PluginClass,
    Theme,
)
from salescopilot.plugin_system.sealing import secret_field_names

if TYPE_CHECKING:
    from salescopilot.plugin_system.manager import SalesCopilotPluginManager


class PluginKind(StrEnum):
    MAIL_PROVIDER = "mail_provider"
    CRM_CONNECTOR = "crm_connector"
    ENRICHMENT_SOURCE = "enrichment_source"
    THEME = "theme"


#: Each kind: the hook that registers it and the class its plugins subclass.
KINDS: dict[PluginKind, tuple[str, type[PluginClass]]] = {
    PluginKind.MAIL_PROVIDER: ("register_mail_providers", MailProvider),
    PluginKind.CRM_CONNECTOR: ("register_crm_connectors", CrmConnector),
    PluginKind.ENRICHMENT_SOURCE: ("register_enrichment_sources", EnrichmentSource),
    PluginKind.THEME: ("register_themes", Theme),
}


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    kind: PluginKind
    slug: str
    display_name: str
    plugin_class: type[PluginClass]
    #: The registered name of the plugin that offered it (entry-point or module name).
    plugin_name: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind.value, self.slug)


class PluginCatalogue:
    """Plugin classes by kind and slug. Lookups with unknown kinds or slugs raise PluginNotFound."""

    def __init__(self, entries: Iterable[CatalogueEntry] = ()) -> None:
        self._entries: dict[tuple[str, str], CatalogueEntry] = {}
        self._by_plugin: dict[str, set[tuple[str, str]]] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: CatalogueEntry) -> None:
        existing = self._entries.get(entry.key)
        if existing is not None:
            raise DuplicatePluginSlug(
                f"{entry.kind.value} slug {entry.slug!r} is registered twice: by plugin "
                f"{existing.plugin_name!r} ({_qualified(existing.plugin_class)}) and by plugin "
                f"{entry.plugin_name!r} ({_qualified(entry.plugin_class)}). Uninstall or block "
                "one of them (SALESCOPILOT_BLOCKED_PLUGINS).",
                details={
                    "kind": entry.kind.value,
                    "slug": entry.slug,
                    "plugins": [existing.plugin_name, entry.plugin_name],
                },
            )
        self._entries[entry.key] = entry
        self._by_plugin.setdefault(entry.plugin_name, set()).add(entry.key)

    def get(self, kind: str, slug: str) -> CatalogueEntry:
        entry = self._entries.get((str(kind), slug))
        if entry is None:
            raise PluginNotFound(
                f"No {kind} plugin with slug {slug!r} is installed.",
                details={"kind": str(kind), "slug": slug},
            )
        return entry

    def entries(self, kind: str | None = None) -> list[CatalogueEntry]:
        """Entries sorted by kind, then slug; only those of `kind` when given."""
        return sorted(
            (e for e in self._entries.values() if kind is None or e.kind.value == kind),
            key=lambda e: e.key,
        )

    def entry_for_class(self, plugin_class: type) -> CatalogueEntry:
        for entry in self._entries.values():
            if entry.plugin_class is plugin_class:
                return entry
        raise PluginNotFound(f"{_qualified(plugin_class)} is not in the plugin catalogue.")

    def keys_of_plugin(self, plugin_name: str) -> frozenset[tuple[str, str]]:
        """(kind, slug) of everything the named plugin offers; empty when it offers nothing a
        tenant could configure, in which case its event hooks run for every tenant."""
        return frozenset(self._by_plugin.get(plugin_name, ()))

    def __len__(self) -> int:
        return len(self._entries)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_class(kind: PluginKind, base: type[PluginClass], item: object, plugin_name: str) -> None:
    where = f"plugin {plugin_name!r}, hook {KINDS[kind][0]}"
    if not (isinstance(item, type) and issubclass(item, base)):
        raise InvalidPluginClass(
            f"{where}: returned {item!r}, which is not a {base.__name__} subclass"
        )
    problems = item.metadata_problems()
    models = [("settings_model", item.settings_model)]
    if issubclass(item, MailProvider):
        models.append(("account_model", item.account_model))
    for attribute, model in models:
        try:
            secret_field_names(model)
        except (ValueError, AttributeError, TypeError) as error:
            problems.append(f"{attribute}: {error}")
    if problems:
        raise InvalidPluginClass(
            f"{where}: {_qualified(item)} is not a valid {base.__name__}: " + "; ".join(problems),
            details={"plugin": plugin_name, "class": _qualified(item), "problems": problems},
        )


def build_catalogue(pm: pluggy.PluginManager) -> PluginCatalogue:
    """Call every `register_<kind>` hook implementation, validate what each returns, and index it.

    Implementations are called one by one (in pluggy's call order) so each class is attributed
    to the plugin that offered it: that is what duplicate-slug errors and tenant enablement use.
    """
    catalogue = PluginCatalogue()
    for kind, (hook_name, base) in KINDS.items():
        for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
            try:
                returned = impl.function()
            except Exception as error:
                # Third-party code; re-raised as a typed start-up error that names the plugin.
                raise InvalidPluginClass(
                    f"plugin {impl.plugin_name!r}, hook {hook_name}: raised "
                    f"{type(error).__name__}: {error}",
                    details={"plugin": impl.plugin_name},
                ) from error
            if returned is None:
                continue
            if not isinstance(returned, list | tuple):
                raise InvalidPluginClass(
                    f"plugin {impl.plugin_name!r}, hook {hook_name}: must return a list of "
                    f"{base.__name__} subclasses, not {type(returned).__name__}"
                )
            for item in returned:
                _check_class(kind, base, item, impl.plugin_name)
                catalogue.add(
                    CatalogueEntry(kind, item.slug, item.display_name, item, impl.plugin_name)
                )
    return catalogue


def catalogue_for(pm: SalesCopilotPluginManager) -> PluginCatalogue:
    """The catalogue of `pm`, built on first use and kept until a plugin is (un)registered."""
    if pm.catalogue_cache is None:
        pm.catalogue_cache = build_catalogue(pm)
    return pm.catalogue_cache


def get_catalogue() -> PluginCatalogue:
    """The process-wide catalogue, from `get_plugin_manager()`."""
    from salescopilot.plugin_system.manager import get_plugin_manager

    return catalogue_for(get_plugin_manager())
