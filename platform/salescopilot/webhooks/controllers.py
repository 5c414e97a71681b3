"""JSON API of webhook endpoints, their delivery log and the dead-letter list."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide

from salescopilot.listing import ListQuery, Page
from salescopilot.web.openapi import error_responses
from salescopilot.web.params import ListParams, provide_list_params
from salescopilot.webhooks.service import WebhookService, delivery_json, endpoint_json

Url = Annotated[str, msgspec.Meta(min_length=8, max_length=2048)]
Events = Annotated[list[Annotated[str, msgspec.Meta(max_length=60)]], msgspec.Meta(min_length=1, max_length=20)]


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    events: Events
    description: Annotated[str, msgspec.Meta(max_length=200)] = ""


class WebhookUpdate(msgspec.Struct, forbid_unknown_fields=True):
    url: Url | None = None
    events: Events | None = None
    enabled: bool | None = None
    description: Annotated[str, msgspec.Meta(max_length=200)] | None = None


def webhook_service(request: Request) -> WebhookService:
    services = request.app.state.services
    return WebhookService(services.clock, services.secret_box, services.settings)


class WebhookController(Controller):
    path = "/api/v1/webhooks"
    tags = ["webhooks"]
    dependencies = {"listing": Provide(provide_list_params)}

    @get("/", opt={"permission": "webhooks.view"})
    async def list_endpoints(self, request: Request) -> dict:
        rows = await webhook_service(request).all()
        return {"data": [endpoint_json(row) for row in rows],
                "pagination": {"page": 1, "limit": len(rows), "total": len(rows), "totalPages": 1}}

    @post("/", opt={"permission": "webhooks.manage"}, status_code=201, responses=error_responses(400))
    async def create(self, request: Request, data: WebhookCreate) -> dict:
        """A new endpoint. Its signing secret is in this answer only (rotate it if lost)."""
        row, secret = await webhook_service(request).create(data.url, data.events, data.description)
        return {"data": {**endpoint_json(row), "secret": secret}}

    @get("/{endpoint_id:uuid}", opt={"permission": "webhooks.view"}, responses=error_responses(404))
    async def show(self, request: Request, endpoint_id: uuid.UUID) -> dict:
        return {"data": endpoint_json(await webhook_service(request).get(endpoint_id))}

    @patch("/{endpoint_id:uuid}", opt={"permission": "webhooks.manage"}, responses=error_responses(400, 404))
    async def change(self, request: Request, endpoint_id: uuid.UUID, data: WebhookUpdate) -> dict:
        row = await webhook_service(request).update(endpoint_id, url=data.url, events=data.events,
                                                     enabled=data.enabled, description=data.description)
        return {"data": endpoint_json(row)}

    @post("/{endpoint_id:uuid}/rotate-secret", opt={"permission": "webhooks.manage"}, status_code=200,
          responses=error_responses(404))
    async def rotate(self, request: Request, endpoint_id: uuid.UUID) -> dict:
        return {"data": {"secret": await webhook_service(request).rotate_secret(endpoint_id)}}

    @delete("/{endpoint_id:uuid}", opt={"permission": "webhooks.manage"}, status_code=204,
            responses=error_responses(404))
    async def remove(self, request: Request, endpoint_id: uuid.UUID) -> None:
        await webhook_service(request).delete(endpoint_id)

    @get("/{endpoint_id:uuid}/deliveries", opt={"permission": "webhooks.view"}, responses=error_responses(404))
    async def deliveries(self, request: Request, endpoint_id: uuid.UUID, listing: ListParams) -> dict:
        """The endpoint's delivery log, newest first."""
        rows, total = await webhook_service(request).log_of(endpoint_id, page=listing.page, limit=listing.limit)
        page = Page(items=rows, total=total, query=ListQuery(page=listing.page, limit=listing.limit))
        return page.envelope([delivery_json(row) for row in rows])


class WebhookDeliveryController(Controller):
    path = "/api/v1/webhook-deliveries"
    tags = ["webhooks"]
    dependencies = {"listing": Provide(provide_list_params)}

    @get("/dead", opt={"permission": "webhooks.view"})
    async def dead_letters(self, request: Request, listing: ListParams) -> dict:
        """Deliveries that failed every retry, newest first."""
        rows, total = await webhook_service(request).dead_letters(page=listing.page, limit=listing.limit)
        page = Page(items=rows, total=total, query=ListQuery(page=listing.page, limit=listing.limit))
        return page.envelope([delivery_json(row) for row in rows])

    @post("/{delivery_id:uuid}/replay", opt={"permission": "webhooks.manage"}, status_code=200,
          responses=error_responses(404))
    async def replay(self, request: Request, delivery_id: uuid.UUID) -> dict:
        """Send the event again (same body and event id) as a fresh series of tries."""
        return {"data": delivery_json(await webhook_service(request).replay(delivery_id))}
