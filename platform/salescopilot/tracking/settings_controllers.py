"""JSON API of the tenant's tracking switches and of a message's tracking events."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, put

from salescopilot.tracking.service import TrackingService, event_json, switches_json
from salescopilot.web.openapi import error_responses


class TrackingSettingsInput(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    opens_enabled: bool | None = None
    clicks_enabled: bool | None = None
    #: The tenant's own tracking hostname (a CNAME to this installation); "" removes it.
    tracking_domain: Annotated[str, msgspec.Meta(max_length=253)] | None = None
    mailboxes_off: Annotated[list[uuid.UUID], msgspec.Meta(max_length=10_000)] | None = None


def _service(request: Request) -> TrackingService:
    services = request.app.state.services
    return TrackingService(services.clock, services.plugin_manager)


class TrackingSettingsController(Controller):
    path = "/api/v1/tracking"
    tags = ["tracking"]

    @get("/settings", opt={"permission": "tracking.view"})
    async def show(self, request: Request) -> dict:
        """The tenant's tracking switches (a campaign's own flags apply within them)."""
        return {"data": switches_json(await _service(request).switches())}

    @put("/settings", opt={"permission": "tracking.manage"}, responses=error_responses(409))
    async def change(self, request: Request, data: TrackingSettingsInput) -> dict:
        """Change the switches; fields left out stay as they are."""
        switches = await _service(request).update_switches(
            opens_enabled=data.opens_enabled, clicks_enabled=data.clicks_enabled,
            tracking_domain=data.tracking_domain, mailboxes_off=data.mailboxes_off,
        )
        request.app.state.tenant_resolver.forget()
        return {"data": switches_json(switches)}

    @get("/messages/{message_id:uuid}/events", opt={"permission": "tracking.view"}, responses=error_responses(404))
    async def events(self, request: Request, message_id: uuid.UUID) -> dict:
        """Opens, clicks and unsubscribes of one sent message, human and machine, oldest first."""
        rows = await _service(request).events_of(message_id)
        return {"data": [event_json(row) for row in rows]}
