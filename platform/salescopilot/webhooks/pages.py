"""The webhooks settings page: endpoints, their recent deliveries, the dead-letter list."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from salescopilot.errors import DomainError
from salescopilot.web.guards import principal_of
from salescopilot.webhooks.controllers import webhook_service
from salescopilot.webhooks.service import EVENT_KINDS, delivery_json, endpoint_json


class WebhookPages(Controller):
    path = "/settings/webhooks"
    include_in_schema = False

    @get("/", opt={"permission": "webhooks.view"})
    async def page(self, request: Request) -> Template:
        return await self._render(request)

    async def _render(self, request: Request, *, error: str | None = None, secret: str | None = None,
                      status_code: int = 200) -> Template:
        service = webhook_service(request)
        endpoints = []
        for row in await service.all():
            log, _ = await service.log_of(row.id, page=1, limit=10)
            endpoints.append({**endpoint_json(row), "deliveries": [delivery_json(d) for d in log]})
        dead, dead_total = await service.dead_letters(page=1, limit=50)
        return Template("webhooks.html", status_code=status_code, context={
            "endpoints": endpoints, "dead": [delivery_json(d) for d in dead], "dead_total": dead_total,
            "kinds": EVENT_KINDS, "error": error, "secret": secret, "principal": principal_of(request),
            "notice": request.query_params.get("notice"),
        })

    @post("/", opt={"permission": "webhooks.manage"})
    async def add(self, request: Request) -> Response:
        form = await request.form()
        events = [str(e) for e in form.getall("events", [])]
        try:
            _, secret = await webhook_service(request).create(
                str(form.get("url", ""))[:2048], events, str(form.get("description", ""))[:200])
        except DomainError as error:
            return await self._render(request, error=error.message, status_code=error.status_code)
        return await self._render(request, secret=secret, status_code=201)

    @post("/{endpoint_id:uuid}/toggle", opt={"permission": "webhooks.manage"})
    async def toggle(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        service = webhook_service(request)
        row = await service.get(endpoint_id)
        await service.update(endpoint_id, enabled=not row.enabled)
        return Redirect(path="/settings/webhooks?" + urlencode({"notice": "Endpoint updated."}))

    @post("/{endpoint_id:uuid}/remove", opt={"permission": "webhooks.manage"})
    async def remove(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        await webhook_service(request).delete(endpoint_id)
        return Redirect(path="/settings/webhooks?" + urlencode({"notice": "Endpoint removed."}))

    @post("/deliveries/{delivery_id:uuid}/replay", opt={"permission": "webhooks.manage"})
    async def replay(self, request: Request, delivery_id: uuid.UUID) -> Response:
        await webhook_service(request).replay(delivery_id)
        return Redirect(path="/settings/webhooks?" + urlencode({"notice": "Delivery queued again."}))
