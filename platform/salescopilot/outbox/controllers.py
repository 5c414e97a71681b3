"""JSON API of the send ledger (`/api/v1/outbox`): the messages with why they wait or failed, the
admin's actions on dead letters and uncertain sends, the counts, and the dry-run plan."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import Parameter

from salescopilot.outbox.planner import dry_run
from salescopilot.outbox.service import OutboxService
from salescopilot.web.params import ListParams, provide_list_params

BULK_MAX = 500
State = Literal["queued", "claimed", "sending", "retry", "sent", "failed", "uncertain", "paused", "cancelled"]
#: The dry run looks at most a week ahead (it steps through every event on the way).
MAX_PLAN_HOURS = 168


class OutboxBulk(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["retry", "cancel"]
    ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=BULK_MAX)]


def outbox_service(request: Request) -> OutboxService:
    return OutboxService(request.app.state.settings.outbox, request.app.state.services.clock)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


def _id(value: Any) -> str | None:
    return str(value) if value is not None else None


def message_view(row: Any, *, with_body: bool = False) -> dict[str, Any]:
    """A ledger row (a dict from a list, or a table row) as the API and pages show it."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    view = {
        "id": _id(get("id")),
        "state": get("state"),
        "messageId": get("message_id"),
        "recipient": get("recipient_email"),
        "recipientName": get("recipient_name"),
        "subject": get("subject"),
        "step": get("step"),
        "enrollment": _id(get("enrollment")),
        "campaign": _id(get("campaign")),
        "lead": _id(get("lead")),
        "pool": _id(get("pool")),
        "mailbox": _id(get("mailbox")),
        "dueAt": _iso(get("due_at")),
        "waitReason": get("wait_reason"),
        "attempts": get("attempts"),
        "sentAt": _iso(get("sent_at")),
        "failure": get("failure"),
        "lastError": get("last_error"),
        "errorStatus": get("error_status"),
        "providerMessageId": get("provider_message_id"),
        "inReplyTo": get("in_reply_to"),
        "createdAt": _iso(get("created_at")),
        "updatedAt": _iso(get("updated_at")),
    }
    if with_body:
        view["bodyText"] = get("body_text")
        view["bodyHtml"] = get("body_html")
    return view


async def provide_outbox_filters(
    # Not named `state`: Litestar reserves that name for the app state.
    state_filter: State | None = Parameter(query="state", default=None),
    mailbox: uuid.UUID | None = Parameter(query="mailbox", default=None, description="Mailbox id"),
    campaign: uuid.UUID | None = Parameter(query="campaign", default=None, description="Campaign id"),
) -> dict[str, Any]:
    return {"state": state_filter, "mailbox": mailbox, "campaign": campaign}


class OutboxController(Controller):
    path = "/api/v1/outbox"
    tags = ["outbox"]
    dependencies = {"listing": Provide(provide_list_params), "filters": Provide(provide_outbox_filters)}

    @get("/", opt={"permission": "outbox.view"})
    async def list_messages(self, request: Request, listing: ListParams, filters: dict[str, Any]) -> dict:
        """Messages of the ledger, each with why it waits (`waitReason`) or failed (`failure`,
        `lastError`, `errorStatus`); filter by state, mailbox or campaign."""
        page = await outbox_service(request).list_messages(
            listing.query(sortable=OutboxService.SORTABLE, filters=filters)
        )
        return page.envelope([message_view(row) for row in page.items])

    @get("/counts", opt={"permission": "outbox.view"})
    async def counts(self, request: Request) -> dict:
        """How many messages are in each state."""
        return {"data": await outbox_service(request).counts()}

    @get("/plan", opt={"permission": "outbox.view"})
    async def plan(
        self, request: Request,
        hours: Annotated[float, Parameter(query="hours", gt=0, le=MAX_PLAN_HOURS)] = 24,
    ) -> dict:
        """The dry run: which waiting message would go when, from which mailbox, and why it
        waits; nothing is sent. It assumes every send succeeds."""
        plan = await dry_run(request.app.state.services.clock.now(), hours)
        return {"data": plan.to_dict()}

    @post("/bulk", opt={"permission": "outbox.manage"}, status_code=200)
    async def bulk(self, request: Request, data: OutboxBulk) -> dict:
        """Retry or cancel several messages, all or nothing."""
        processed = await outbox_service(request).bulk(data.action, data.ids)
        return {"data": {"action": data.action, "processed": processed}}

    @get("/{message_id:uuid}", opt={"permission": "outbox.view"})
    async def get_message(self, request: Request, message_id: uuid.UUID) -> dict:
        """One message, with its text and HTML bodies."""
        return {"data": message_view(await outbox_service(request).get(message_id), with_body=True)}

    @post("/{message_id:uuid}/retry", opt={"permission": "outbox.manage"}, status_code=200)
    async def retry(self, request: Request, message_id: uuid.UUID) -> dict:
        """Send a dead letter (not a hard bounce) or an uncertain message again, with the same
        Message-ID. An uncertain message may then arrive twice."""
        return {"data": message_view(await outbox_service(request).retry(message_id))}

    @post("/{message_id:uuid}/mark-sent", opt={"permission": "outbox.manage"}, status_code=200)
    async def mark_sent(self, request: Request, message_id: uuid.UUID) -> dict:
        """Record an uncertain message as sent (found in the mailbox); it is never resent."""
        return {"data": message_view(await outbox_service(request).mark_sent(message_id))}

    @post("/{message_id:uuid}/cancel", opt={"permission": "outbox.manage"}, status_code=200)
    async def cancel(self, request: Request, message_id: uuid.UUID) -> dict:
        """Cancel a message that has not been sent."""
        return {"data": message_view(await outbox_service(request).cancel(message_id))}

