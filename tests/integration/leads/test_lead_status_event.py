"""A person changing a lead's status (one lead or in bulk) fires `on_lead_status_changed`."""

from __future__ import annotations

from salescopilot import hookimpl
from salescopilot.clock import system_clock
from salescopilot.leads.service import LeadService
from salescopilot.plugin_system.manager import create_plugin_manager
from salescopilot.tenancy.context import tenant_scope


class StatusRecorder:
    def __init__(self) -> None:
        self.seen: list[tuple] = []

    @hookimpl
    def on_lead_status_changed(self, tenant, lead_id, old_status, new_status, actor):
        self.seen.append((tenant.slug, lead_id, old_status, new_status, actor.kind))


async def test_status_changes_reach_plugins(tenant_a):
    recorder = StatusRecorder()
    manager = create_plugin_manager(load_entry_points=False, extra_plugins=[recorder])
    async with tenant_scope(tenant_a):
        service = LeadService(clock=system_clock, plugin_manager=manager)
        one = await service.create({"email": "s1@example.com"})
        two = await service.create({"email": "s2@example.com", "status": "active"})
        await service.update(one.id, {"company": "No status change"})
        await service.update(one.id, {"status": "replied"})
        await service.bulk("set_status", [one.id, two.id], "active")
    assert recorder.seen == [
        ("acme", one.id, "new", "replied", "system"),
        ("acme", one.id, "replied", "active", "system"),
    ]
