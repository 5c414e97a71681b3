"""Fixtures of the plugin-system tests (the sample plugins live in plugin_samples.py)."""

from __future__ import annotations

import pytest
from tests.plugins.plugin_samples import AcmeCrmPlugin, EventListenerPlugin

from salescopilot.clock import FakeClock
from salescopilot.crypto import SecretBox
from salescopilot.plugin_system.manager import create_plugin_manager
from salescopilot.plugin_system.registry import catalogue_for
from salescopilot.plugin_system.service import PluginConfigService


@pytest.fixture
def acme_plugin() -> AcmeCrmPlugin:
    return AcmeCrmPlugin()


@pytest.fixture
def listener() -> EventListenerPlugin:
    return EventListenerPlugin()


@pytest.fixture
def plugin_manager(acme_plugin, listener):
    return create_plugin_manager(load_entry_points=False, extra_plugins=[acme_plugin, listener])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config_service(settings, db, plugin_manager, clock) -> PluginConfigService:
    return PluginConfigService(
        catalogue_for(plugin_manager), SecretBox.from_settings(settings), clock
    )
