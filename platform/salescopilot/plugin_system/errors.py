"""Errors of the plugin system: start-up problems (a plugin that cannot load, a misspelt hook, two
plugins claiming one slug) and per-tenant configuration problems (unknown plugin, bad settings)."""

from __future__ import annotations

from salescopilot.errors import DomainError, NotFound, ValidationFailed


class PluginLoadError(DomainError):
    """A plugin could not be loaded or breaks the hook contract. Raised at start-up, never later."""

    code = "PLUGIN_LOAD_ERROR"
    status_code = 500
    default_message = "A plugin could not be loaded."


class InvalidPluginClass(PluginLoadError):
    """A `register_*` hook returned something that is not a valid plugin class of its kind."""

    code = "INVALID_PLUGIN_CLASS"


class DuplicatePluginSlug(PluginLoadError):
    """Two plugin classes of the same kind claim the same slug."""

    code = "DUPLICATE_PLUGIN_SLUG"


class PluginNotFound(NotFound):
    code = "PLUGIN_NOT_FOUND"
    default_message = "No such plugin is installed."


class PluginSettingsInvalid(ValidationFailed):
    """Settings do not match the plugin's `settings_model`. `details["fields"]` lists each
    problem as {"field", "problem"}; the offending values are never echoed (they may be secrets)."""

    code = "PLUGIN_SETTINGS_INVALID"
    default_message = "The plugin settings are not valid."


class PluginEventFailed(DomainError):
    """One or more plugins raised while handling an event. Every plugin still ran; `failures`
    holds (plugin name, exception) pairs and `results` what the others returned."""

    code = "PLUGIN_EVENT_FAILED"
    status_code = 500
    default_message = "A plugin failed while handling an event."

    def __init__(
        self,
        event: str,
        failures: list[tuple[str, BaseException]],
        results: list,
    ) -> None:
        names = ", ".join(name for name, _ in failures)
        super().__init__(
            f"{len(failures)} plugin(s) failed on {event}: {names}",
            details={"event": event, "plugins": [name for name, _ in failures]},
        )
        self.event = event
        self.failures = failures
        self.results = results
