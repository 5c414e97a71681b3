"""The plugin manager: built by a factory, checked at start-up, and the one way to fire events.

`create_plugin_manager` adds the hookspecs, registers the built-in defaults, loads the
`salescopilot.plugins` entry points (bundled plugins register exactly like third-party ones),
registers any extra plugins, and then verifies every hook implementation, so a misspelt hook name
stops the process at start-up with an error naming the plugin, not silently later.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata
import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pluggy
import structlog

from salescopilot.plugin_system import hookspecs
from salescopilot.plugin_system.errors import PluginEventFailed, PluginLoadError
from salescopilot.plugin_system.markers import ENTRY_POINT_GROUP, PROJECT_NAME

if TYPE_CHECKING:
    from salescopilot.plugin_system.registry import PluginCatalogue

log = structlog.get_logger(__name__)

#: Core modules that implement hooks, registered first and before any installed plugin. Their
#: hook implementations use `trylast=True`, so an installed plugin's answer wins.
BUILTIN_PLUGINS: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PluginSource:
    """Where a registered plugin came from, for `salescopilot plugins list` and error messages."""

    name: str
    origin: Literal["builtin", "entry_point", "extra"]
    #: The module or object the plugin is ("plugins.themes.default").
    value: str
    distribution: str | None = None
    version: str | None = None


class SalesCopilotPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where each plugin came from and caches its catalogue."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.sources: dict[str, PluginSource] = {}
        #: Built by `registry.catalogue_for`; dropped whenever the set of plugins changes.
        self.catalogue_cache: PluginCatalogue | None = None

    def register(self, plugin: object, name: str | None = None) -> str | None:
        self.catalogue_cache = None
        return super().register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        self.catalogue_cache = None
        if name is None and plugin is not None:
            name = self.get_name(plugin)
        removed = super().unregister(plugin, name)
        if name is not None:
            self.sources.pop(name, None)
        return removed


def _object_name(plugin: object) -> str:
    """A readable registration name: the module name, or the class's dotted name."""
    if inspect.ismodule(plugin):
        return plugin.__name__
    cls = plugin if isinstance(plugin, type) else type(plugin)
    return f"{cls.__module__}.{cls.__qualname__}"


def _register(pm: SalesCopilotPluginManager, plugin: object, source: PluginSource) -> None:
    try:
        pm.register(plugin, name=source.name)
    except pluggy.PluginValidationError as error:
        raise PluginLoadError(
            f"plugin {source.name!r}{_from(source)} breaks the hook contract: "
            + str(error).replace("\n", "; "),
            details={"plugin": source.name},
        ) from error
    except ValueError as error:  # pluggy: the name or the object is registered already
        raise PluginLoadError(
            f"plugin {source.name!r}{_from(source)} cannot be registered: {error}",
            details={"plugin": source.name},
        ) from error
    pm.sources[source.name] = source


def _from(source: PluginSource) -> str:
    return f" (from {source.distribution} {source.version})" if source.distribution else ""


def _is_blocked(blocked: set[str], *names: str) -> bool:
    return any(name in blocked for name in names)


def _load_entry_points(pm: SalesCopilotPluginManager, blocked: set[str]) -> None:
    for entry_point in sorted(
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name
    ):
        dist = entry_point.dist
        source = PluginSource(
            name=entry_point.name,
            origin="entry_point",
            value=entry_point.value,
            distribution=dist.name if dist else None,
            version=dist.version if dist else None,
        )
        if _is_blocked(blocked, entry_point.name, entry_point.module):
            continue
        if pm.has_plugin(entry_point.name):
            other = pm.sources.get(entry_point.name)
            raise PluginLoadError(
                f"two plugins are named {entry_point.name!r}: {entry_point.value}{_from(source)} "
                f"and {other.value if other else '?'}{_from(other) if other else ''}. "
                "Uninstall one of them.",
                details={"plugin": entry_point.name},
            )
        try:
            plugin = entry_point.load()
        except Exception as error:
            # Any failure inside third-party code at import; re-raised as one typed start-up error.
            raise PluginLoadError(
                f"plugin {entry_point.name!r}{_from(source)} failed to load "
                f"({entry_point.value}): {type(error).__name__}: {error}. Fix or uninstall it, or "
                f"block it with SALESCOPILOT_BLOCKED_PLUGINS='[\"{entry_point.name}\"]'.",
                details={"plugin": entry_point.name},
            ) from error
        _register(pm, plugin, source)


def _check_hooks(pm: SalesCopilotPluginManager) -> None:
    """pluggy's `check_pending`, with an error that names the plugin and suggests the hook it
    probably meant; and no wrappers, because the catalogue and `fire_event` call each
    implementation on its own."""
    known = hookspecs.REGISTRATION_HOOKS + hookspecs.EVENT_HOOKS
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        name = pm.get_name(error.plugin) or _object_name(error.plugin)
        unknown = sorted(c.name for c in pm.get_hookcallers(error.plugin) or () if not c.has_spec())
        hints = [
            f"{hook!r} (did you mean {match[0]!r}?)" if match else repr(hook)
            for hook in unknown
            for match in [difflib.get_close_matches(hook, known, n=1)]
        ]
        raise PluginLoadError(
            f"plugin {name!r} implements unknown hook(s): {', '.join(hints)}. "
            f"Known hooks: {', '.join(known)}.",
            details={"plugin": name, "hooks": unknown},
        ) from error
    for hook_name in known:
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.wrapper or impl.hookwrapper:
                raise PluginLoadError(
                    f"plugin {impl.plugin_name!r}: hook {hook_name} may not be a wrapper",
                    details={"plugin": impl.plugin_name, "hooks": [hook_name]},
                )


def create_plugin_manager(
    *,
    load_entry_points: bool = True,
    extra_plugins: Iterable[object] = (),
    blocked: Iterable[str] = (),
    builtin_plugins: Sequence[str] = BUILTIN_PLUGINS,
) -> SalesCopilotPluginManager:
    """A checked plugin manager. Raises `PluginLoadError` (naming the plugin) when a plugin cannot
    load, implements an unknown hook, or has a hook whose arguments the hookspec does not offer.

    `blocked` holds entry-point names or module names (`settings.blocked_plugins`); a blocked
    plugin is never imported. `extra_plugins` (modules, classes or objects with hook
    implementations) are registered after the installed ones, under their dotted names.
    """
    pm = SalesCopilotPluginManager()
    pm.add_hookspecs(hookspecs)
    blocked_names = set(blocked)
    for name in blocked_names:
        pm.set_blocked(name)
    for module_name in builtin_plugins:
        if not _is_blocked(blocked_names, module_name):
            module = importlib.import_module(module_name)
            _register(pm, module, PluginSource(module_name, "builtin", module_name))
    if load_entry_points:
        _load_entry_points(pm, blocked_names)
    for plugin in extra_plugins:
        name = _object_name(plugin)
        if not _is_blocked(blocked_names, name):
            _register(pm, plugin, PluginSource(name, "extra", name))
    _check_hooks(pm)
    return pm


@functools.cache
def get_plugin_manager() -> SalesCopilotPluginManager:
    """The process-wide manager, built on first use from `get_settings().blocked_plugins`."""
    from salescopilot.settings import get_settings

    return create_plugin_manager(blocked=get_settings().blocked_plugins)


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (and its catalogue); the next call builds a new one."""
    get_plugin_manager.cache_clear()


async def fire_event(pm: SalesCopilotPluginManager, name: str, /, **kwargs: Any) -> list:
    """Call event hook `name` with `kwargs` and await whatever the implementations return.

    Tenant-scoped events (`hookspecs.TENANT_SCOPED_EVENTS`) reach only plugins the tenant has
    enabled; plugins with nothing to configure always run. Every implementation runs even when
    an earlier one fails; failures are logged and then raised together as `PluginEventFailed`
    (which carries the other results). Returns the non-None results in call order.
    """
    if name not in hookspecs.EVENT_HOOKS:
        raise ValueError(
            f"{name!r} is not an event hook; events are {', '.join(hookspecs.EVENT_HOOKS)}"
        )
    caller = getattr(pm.hook, name)
    expected = set(caller.spec.argnames)
    if set(kwargs) != expected:
        raise TypeError(
            f"{name} takes exactly the keyword arguments {sorted(expected)}; "
            f"missing {sorted(expected - set(kwargs))}, unexpected {sorted(set(kwargs) - expected)}"
        )
    # pluggy keeps implementations in reverse call order (trylast first).
    impls = list(reversed(caller.get_hookimpls()))
    if name in hookspecs.TENANT_SCOPED_EVENTS:
        impls = await _enabled_for_tenant(pm, impls, kwargs["tenant"])

    results: list = []
    failures: list[tuple[str, BaseException]] = []
    for impl in impls:
        try:
            result = impl.function(*(kwargs[arg] for arg in impl.argnames))
            if inspect.isawaitable(result):
                result = await result
        except Exception as error:
            # One plugin's failure must not stop the others; it is raised below, not swallowed.
            log.exception("plugin_event_failed", plugin=impl.plugin_name, event_hook=name)
            failures.append((impl.plugin_name, error))
            continue
        if result is not None:
            results.append(result)
    if failures:
        raise PluginEventFailed(name, failures, results)
    return results


async def _enabled_for_tenant(pm: SalesCopilotPluginManager, impls: list, tenant: Any) -> list:
    from salescopilot.plugin_system.registry import catalogue_for

    catalogue = catalogue_for(pm)
    offers = {impl.plugin_name: catalogue.keys_of_plugin(impl.plugin_name) for impl in impls}
    if not any(offers.values()):
        return impls  # nothing configurable implements this hook: no need to ask the database
    from salescopilot.plugin_system.service import enabled_plugin_keys

    enabled = await enabled_plugin_keys(tenant)
    return [
        impl for impl in impls if not offers[impl.plugin_name] or offers[impl.plugin_name] & enabled
    ]
