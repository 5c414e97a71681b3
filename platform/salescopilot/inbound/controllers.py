"""JSON API of the unified inbox (`/api/v1/inbox`): inbound messages with their classification,
match and intent, one message with its thread, a person's correction, the inbound policy, a sync
started by hand, and the AI's reading of a reply's intent and its draft answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, get_args

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.di import Provide
from litestar.params import Parameter

from salescopilot.ai.schemas import INTENTS
from salescopilot.inbound.intent import ReplyIntents
from salescopilot.mail.message import reply_subject
from salescopilot.inbound.service import InboundService, effective_kind, policy_json
from salescopilot.listing import ListQuery
from salescopilot.web.deps import ai_service
from salescopilot.web.guards import principal_of
from salescopilot.web.openapi import error_responses
from salescopilot.web.params import ListParams, provide_list_params

Kind = Literal["reply", "auto_reply", "bounce", "complaint", "unsubscribe", "unknown"]
#: `ai.schemas.INTENTS`, spelled out for the OpenAPI schema.
Intent = Literal["interested", "not_interested", "meeting_request", "referral", "objection", "question",
                 "out_of_office", "unsubscribe"]
assert set(get_args(Intent)) == set(INTENTS)
MODEL = {"own_transactions": True}


class Reclassification(msgspec.Struct, forbid_unknown_fields=True):
    kind: Kind


class InboundPolicyInput(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    stop_company_on_reply: bool = False
    out_of_office_days: Annotated[int, msgspec.Meta(ge=0, le=90)] = 7
    soft_bounce_limit: Annotated[int, msgspec.Meta(ge=1, le=50)] = 3


def inbound_service(request: Request) -> InboundService:
    services = request.app.state.services
    return InboundService(services.clock, plugin_manager=services.plugin_manager,
                          box=services.secret_box)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else value


def intent_json(get_: Any) -> dict[str, Any] | None:
    """What the reply wants, as the AI read it (None until read)."""
    if not get_("intent"):
        return None
    confidence = get_("intent_confidence")
    return {
        "label": get_("intent"),
        "returnDate": _iso(get_("intent_return_date")),
        "confidence": round(float(confidence), 2) if confidence is not None else None,
        "summary": get_("intent_summary") or None,
        "source": get_("intent_source"),
        "aiDraftId": str(get_("intent_ai_draft")) if get_("intent_ai_draft") else None,
        "classifiedAt": _iso(get_("intent_classified_at")),
    }


def intents_service(request: Request) -> ReplyIntents:
    return ReplyIntents(ai_service(request), request.app.state.services.clock)


def message_json(row: Any) -> dict[str, Any]:
    """An inbound message as the API shows it (camelCase)."""
    from salescopilot.db.json_column import json_list

    get_ = row.get if isinstance(row, dict) else lambda name: getattr(row, name, None)
    return {
        "id": str(get_("id")),
        "mailbox": str(get_("mailbox")),
        "folder": get_("folder"),
        "messageId": get_("message_id") or None,
        "inReplyTo": get_("in_reply_to") or None,
        "fromAddress": get_("from_address"),
        "fromName": get_("from_name"),
        "subject": get_("subject"),
        "excerpt": get_("excerpt"),
        "rawSize": get_("raw_size"),
        "sentAt": _iso(get_("sent_at")),
        "receivedAt": _iso(get_("received_at")),
        "kind": effective_kind(row),
        "classifiedAs": get_("kind"),
        "corrected": bool(get_("corrected_kind")),
        "bounceType": get_("bounce_type") or None,
        "aboutAddress": get_("about_address") or None,
        "lead": str(get_("lead")) if get_("lead") else None,
        "outboxMessage": str(get_("outbox_message")) if get_("outbox_message") else None,
        "campaign": str(get_("campaign")) if get_("campaign") else None,
        "matchedBy": get_("match_method") or None,
        "effects": json_list(get_("effects")),
        "intent": intent_json(get_),
    }


def thread_json(items: list[dict]) -> list[dict]:
    return [{**item, "at": _iso(item["at"])} for item in items]


class InboxController(Controller):
    path = "/api/v1/inbox"
    tags = ["inbox"]
    dependencies = {"listing": Provide(provide_list_params)}

    @get("/", opt={"permission": "inbox.read"})
    async def list_messages(
        self, request: Request, listing: ListParams,
        kind: Annotated[Kind | None, Parameter(query="kind", required=False)] = None,
        mailbox: Annotated[uuid.UUID | None, Parameter(query="mailbox", required=False)] = None,
        campaign: Annotated[uuid.UUID | None, Parameter(query="campaign", required=False)] = None,
        lead: Annotated[uuid.UUID | None, Parameter(query="lead", required=False)] = None,
        intent: Annotated[Intent | None, Parameter(query="intent", required=False)] = None,
    ) -> dict:
        """Inbound messages, newest first; filter by classification (a person's correction
        counts), mailbox, campaign, lead or the reply's intent (as the AI read it)."""
        service = inbound_service(request)
        query = listing.query(sortable=service.SORTABLE, filters={"mailbox": mailbox, "lead": lead})
        if listing.sort is None:
            query = ListQuery(page=query.page, limit=query.limit, filters=query.filters,
                              sort="received_at", descending=True)
        page = await service.page(query, kind=kind, campaign=campaign, intent=intent)
        return page.envelope([message_json(row) for row in page.items])

    @get("/policy", opt={"permission": "inbox.read"})
    async def show_policy(self, request: Request) -> dict:
        """The tenant's inbound rules."""
        return {"data": policy_json(await inbound_service(request).policy())}

    @put("/policy", opt={"permission": "inbox.manage"}, responses=error_responses(422))
    async def set_policy(self, request: Request, data: InboundPolicyInput) -> dict:
        """Change the inbound rules: stop the whole company on a reply, the out-of-office pause
        without a stated return date, and the soft bounces that suppress an address."""
        row = await inbound_service(request).set_policy(
            stop_company_on_reply=data.stop_company_on_reply, out_of_office_days=data.out_of_office_days,
            soft_bounce_limit=data.soft_bounce_limit,
        )
        return {"data": policy_json(row)}

    @get("/sync-status", opt={"permission": "inbox.read"})
    async def sync_status(self, request: Request) -> dict:
        """Where the reading of each mailbox stands: last read, last error, next try."""
        return {"data": await inbound_service(request).sync_status()}

    @post("/sync", opt={"permission": "inbox.manage"}, status_code=202)
    async def sync_now(self, request: Request) -> dict:
        """Read new mail of every mailbox now (in the background)."""
        from salescopilot.inbound.tasks import sync
        from salescopilot.tenancy.context import current_tenant

        await sync.kiq(current_tenant().id)
        return {"data": {"queued": True}}

    @get("/{inbound_message_id:uuid}", opt={"permission": "inbox.read"}, responses=error_responses(404))
    async def show(self, request: Request, inbound_message_id: uuid.UUID) -> dict:
        """One message with its thread: what we sent the lead and what came back, oldest first."""
        service = inbound_service(request)
        row = await service.get(inbound_message_id)
        from salescopilot.db.json_column import json_dict

        return {"data": {**message_json(row), "headers": json_dict(row.headers),
                         "thread": thread_json(await service.thread(row))}}

    @post("/{inbound_message_id:uuid}/classification", opt={"permission": "inbox.manage"}, status_code=200,
          responses=error_responses(404, 422))
    async def reclassify(self, request: Request, inbound_message_id: uuid.UUID, data: Reclassification) -> dict:
        """Correct the classification: kept next to the classifier's, audited, and the new
        kind's effects applied (a reply stops the sequence; a bounce suppresses)."""
        principal = principal_of(request)
        row = await inbound_service(request).correct(
            inbound_message_id, data.kind, by=getattr(principal, "user_id", None)
        )
        return {"data": message_json(row)}

    @post("/{inbound_message_id:uuid}/intent", opt={"permission": "ai.use", **MODEL}, status_code=200,
          responses=error_responses(402, 404, 409, 422, 429, 502, 503, 504))
    async def classify_intent(self, request: Request, inbound_message_id: uuid.UUID) -> dict:
        """Read what a reply wants (interested, meeting request, objection, out of office with its
        return date, ...) with the workspace's model, and keep it on the message (replacing an
        earlier reading). The reply is read as data: instructions in it are not followed."""
        row = await intents_service(request).classify(inbound_message_id)
        return {"data": message_json(row)}

    @post("/{inbound_message_id:uuid}/suggested-reply", opt={"permission": "ai.use", **MODEL}, status_code=200,
          responses=error_responses(402, 404, 409, 422, 429, 502, 503, 504))
    async def suggest_reply(self, request: Request, inbound_message_id: uuid.UUID) -> dict:
        """A draft answer to a reply, from its thread, in the reply's language; nothing is sent
        or saved (`provenance.draftId` may be given as `aiDraftId` with the composer draft)."""
        row, result = await intents_service(request).suggest_reply(inbound_message_id)
        return {"data": {"subject": reply_subject(row.subject), "body": result.output["body"], "lead": str(row.lead) if row.lead else None,
                         "provenance": result.provenance(), "injectionSuspected": result.injection_suspected}}
