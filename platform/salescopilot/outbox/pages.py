"""Pages of the send ledger: tabs of queued, sent, failed (dead letters), uncertain and cancelled
messages with their reasons and the admin's actions, and the dry-run plan."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from salescopilot.listing import ListQuery
from salescopilot.outbox.controllers import MAX_PLAN_HOURS, message_view, outbox_service
from salescopilot.outbox.planner import dry_run
from salescopilot.outbox.service import STATE_GROUPS
from salescopilot.web.guards import principal_of

Tab = Literal["queued", "sent", "failed", "uncertain", "cancelled"]
TAB_LABELS = {
    "queued": "Queued",
    "sent": "Sent",
    "failed": "Failed",
    "uncertain": "Uncertain",
    "cancelled": "Cancelled",
}
PAGE_SIZE = 50


class OutboxPages(Controller):
    path = "/outbox"
    include_in_schema = False

    @get("/", opt={"permission": "outbox.view"})
    async def page(
        self, request: Request,
        tab: Annotated[Tab, Parameter(query="tab")] = "queued",
        page: Annotated[int, Parameter(query="page", ge=1, le=1_000_000)] = 1,
    ) -> Template:
        service = outbox_service(request)
        # The queue in the order it will go; the others newest first.
        query = ListQuery(page=page, limit=PAGE_SIZE, sort="due_at" if tab == "queued" else "updated_at",
                          descending=tab != "queued")
        found = await service.list_messages(query, STATE_GROUPS[tab])
        counts = await service.counts()
        return Template("outbox/list.html", context={
            "tab": tab,
            "tabs": [(name, label, sum(counts.get(s, 0) for s in STATE_GROUPS[name])) for name, label in TAB_LABELS.items()],
            "messages": [message_view(row) for row in found.items],
            "pagination": found.envelope([])["pagination"],
            "principal": principal_of(request),
        })

    @get("/plan", opt={"permission": "outbox.view"})
    async def plan(
        self, request: Request,
        hours: Annotated[int, Parameter(query="hours", ge=1, le=MAX_PLAN_HOURS)] = 24,
    ) -> Template:
        plan = await dry_run(request.app.state.services.clock.now(), hours)
        return Template("outbox/plan.html", context={"plan": plan, "hours": hours, "choices": (6, 24, 72, 168)})

    @post("/{message_id:uuid}/retry", opt={"permission": "outbox.manage"})
    async def retry(self, request: Request, message_id: uuid.UUID) -> Response:
        await outbox_service(request).retry(message_id)
        return await self._back(request)

    @post("/{message_id:uuid}/mark-sent", opt={"permission": "outbox.manage"})
    async def mark_sent(self, request: Request, message_id: uuid.UUID) -> Response:
        await outbox_service(request).mark_sent(message_id)
        return await self._back(request)

    @post("/{message_id:uuid}/cancel", opt={"permission": "outbox.manage"})
    async def cancel(self, request: Request, message_id: uuid.UUID) -> Response:
        await outbox_service(request).cancel(message_id)
        return await self._back(request)

    async def _back(self, request: Request) -> Response:
        tab = str((await request.form()).get("tab", "queued"))
        return Redirect(path=f"/outbox?tab={tab if tab in TAB_LABELS else 'queued'}")
