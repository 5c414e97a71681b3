"""The unified inbox page: replies, out-of-office answers, bounces, complaints and unsubscribe
requests from every mailbox, filterable by classification, intent, mailbox and campaign; one
message with its thread (what we sent, what came back), the form that corrects its
classification, the AI's reading of its intent, and an answer (suggested by the AI on request)
that opens as a composer draft to the lead."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from salescopilot.ai.errors import AiNotConfigured
from salescopilot.ai.pages import panel_context
from salescopilot.campaigns.service import CampaignService
from salescopilot.errors import DomainError, NotFound, ValidationFailed
from salescopilot.inbound.controllers import MODEL, Kind, inbound_service, intents_service, message_json, thread_json
from salescopilot.inbound.intent import INTENT_LABELS, can_have_intent, intent_badge
from salescopilot.mail.message import reply_subject
from salescopilot.listing import ListQuery
from salescopilot.mailboxes.service import MailboxService
from salescopilot.tenancy.context import current_tenant, tenant_scope
from salescopilot.web.guards import principal_of

PAGE_SIZE = 50
KIND_LABELS = {
    "reply": "Reply", "auto_reply": "Out of office / auto-reply", "bounce": "Bounce",
    "complaint": "Complaint", "unsubscribe": "Unsubscribe request", "unknown": "Other",
}


class InboxPages(Controller):
    path = "/inbox"
    include_in_schema = False

    @get("/", opt={"permission": "inbox.read"})
    async def page(
        self, request: Request,
        kind: Annotated[str, Parameter(query="kind", max_length=20)] = "",
        intent: Annotated[str, Parameter(query="intent", max_length=30)] = "",
        mailbox: Annotated[str, Parameter(query="mailbox", max_length=40)] = "",
        campaign: Annotated[str, Parameter(query="campaign", max_length=40)] = "",
        page: Annotated[int, Parameter(query="page", ge=1, le=100_000)] = 1,
    ) -> Template:
        mailbox_id, campaign_id = _uuid(mailbox, "mailbox"), _uuid(campaign, "campaign")
        filters = {"mailbox": mailbox_id} if mailbox_id else {}
        found = await inbound_service(request).page(
            ListQuery(page=page, limit=PAGE_SIZE, filters=filters, sort="received_at", descending=True),
            kind=kind or None, campaign=campaign_id, intent=intent or None,
        )
        services = request.app.state.services
        mailboxes = await MailboxService(services.clock).all()
        campaigns = await CampaignService(services.settings.outbox, clock=services.clock).page(
            ListQuery(page=1, limit=200, sort="name"))
        chosen = {"kind": kind, "intent": intent, "mailbox": mailbox, "campaign": campaign}
        return Template("inbox/list.html", context={
            "messages": [message_json(row) for row in found.items],
            "pagination": found.envelope([])["pagination"],
            "kinds": KIND_LABELS, "intents": INTENT_LABELS, "intent_badge": intent_badge,
            "mailboxes": [(str(m.id), m.email) for m in mailboxes],
            "mailbox_names": {str(m.id): m.email for m in mailboxes},
            "campaigns": [(str(c["id"]), c["name"]) for c in campaigns.items],
            "chosen": chosen,
            "filter_query": urlencode({k: v for k, v in chosen.items() if v}),
            "principal": principal_of(request),
        })

    @get("/{inbound_message_id:uuid}", opt={"permission": "inbox.read"})
    async def show(self, request: Request, inbound_message_id: uuid.UUID) -> Template:
        return await self._message_page(request, inbound_message_id, notice=request.query_params.get("notice"))

    async def _message_page(self, request: Request, message: uuid.UUID, *, notice: str | None = None,
                            error: DomainError | None = None, answer: dict | None = None) -> Template:
        """The message page; also answers the AI actions, which run outside a transaction (so
        it reads in a scope of its own, or joins the request's)."""
        service = inbound_service(request)
        async with tenant_scope(current_tenant(), write=False):
            row = await service.get(message)
            thread = thread_json(await service.thread(row))
        shown = message_json(row)
        return Template("inbox/message.html", status_code=error.status_code if error else 200, context={
            "message": shown, "thread": thread,
            "kinds": KIND_LABELS, "intents": INTENT_LABELS, "intent_badge": intent_badge,
            "principal": principal_of(request), "notice": notice,
            "error": error.message if error else None, "not_configured": isinstance(error, AiNotConfigured),
            "has_intent": can_have_intent(row), "ai": await panel_context(request),
            "answer": answer or {"subject": reply_subject(row.subject), "body": "", "ai_draft_id": ""},
        })

    @post("/{inbound_message_id:uuid}/intent", opt={"permission": "ai.use", **MODEL})
    async def classify_intent(self, request: Request, inbound_message_id: uuid.UUID) -> Response:
        """Read what the reply wants with the workspace's model (a person's request)."""
        try:
            row = await intents_service(request).classify(inbound_message_id)
        except NotFound:
            raise
        except DomainError as error:
            return await self._message_page(request, inbound_message_id, error=error)
        notice = f"Read as: {INTENT_LABELS.get(row.intent or '', row.intent or '').lower()}."
        return Redirect(path=f"/inbox/{inbound_message_id}?" + urlencode({"notice": notice}))

    @post("/{inbound_message_id:uuid}/suggested-reply", opt={"permission": "ai.use", **MODEL})
    async def suggest_reply(self, request: Request, inbound_message_id: uuid.UUID) -> Template:
        """The answer form, filled with the AI's draft answer (nothing saved until the person
        opens it in the composer)."""
        try:
            row, result = await intents_service(request).suggest_reply(inbound_message_id)
        except NotFound:
            raise
        except DomainError as error:
            return await self._message_page(request, inbound_message_id, error=error)
        answer = {"subject": reply_subject(row.subject), "body": result.output["body"],
                  "ai_draft_id": str(result.draft_id) if result.draft_id else "",
                  "provenance": result.provenance(), "injection_suspected": result.injection_suspected}
        return await self._message_page(request, inbound_message_id, answer=answer,
                                        notice="A suggested answer is in the form below: read it and edit it before sending.")

    @post("/{inbound_message_id:uuid}/answer", opt={"permission": "composer.send"})
    async def answer(self, request: Request, inbound_message_id: uuid.UUID) -> Response:
        """The answer as a composer draft to the message's lead, from the mailbox that received
        it; the composer sends or schedules it."""
        from salescopilot.templates.library import text_to_html
        from salescopilot.web.deps import composer_service

        row = await inbound_service(request).get(inbound_message_id)
        form = await request.form()
        text = str(form.get("text", ""))[:20_000]
        answer = {"subject": str(form.get("subject", ""))[:500], "body": text,
                  "ai_draft_id": str(form.get("ai_draft_id", ""))[:40]}
        try:
            if row.lead is None:
                raise ValidationFailed("This message is not matched to a lead: answer it from your mail client.",
                                       details={"field": "lead"})
            if not text.strip():
                raise ValidationFailed("Write the answer first.", details={"field": "text"})
            draft = await composer_service(request).create({
                "subject": answer["subject"], "html": text_to_html(text), "text": text,
                "lead_ids": [str(row.lead)], "mailbox_id": str(row.mailbox),
                "ai_draft_id": answer["ai_draft_id"] or None, "in_reply_to_id": row.id,
            }, author=principal_of(request).user_id)
        except NotFound:
            raise
        except DomainError as error:
            return await self._message_page(request, inbound_message_id, error=error, answer=answer)
        notice = "Your answer is a draft: check it, then send it."
        return Redirect(path=f"/composer/{draft.id}?" + urlencode({"notice": notice}))

    @post("/{inbound_message_id:uuid}/classification", opt={"permission": "inbox.manage"})
    async def reclassify(self, request: Request, inbound_message_id: uuid.UUID) -> Response:
        form = await request.form()
        kind = str(form.get("kind", ""))[:40]
        principal = principal_of(request)
        await inbound_service(request).correct(inbound_message_id, kind, by=principal.user_id)
        notice = f"Classified as {KIND_LABELS[kind].lower()}."
        return Redirect(path=f"/inbox/{inbound_message_id}?" + urlencode({"notice": notice}))


def _uuid(value: str, field: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(f"Unknown {field}.", details={"field": field}) from None


__all__ = ["InboxPages", "Kind"]
