import json

import pytest
from tests.plugins.plugin_samples import API_KEY, AcmeCrm, AcmeSettings
from pydantic import BaseModel, SecretStr

from salescopilot.audit.tables import AuditEntry
from salescopilot.crypto import SecretBox
from salescopilot.db.engine import get_engine, is_postgres
from salescopilot.plugin_system import service as service_module
from salescopilot.plugin_system.errors import PluginNotFound, PluginSettingsInvalid
from salescopilot.plugin_system.interfaces import tenant_has_enabled, tenant_settings
from salescopilot.plugin_system.registry import (
    CatalogueEntry,
    PluginCatalogue,
    PluginKind,
    catalogue_for,
)
from salescopilot.plugin_system.service import PluginConfigService
from salescopilot.plugin_system.tables import TenantPluginConfig
from salescopilot.tenancy.context import tenant_scope

CRM = "crm_connector"
VALID = {"base_url": "https://acme.example", "api_key": API_KEY}


async def raw_rows() -> list[dict]:
    """Every row as stored, bypassing the repository (RLS still applies on PostgreSQL)."""
    return await TenantPluginConfig.raw("SELECT * FROM tenant_plugin_config")


async def test_settings_are_validated_and_secrets_are_encrypted_at_rest(
    config_service, settings, tenant_a, clock
):
    async with tenant_scope(tenant_a):
        view = await config_service.configure(CRM, "acme", VALID, enabled=True)
        [row] = await raw_rows()

    assert view.settings == {"base_url": "https://acme.example", "sync_every_minutes": 15}
    assert view.secrets == {"api_key": True, "webhook_secret": False}
    assert view.enabled and view.updated_at == clock.now()

    # The secret is in no column in clear text: not in the readable JSON, not in the token.
    assert API_KEY not in json.dumps(row, default=str)
    stored = row["settings"] if isinstance(row["settings"], dict) else json.loads(row["settings"])
    assert stored == {"base_url": "https://acme.example", "sync_every_minutes": 15}
    token = row["secrets_encrypted"]
    assert token and json.loads(SecretBox.from_settings(settings).decrypt(token)) == {
        "api_key": API_KEY
    }

    # Only the explicit call for the plugin itself decrypts it.
    async with tenant_scope(tenant_a):
        loaded = await config_service.load_settings(CRM, "acme")
    assert isinstance(loaded, AcmeSettings)
    assert loaded.api_key.get_secret_value() == API_KEY


async def test_invalid_settings_list_every_problem_and_write_nothing(config_service, tenant_a):
    bad = {
        "base_url": "http://acme.example",
        "sync_every_minutes": 1,
        "colour": "red",
        "webhook_secret": "whsec-do-not-echo",
    }
    async with tenant_scope(tenant_a):
        with pytest.raises(PluginSettingsInvalid) as caught:
            await config_service.configure(CRM, "acme", bad, enabled=True)
        assert await raw_rows() == []

    error = caught.value
    assert error.code == "PLUGIN_SETTINGS_INVALID" and error.status_code == 400
    assert {p["field"] for p in error.details["fields"]} == {
        "colour",
        "base_url",
        "sync_every_minutes",
        "api_key",
    }
    assert "unknown field" in error.message and "api_key: Field required" in error.message
    assert "whsec-do-not-echo" not in error.message + json.dumps(error.details)


@pytest.mark.parametrize("settings_input", [["api_key"], "api_key=x", None, 42])
async def test_settings_that_are_not_an_object_are_refused(
    config_service, tenant_a, settings_input
):
    async with tenant_scope(tenant_a):
        with pytest.raises(PluginSettingsInvalid, match="must be a JSON object"):
            await config_service.configure(CRM, "acme", settings_input)


async def test_secrets_left_out_of_an_update_are_kept_and_given_ones_replaced(
    config_service, tenant_a
):
    async with tenant_scope(tenant_a):
        await config_service.configure(CRM, "acme", {**VALID, "webhook_secret": "whsec-1"})
        view = await config_service.configure(
            CRM, "acme", {"base_url": "https://eu.acme.example", "sync_every_minutes": 30}
        )
        kept = await config_service.load_settings(CRM, "acme")
        await config_service.configure(CRM, "acme", {**VALID, "api_key": "rotated-key"})
        replaced = await config_service.load_settings(CRM, "acme")

    assert view.settings["base_url"] == "https://eu.acme.example"
    assert view.secrets == {"api_key": True, "webhook_secret": True}
    assert kept.api_key.get_secret_value() == API_KEY
    assert kept.webhook_secret.get_secret_value() == "whsec-1"
    assert replaced.api_key.get_secret_value() == "rotated-key"
    assert replaced.base_url == "https://acme.example"


async def test_views_never_carry_secret_values(config_service, tenant_a):
    async with tenant_scope(tenant_a):
        await config_service.configure(CRM, "acme", VALID, enabled=True)
        views = [await config_service.get(CRM, "acme"), *await config_service.list_configs()]
    for view in views:
        assert API_KEY not in repr(view)
        assert "api_key" not in view.settings


async def test_a_plugin_can_be_enabled_only_with_valid_settings(config_service, tenant_a, clock):
    async with tenant_scope(tenant_a):
        with pytest.raises(PluginSettingsInvalid, match="api_key"):
            await config_service.set_enabled(CRM, "acme", True)
        assert await raw_rows() == []

        view = await config_service.configure(CRM, "acme", VALID)
        assert not view.enabled  # a new configuration starts disabled
        assert await config_service.enabled_entries() == []

        clock.advance(minutes=5)
        view = await config_service.set_enabled(CRM, "acme", True)
        assert view.enabled and view.updated_at == clock.now()
        [entry] = await config_service.enabled_entries(CRM)
        assert (entry.kind, entry.slug, entry.plugin_class) == (
            PluginKind.CRM_CONNECTOR,
            "acme",
            AcmeCrm,
        )
        assert (await config_service.configure(CRM, "acme", VALID)).enabled  # None keeps state

        await config_service.remove(CRM, "acme")
        assert await raw_rows() == []
        assert not (await config_service.get(CRM, "acme")).enabled


async def test_unknown_plugins_are_not_found(config_service, tenant_a):
    async with tenant_scope(tenant_a):
        for call in (
            config_service.configure("crm_connector", "salesforce", {}),
            config_service.get("nonsense", "acme"),
            config_service.set_enabled("theme", "acme", True),
            config_service.load_settings("crm_connector", "' OR 1=1 --"),
        ):
            with pytest.raises(PluginNotFound):
                await call


class AcmeSettingsV2(BaseModel):
    base_url: str
    region: str
    api_key: SecretStr


class AcmeCrmV2(AcmeCrm):
    settings_model = AcmeSettingsV2


async def test_stored_settings_that_no_longer_fit_an_upgraded_plugin_say_so(
    config_service, settings, tenant_a
):
    async with tenant_scope(tenant_a):
        await config_service.configure(CRM, "acme", VALID)
        upgraded = PluginConfigService(
            PluginCatalogue(
                [CatalogueEntry(PluginKind.CRM_CONNECTOR, "acme", "Acme", AcmeCrmV2, "x")]
            ),
            SecretBox.from_settings(settings),
        )
        with pytest.raises(PluginSettingsInvalid, match="save them again.*region"):
            await upgraded.load_settings(CRM, "acme")


async def test_plugins_read_their_own_decrypted_settings_through_the_public_helper(
    config_service, plugin_manager, tenant_a, monkeypatch
):
    monkeypatch.setattr(service_module, "get_catalogue", lambda: catalogue_for(plugin_manager))
    async with tenant_scope(tenant_a):
        assert not await tenant_has_enabled(AcmeCrm)
        await config_service.configure(CRM, "acme", VALID, enabled=True)
        assert await tenant_has_enabled(AcmeCrm)
        loaded = await tenant_settings(AcmeCrm)
    assert loaded.api_key.get_secret_value() == API_KEY


async def test_tenants_see_and_change_only_their_own_configuration(
    config_service, tenant_a, tenant_b
):
    async with tenant_scope(tenant_a):
        await config_service.configure(CRM, "acme", VALID, enabled=True)

    async with tenant_scope(tenant_b):
        view = await config_service.get(CRM, "acme")
        assert (view.enabled, view.settings, view.secrets["api_key"]) == (False, {}, False)
        assert await config_service.enabled_entries() == []
        with pytest.raises(PluginSettingsInvalid):  # A's stored api_key is not B's to keep
            await config_service.configure(CRM, "acme", {"base_url": "https://b.example"})
        await config_service.configure(CRM, "acme", {**VALID, "api_key": "globex-key"})
        await config_service.remove(CRM, "acme")
        if is_postgres(get_engine()):
            assert await raw_rows() == []  # row-level security hides A's row without the filter

    async with tenant_scope(tenant_a):
        loaded = await config_service.load_settings(CRM, "acme")
        assert loaded.api_key.get_secret_value() == API_KEY
        assert len(await raw_rows()) == 1
        assert [e.slug for e in await config_service.enabled_entries()] == ["acme"]
    assert await service_module.enabled_plugin_keys(tenant_b) == frozenset()
    assert await service_module.enabled_plugin_keys(tenant_a) == {(CRM, "acme")}


async def test_every_change_is_audited_without_any_secret_value(config_service, tenant_a):
    async with tenant_scope(tenant_a):
        await config_service.configure(CRM, "acme", VALID)
        await config_service.configure(CRM, "acme", VALID)  # secret given again: audited
        await config_service.configure(CRM, "acme", {"base_url": VALID["base_url"]})  # no change
        await config_service.set_enabled(CRM, "acme", True)
        await config_service.set_enabled(CRM, "acme", False)
        await config_service.remove(CRM, "acme")
        entries = await AuditEntry.raw("SELECT * FROM audit_entry ORDER BY seq")

    assert [e["action"] for e in entries] == [
        "plugin.configured",
        "plugin.configured",
        "plugin.enabled",
        "plugin.disabled",
        "plugin.removed",
    ]
    assert {e["target_type"] + ":" + e["target_id"] for e in entries} == {
        "plugin:crm_connector:acme"
    }
    first_after = entries[0]["after"]
    first_after = json.loads(first_after) if isinstance(first_after, str) else first_after
    assert first_after == {
        "enabled": False,
        "settings": {"base_url": "https://acme.example", "sync_every_minutes": 15},
        "credentials_set": {"api_key": True, "webhook_secret": False},
        "credentials_changed": ["api_key"],
    }
    assert API_KEY not in json.dumps(entries, default=str)
