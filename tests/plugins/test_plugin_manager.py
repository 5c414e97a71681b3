import importlib.metadata
import sys
import types

import pytest

from salescopilot import hookimpl
from salescopilot.plugin_system import hookspecs
from salescopilot.plugin_system.errors import PluginLoadError
from salescopilot.plugin_system.manager import (
    create_plugin_manager,
    get_plugin_manager,
    reset_plugin_manager,
)
from salescopilot.plugin_system.markers import ENTRY_POINT_GROUP
from salescopilot.plugin_system.registry import catalogue_for
from salescopilot.settings import get_settings


def test_bundled_default_theme_is_loaded_through_its_entry_point():
    pm = create_plugin_manager()

    source = pm.sources["default_theme"]
    assert (source.origin, source.value, source.distribution) == (
        "entry_point",
        "plugins.themes.default",
        "salescopilot",
    )
    assert catalogue_for(pm).get("theme", "default").plugin_name == "default_theme"


def test_without_entry_points_only_extra_plugins_are_registered(acme_plugin):
    pm = create_plugin_manager(load_entry_points=False, extra_plugins=[acme_plugin])

    assert [name for name, _ in pm.list_name_plugin()] == ["tests.plugins.plugin_samples.AcmeCrmPlugin"]
    assert pm.sources["tests.plugins.plugin_samples.AcmeCrmPlugin"].origin == "extra"


def test_every_hookspec_is_declared_in_exactly_one_section():
    declared = {name for name in dir(hookspecs) if name.startswith(("register_", "on_"))}
    assert declared == set(hookspecs.REGISTRATION_HOOKS) | set(hookspecs.EVENT_HOOKS)
    assert not set(hookspecs.REGISTRATION_HOOKS) & set(hookspecs.EVENT_HOOKS)
    assert hookspecs.TENANT_SCOPED_EVENTS <= set(hookspecs.EVENT_HOOKS)


class MisspeltHook:
    @hookimpl
    def register_theme(self):  # the hook is register_themes
        return []


def test_a_misspelt_hook_fails_at_start_up_naming_the_plugin_and_the_likely_hook():
    with pytest.raises(PluginLoadError) as caught:
        create_plugin_manager(load_entry_points=False, extra_plugins=[MisspeltHook()])

    message = caught.value.message
    assert "plugin 'tests.plugins.test_plugin_manager.MisspeltHook'" in message
    assert "'register_theme' (did you mean 'register_themes'?)" in message
    assert caught.value.details == {
        "plugin": "tests.plugins.test_plugin_manager.MisspeltHook",
        "hooks": ["register_theme"],
    }


class UnknownArgument:
    @hookimpl
    def on_email_sent(self, tenant, recipient):  # the hook has no `recipient`
        return None


def test_a_hook_asking_for_an_argument_the_hookspec_lacks_fails_at_start_up():
    with pytest.raises(PluginLoadError, match="tests.plugins.test_plugin_manager.UnknownArgument.*recipient"):
        create_plugin_manager(load_entry_points=False, extra_plugins=[UnknownArgument()])


class WrapperOnEvent:
    @hookimpl(wrapper=True)
    def on_email_sent(self, tenant):
        return (yield)


def test_wrappers_are_refused_on_our_hooks():
    with pytest.raises(PluginLoadError, match="on_email_sent may not be a wrapper"):
        create_plugin_manager(load_entry_points=False, extra_plugins=[WrapperOnEvent()])


class LateTheme:
    @hookimpl
    def register_themes(self):
        return ["late"]


def test_installed_plugins_answer_before_the_trylast_defaults():
    pm = create_plugin_manager(extra_plugins=[LateTheme()])

    results = pm.hook.register_themes()
    assert results[0] == ["late"]
    assert results[-1][0].slug == "default"


@pytest.mark.parametrize("blocked", ["default_theme", "plugins.themes.default"])
def test_blocked_plugins_are_not_loaded_by_entry_point_or_module_name(blocked):
    pm = create_plugin_manager(blocked=[blocked])

    assert "default_theme" not in pm.sources
    assert catalogue_for(pm).entries("theme") == []


def test_blocked_extra_plugins_are_not_registered(acme_plugin, listener):
    pm = create_plugin_manager(
        load_entry_points=False,
        extra_plugins=[acme_plugin, listener],
        blocked=["tests.plugins.plugin_samples.AcmeCrmPlugin"],
    )

    assert list(pm.sources) == ["tests.plugins.plugin_samples.EventListenerPlugin"]


def test_builtin_plugins_are_registered_first_and_can_be_blocked(monkeypatch):
    module = types.ModuleType("sc_builtin_sample")
    module.register_permissions = hookimpl(trylast=True)(
        lambda: {"sample.view": ("See samples", ("owner",))}
    )
    monkeypatch.setitem(sys.modules, "sc_builtin_sample", module)

    pm = create_plugin_manager(load_entry_points=False, builtin_plugins=["sc_builtin_sample"])
    assert pm.sources["sc_builtin_sample"].origin == "builtin"
    assert pm.hook.register_permissions() == [{"sample.view": ("See samples", ("owner",))}]

    blocked = create_plugin_manager(
        load_entry_points=False,
        builtin_plugins=["sc_builtin_sample"],
        blocked=["sc_builtin_sample"],
    )
    assert blocked.hook.register_permissions() == []


def _fake_entry_points(*entry_points):
    def entry_points_for(*, group):
        assert group == ENTRY_POINT_GROUP
        return list(entry_points)

    return entry_points_for


def test_an_entry_point_that_fails_to_import_names_the_plugin_and_how_to_block_it(monkeypatch):
    broken = importlib.metadata.EntryPoint(
        name="broken_crm", value="salescopilot_no_such_module_xyz", group=ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", _fake_entry_points(broken))

    with pytest.raises(PluginLoadError) as caught:
        create_plugin_manager()
    assert "plugin 'broken_crm' failed to load" in caught.value.message
    assert "ModuleNotFoundError" in caught.value.message
    assert "SALESCOPILOT_BLOCKED_PLUGINS" in caught.value.message

    # Blocked, it is never imported.
    assert create_plugin_manager(blocked=["broken_crm"]).sources == {}


def test_two_entry_points_with_one_name_are_refused(monkeypatch):
    first = importlib.metadata.EntryPoint(
        name="themes", value="plugins.themes", group=ENTRY_POINT_GROUP
    )
    second = importlib.metadata.EntryPoint(
        name="themes", value="plugins.themes.default", group=ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", _fake_entry_points(first, second))

    with pytest.raises(PluginLoadError, match="two plugins are named 'themes'"):
        create_plugin_manager()


def test_the_process_wide_manager_is_cached_reads_blocked_plugins_and_resets(monkeypatch):
    monkeypatch.setenv("SALESCOPILOT_BLOCKED_PLUGINS", '["default_theme"]')
    get_settings.cache_clear()
    reset_plugin_manager()
    try:
        pm = get_plugin_manager()
        assert get_plugin_manager() is pm
        assert "default_theme" not in pm.sources

        monkeypatch.delenv("SALESCOPILOT_BLOCKED_PLUGINS")
        get_settings.cache_clear()
        reset_plugin_manager()
        assert "default_theme" in get_plugin_manager().sources
    finally:
        get_settings.cache_clear()
        reset_plugin_manager()
