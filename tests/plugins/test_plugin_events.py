import datetime as dt
import uuid

import pytest
from tests.plugins.plugin_samples import API_KEY

from salescopilot import hookimpl
from salescopilot.plugin_system import service as service_module
from salescopilot.plugin_system.errors import PluginEventFailed
from salescopilot.plugin_system.manager import create_plugin_manager, fire_event
from salescopilot.tenancy.context import TenantRef, tenant_scope

SETTINGS = {"base_url": "https://acme.example", "api_key": API_KEY}


def email_sent(tenant: TenantRef, message_id: str = "<m1@example.com>") -> dict:
    return {
        "tenant": tenant,
        "outbox_message_id": uuid.uuid4(),
        "lead_id": uuid.uuid4(),
        "mailbox_id": uuid.uuid4(),
        "message_id": message_id,
        "sent_at": dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC),
    }


async def test_tenant_scoped_events_reach_only_plugins_the_tenant_enabled(
    plugin_manager, config_service, acme_plugin, listener, tenant_a, tenant_b
):
    async with tenant_scope(tenant_a):
        await config_service.configure("crm_connector", "acme", SETTINGS, enabled=True)

    results_a = await fire_event(plugin_manager, "on_email_sent", **email_sent(tenant_a, "<a@x>"))
    results_b = await fire_event(plugin_manager, "on_email_sent", **email_sent(tenant_b, "<b@x>"))

    # The awaitable the Acme plugin returned was awaited; call order is pluggy's (LIFO).
    assert results_a == ["listener", ("acme", "<a@x>")]
    assert results_b == ["listener"]
    assert acme_plugin.calls == [("acme", "<a@x>")]
    assert listener.calls == [("acme", "<a@x>"), ("globex", "<b@x>")]


async def test_a_disabled_plugin_stops_receiving_events(
    plugin_manager, config_service, acme_plugin, tenant_a
):
    async with tenant_scope(tenant_a):
        await config_service.configure("crm_connector", "acme", SETTINGS, enabled=True)
        await config_service.set_enabled("crm_connector", "acme", False)

    assert await fire_event(plugin_manager, "on_email_sent", **email_sent(tenant_a)) == ["listener"]
    assert acme_plugin.calls == []


async def test_events_fired_inside_the_tenants_scope_join_it(
    plugin_manager, config_service, tenant_a
):
    async with tenant_scope(tenant_a):
        await config_service.configure("crm_connector", "acme", SETTINGS, enabled=True)
        results = await fire_event(plugin_manager, "on_email_sent", **email_sent(tenant_a))
    assert len(results) == 2


async def test_tenant_created_reaches_every_plugin(plugin_manager, acme_plugin, tenant_a):
    assert await fire_event(plugin_manager, "on_tenant_created", tenant=tenant_a) == []
    assert acme_plugin.calls == [("acme", "created")]


async def test_no_database_query_when_no_configurable_plugin_listens(listener, monkeypatch):
    async def must_not_query(tenant):
        raise AssertionError("queried the tenant's plugins")

    monkeypatch.setattr(service_module, "enabled_plugin_keys", must_not_query)
    pm = create_plugin_manager(load_entry_points=False, extra_plugins=[listener])
    tenant = TenantRef(id=uuid.uuid4(), slug="acme")

    assert await fire_event(pm, "on_email_sent", **email_sent(tenant)) == ["listener"]


class FailsNow:
    @hookimpl
    def on_tenant_created(self, tenant):
        raise RuntimeError("sync failure")


class FailsLater:
    @hookimpl
    def on_tenant_created(self, tenant):
        async def later():
            raise ConnectionError("async failure")

        return later()


class Succeeds:
    @hookimpl(trylast=True)
    def on_tenant_created(self, tenant):
        async def later():
            return f"welcomed {tenant.slug}"

        return later()


async def test_every_plugin_runs_even_when_others_fail_and_failures_are_raised_together():
    pm = create_plugin_manager(
        load_entry_points=False, extra_plugins=[Succeeds(), FailsNow(), FailsLater()]
    )
    tenant = TenantRef(id=uuid.uuid4(), slug="acme")

    with pytest.raises(PluginEventFailed) as caught:
        await fire_event(pm, "on_tenant_created", tenant=tenant)

    error = caught.value
    assert [name for name, _ in error.failures] == [
        "tests.plugins.test_plugin_events.FailsLater",
        "tests.plugins.test_plugin_events.FailsNow",
    ]
    assert [type(exc) for _, exc in error.failures] == [ConnectionError, RuntimeError]
    assert error.results == ["welcomed acme"]
    assert error.code == "PLUGIN_EVENT_FAILED"


async def test_bad_event_calls_are_programming_errors(plugin_manager):
    tenant = TenantRef(id=uuid.uuid4(), slug="acme")
    with pytest.raises(ValueError, match="not an event hook"):
        await fire_event(plugin_manager, "register_themes")
    with pytest.raises(TypeError, match=r"missing \['message_id'"):
        kwargs = email_sent(tenant)
        del kwargs["message_id"]
        await fire_event(plugin_manager, "on_email_sent", **kwargs)
    with pytest.raises(TypeError, match=r"unexpected \['extra'\]"):
        await fire_event(plugin_manager, "on_tenant_created", tenant=tenant, extra=1)
