"""JSON API of the composer (`/api/v1/composer`): drafts, sending now or at a time (with
`Idempotency-Key`), cancelling a scheduled send, preview for a lead and the spam score."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import Provide
from litestar.params import Parameter

from salescopilot.composer.service import MAX_RECIPIENTS, ComposerService, SendReport, draft_json
from salescopilot.templates.controllers import rendered_json, sender_values
from salescopilot.web.deps import composer_service, template_service
from salescopilot.web.guards import principal_of
from salescopilot.web.idempotency import idempotent
from salescopilot.web.openapi import error_responses
from salescopilot.web.params import ListParams, provide_list_params

IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False, max_length=255)]
IDEMPOTENT = error_responses(409, 422)
HtmlBody = Annotated[str, msgspec.Meta(max_length=40_000)]
TextBody = Annotated[str, msgspec.Meta(max_length=20_000)]
Subject = Annotated[str, msgspec.Meta(max_length=500)]
LeadIds = Annotated[list[uuid.UUID], msgspec.Meta(max_length=MAX_RECIPIENTS)]


class ComposerContent(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    subject: Subject = ""
    html: HtmlBody = ""
    text: TextBody = ""
    lead_ids: LeadIds = msgspec.field(default_factory=list)
    mailbox_id: uuid.UUID | None = None
    pool_id: uuid.UUID | None = None
    template_id: uuid.UUID | None = None
    track_opens: bool = False
    track_clicks: bool = False
    #: The AI draft (`provenance.draftId` of an /api/v1/ai answer) the content came from; once
    #: set, a save without one keeps it.
    ai_draft_id: uuid.UUID | None = None
    #: The unified inbox message (a lead's reply) this email answers: that lead gets it in the
    #: reply's thread (In-Reply-To, References). Once set, a save without one keeps it.
    in_reply_to_id: uuid.UUID | None = None


class ComposeAndSend(ComposerContent, forbid_unknown_fields=True, rename="camel"):
    #: With its UTC offset; omitted: now.
    send_at: dt.datetime | None = None


class SendDraft(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    send_at: dt.datetime | None = None


class ComposerPreview(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    subject: Subject = ""
    html: HtmlBody = ""
    text: TextBody = ""
    lead_id: uuid.UUID | None = None
    mailbox_id: uuid.UUID | None = None


class SpamCheckRequest(ComposerPreview, forbid_unknown_fields=True, rename="camel"):
    #: Score it with the open pixel and tracked links, as a tracked campaign would send it.
    track: bool = False


def _content(data: ComposerContent) -> dict[str, Any]:
    values = msgspec.structs.asdict(data)
    values.pop("send_at", None)
    return values


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def message_json(row: Any) -> dict[str, Any]:
    return {"id": str(row.id), "leadId": str(row.lead) if row.lead else None, "recipient": row.recipient_email,
            "subject": row.subject, "state": row.state, "dueAt": _iso(row.due_at), "sentAt": _iso(row.sent_at),
            "mailboxId": str(row.mailbox) if row.mailbox else None, "failure": row.failure or None}


def report_json(report: SendReport) -> dict[str, Any]:
    return {"draft": draft_json(report.draft), "messages": [message_json(m) for m in report.messages],
            "skipped": report.skipped}


async def send_and_wake(request: Request, service: ComposerService, draft_id: uuid.UUID,
                        send_at: dt.datetime | None) -> SendReport:
    """Queue the draft and make sure a sender pass runs when its messages are due."""
    from salescopilot.outbox.tasks import wake_sender
    from salescopilot.tenancy.context import current_tenant_id

    report = await service.send(draft_id, send_at=send_at, sender=(await sender_values(request))["sender"])
    due = report.draft.send_at or service.clock.now()
    await wake_sender(current_tenant_id(), max(due, service.clock.now() + dt.timedelta(seconds=1)))
    return report


class ComposerController(Controller):
    path = "/api/v1/composer"
    tags = ["composer"]
    dependencies = {"listing": Provide(provide_list_params)}

    @get("/drafts", opt={"permission": "composer.read"})
    async def list_drafts(
        self, request: Request, listing: ListParams,
        status: Annotated[Literal["draft", "scheduled", "sent"] | None, Parameter(query="status", required=False)] = None,
    ) -> dict:
        """Drafts, scheduled and sent emails of the composer (filter by status)."""
        page = await composer_service(request).page(
            listing.query(sortable=ComposerService.SORTABLE, filters={"status": status})
        )
        return page.envelope([draft_json(row) for row in page.items])

    @post("/drafts", opt={"permission": "composer.send"}, status_code=201, responses=IDEMPOTENT)
    async def create_draft(self, request: Request, data: ComposerContent,
                           idempotency_key: IdempotencyKey = None) -> Response:
        """Save a draft (it may be incomplete: recipients and mailbox are needed only to send)."""

        async def produce() -> tuple[int, dict]:
            row = await composer_service(request).create(_content(data), author=principal_of(request).user_id)
            return 201, {"data": draft_json(row)}

        return await idempotent(request, idempotency_key, data, produce)

    @get("/drafts/{draft_id:uuid}", opt={"permission": "composer.read"})
    async def get_draft(self, request: Request, draft_id: uuid.UUID) -> dict:
        """One draft, scheduled or sent email."""
        return {"data": draft_json(await composer_service(request).get(draft_id))}

    @put("/drafts/{draft_id:uuid}", opt={"permission": "composer.send"}, responses=IDEMPOTENT)
    async def save_draft(self, request: Request, draft_id: uuid.UUID, data: ComposerContent) -> dict:
        """Replace a draft's content (refused once it is scheduled or sent)."""
        return {"data": draft_json(await composer_service(request).update(draft_id, _content(data)))}

    @delete("/drafts/{draft_id:uuid}", opt={"permission": "composer.send"}, status_code=204)
    async def delete_draft(self, request: Request, draft_id: uuid.UUID) -> None:
        """Delete a draft (not a scheduled or sent email)."""
        await composer_service(request).delete(draft_id)

    @post("/drafts/{draft_id:uuid}/send", opt={"permission": "composer.send"}, status_code=201, responses=IDEMPOTENT)
    async def send_draft(self, request: Request, draft_id: uuid.UUID, data: SendDraft,
                         idempotency_key: IdempotencyKey = None) -> Response:
        """Queue the draft for each of its leads, now or at `sendAt`. Refused, with every
        problem per lead, while a variable is unknown or empty; suppressed leads are skipped."""

        async def produce() -> tuple[int, dict]:
            report = await send_and_wake(request, composer_service(request), draft_id, data.send_at)
            return 201, {"data": report_json(report)}

        return await idempotent(request, idempotency_key, {"draft": str(draft_id), "sendAt": _iso(data.send_at)}, produce)

    @post("/drafts/{draft_id:uuid}/cancel", opt={"permission": "composer.send"}, status_code=200)
    async def cancel(self, request: Request, draft_id: uuid.UUID) -> dict:
        """Cancel a scheduled email before it goes: it becomes an editable draft again."""
        return {"data": draft_json(await composer_service(request).cancel(draft_id))}

    @get("/drafts/{draft_id:uuid}/messages", opt={"permission": "composer.read"})
    async def messages(self, request: Request, draft_id: uuid.UUID) -> dict:
        """The outbox messages of a scheduled or sent email, with their states."""
        service = composer_service(request)
        return {"data": [message_json(m) for m in await service.messages_of(await service.get(draft_id))]}

    @post("/send", opt={"permission": "composer.send"}, status_code=201, responses=IDEMPOTENT)
    async def compose_and_send(self, request: Request, data: ComposeAndSend,
                               idempotency_key: IdempotencyKey = None) -> Response:
        """Write and send in one request (the email is kept like a sent draft). Send with an
        `Idempotency-Key`: a retry then never sends twice."""

        async def produce() -> tuple[int, dict]:
            service = composer_service(request)
            row = await service.create(_content(data), author=principal_of(request).user_id)
            report = await send_and_wake(request, service, row.id, data.send_at)
            return 201, {"data": report_json(report)}

        return await idempotent(request, idempotency_key, data, produce)

    @post("/preview", opt={"permission": "composer.read"}, status_code=200)
    async def preview(self, request: Request, data: ComposerPreview) -> dict:
        """The email rendered for a lead, with every unknown or empty variable reported."""
        rendered, values = await template_service(request).preview(
            data.subject, data.html, data.text, lead_id=data.lead_id, extra=await sender_values(request)
        )
        return {"data": rendered_json(rendered, values)}

    @post("/spam-check", opt={"permission": "composer.read"}, status_code=200, responses=error_responses(502, 503))
    async def spam_check(self, request: Request, data: SpamCheckRequest) -> dict:
        """SpamAssassin's score of the email as the lead would receive it from the mailbox, with
        every rule hit (goal: 2.0 or less)."""
        from salescopilot.composer.spam import content_spam_verdict

        services = request.app.state.services
        verdict = await content_spam_verdict(
            subject=data.subject, html=data.html, text=data.text, lead_id=data.lead_id,
            mailbox_id=data.mailbox_id, sender=(await sender_values(request))["sender"], track=data.track,
            settings=request.app.state.settings, clock=services.clock, box=services.secret_box,
        )
        return {"data": verdict.to_dict()}
