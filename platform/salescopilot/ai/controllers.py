"""JSON API of the AI copilot (`/api/v1/ai/...`).

Handlers that call the model declare `own_transactions`: the request is authenticated in a
short transaction and the service opens its own scopes, so no transaction is held while the
model writes."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.params import Parameter
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from salescopilot.ai.engine import AiResult
from salescopilot.errors import DomainError
from salescopilot.web.deps import ai_service
from salescopilot.web.openapi import error_responses

MODEL = {"own_transactions": True}
MODEL_ERRORS = error_responses(402, 409, 422, 429, 502, 503, 504)
Body = Annotated[str, msgspec.Meta(max_length=20_000)]
Short = Annotated[str, msgspec.Meta(max_length=500)]
Tone = Literal["friendly", "professional", "casual", "direct", "enthusiastic", "empathetic", "formal"]
Language = Annotated[str, msgspec.Meta(max_length=40)]
Enrichment = Annotated[dict[str, Any], msgspec.Meta(max_length=50)]


class GenerateRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    brief: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    lead_id: uuid.UUID | None = None
    enrichment: Enrichment = msgspec.field(default_factory=dict)
    tone: Tone = "friendly"
    length: Literal["short", "medium", "long"] = "medium"
    language: Language | None = None


class ImproveRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    body: Body
    subject: Short = ""
    goal: Literal["clarity", "brevity", "persuasion"] = "clarity"


class ToneRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    body: Body
    tone: Tone = "professional"


class SubjectsRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    body: Body
    count: Annotated[int, msgspec.Meta(ge=1, le=10)] = 5
    lead_id: uuid.UUID | None = None


class IcebreakerRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    lead_id: uuid.UUID | None = None
    enrichment: Enrichment = msgspec.field(default_factory=dict)
    brief: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    language: Language | None = None


class GrammarRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    text: Body
    language: Language = "en"
    use_model: bool = False


class ClassifyRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    text: Body


class CoachRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    body: Body
    subject: Short = ""
    lead_id: uuid.UUID | None = None
    language: Language = "en"
    use_model: bool = False


class CheckRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    body: Body
    subject: Short = ""
    lead_id: uuid.UUID | None = None
    language: Language = "en"


class RecommendRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    use_model: bool = False


class SettingsUpdate(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    base_url: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    model: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    #: A new key; "" removes the tenant's key; absent keeps it.
    api_key: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    redact_pii: bool | None = None
    style_guide: Annotated[str, msgspec.Meta(max_length=5000)] | None = None
    industry_pack: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    monthly_token_budget: Annotated[int, msgspec.Meta(ge=0, le=10**12)] | None = None
    requests_per_minute: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None


def result_json(result: AiResult, **extra: Any) -> dict[str, Any]:
    return {"data": {**result.output, **extra, "provenance": result.provenance(),
                     "injectionSuspected": result.injection_suspected}}


def settings_changes(data: SettingsUpdate) -> dict[str, Any]:
    names = {"base_url": "baseUrl", "model": "model", "api_key": "apiKey", "redact_pii": "redactPii",
             "style_guide": "styleGuide", "industry_pack": "industryPack",
             "monthly_token_budget": "monthlyTokenBudget", "requests_per_minute": "requestsPerMinute"}
    return {api: getattr(data, attr) for attr, api in names.items() if getattr(data, attr) is not None}


async def sse_events(events: AsyncIterator[tuple[str, Any]], first: tuple[str, Any] | None) -> AsyncIterator[ServerSentEventMessage]:
    """The generation's events as SSE: `delta` (text), then `done` (subject, body, provenance)
    or `error` (the API error's code and message; nothing was kept)."""

    def encode(kind: str, value: Any) -> ServerSentEventMessage:
        if kind == "delta":
            return ServerSentEventMessage(data=json.dumps({"text": value}), event="delta")
        return ServerSentEventMessage(data=json.dumps(result_json(value)["data"]), event="done")

    try:
        if first is not None:
            yield encode(*first)
        async for kind, value in events:
            yield encode(kind, value)
    except DomainError as error:
        yield ServerSentEventMessage(data=json.dumps({"code": error.code, "message": error.message,
                                                      "details": error.details}), event="error")
    finally:
        await events.aclose()


async def open_stream(events: AsyncIterator[tuple[str, Any]]) -> ServerSentEvent:
    """Wait for the first event, so a request that cannot start (no provider, budget, rate,
    provider down) gets an ordinary error response instead of a stream."""
    try:
        first = await events.__anext__()
    except StopAsyncIteration:
        first = None
    return ServerSentEvent(sse_events(events, first), headers={"X-Accel-Buffering": "no"})


class AiController(Controller):
    path = "/api/v1/ai"
    tags = ["ai"]

    @get("/settings", opt={"permission": "ai.manage"})
    async def get_settings(self, request: Request) -> dict:
        """The workspace's AI provider settings (the API key is never returned), budget and rate."""
        return {"data": await ai_service(request).settings_view()}

    @put("/settings", opt={"permission": "ai.manage"}, responses=error_responses(400))
    async def put_settings(self, request: Request, data: SettingsUpdate) -> dict:
        """Change the provider (key, base URL, model), PII redaction, style guide, industry pack,
        monthly token budget and rate. Changing the provider or context empties the cache."""
        return {"data": await ai_service(request).update_settings(settings_changes(data))}

    @get("/usage", opt={"permission": "ai.manage"})
    async def usage(self, request: Request, days: Annotated[int, Parameter(ge=1, le=366)] = 31) -> dict:
        """Tokens and estimated cost: this month's meter, by user and by feature."""
        return {"data": await ai_service(request).usage(days)}

    @get("/status", opt={"permission": "ai.use"})
    async def status(self, request: Request) -> dict:
        """Whether AI actions are available to this workspace (offline checks always are)."""
        view = await ai_service(request).tenant_ai()
        return {"data": {"configured": view.provider is not None,
                         "model": view.provider.model if view.provider else None,
                         "settingsUrl": "/settings/ai"}}

    @get("/drafts", opt={"permission": "ai.use"})
    async def drafts(self, request: Request, limit: Annotated[int, Parameter(ge=1, le=100)] = 20) -> dict:
        """The latest AI-written drafts with their provenance (model, prompt version, tokens)."""
        return {"data": await ai_service(request).drafts(limit)}

    @post("/generate", opt={"permission": "ai.use", **MODEL}, status_code=200, responses=MODEL_ERRORS)
    async def generate(self, request: Request, data: GenerateRequest) -> dict:
        """Write an email from a brief, a lead and its enrichment data, a tone and a length, in
        the lead's language."""
        result = await ai_service(request).generate(
            brief=data.brief, lead_id=data.lead_id, enrichment=data.enrichment, tone=data.tone,
            length=data.length, language=data.language,
        )
        return result_json(result)

    @post("/generate/stream", opt={"permission": "ai.use", **MODEL}, status_code=200, responses=MODEL_ERRORS)
    async def generate_stream(self, request: Request, data: GenerateRequest) -> ServerSentEvent:
        """The same, streamed as server-sent events: `delta` {text}, then `done` {subject, body,
        provenance} or `error` {code, message}."""
        events = ai_service(request).generate_stream(
            brief=data.brief, lead_id=data.lead_id, enrichment=data.enrichment, tone=data.tone,
            length=data.length, language=data.language,
        )
        return await open_stream(events)

    @post("/improve", opt={"permission": "ai.use", **MODEL}, status_code=200, responses=MODEL_ERRORS)
    async def improve(self, request: Request, data: ImproveRequest) -> dict:
        """Improve a draft for clarity, brevity or persuasion; `diff` shows every change."""
        result, diff = await ai_service(request).improve(subject=data.subject, body=data.body, goal=data.goal)
        return result_json(result, diff=diff)

    @post("/tone", opt={"permission": "ai.use", **MODEL}, status_code=200, responses=MODEL_ERRORS)
    async def tone(self, request: Request, data: ToneRequest) -> dict:
        """Rewrite a draft in another tone."""
        result, diff = await ai_service(request).change_tone(body=data.body, tone=data.tone)
        return result_json(result, diff=diff)

    @post("/subject-lines", opt={"permission": "ai.use", **MODEL}, status_code=200, responses=MODEL_ERRORS)
    async def subject_lines(self, request: Request, data: SubjectsRequest) -> dict:
        """Several subject line variants for a draft."""
        return result_json(await ai_service(request).subject_lines(body=data.body, count=data.count, lead_id=data.lead_id))

    @post("/icebreaker", opt={"permission": "ai.use", **MODEL}, status_code=200, responses=MODEL_ERRORS)
    async def icebreaker(self, request: Request, data: IcebreakerRequest) -> dict:
        """An opening line and likely pain points from the lead's enrichment data."""
        return result_json(await ai_service(request).icebreaker(
            lead_id=data.lead_id, enrichment=data.enrichment, brief=data.brief, language=data.language))

    @post("/grammar", opt={"permission": "ai.use", **MODEL}, status_code=200, responses=MODEL_ERRORS)
    async def grammar(self, request: Request, data: GrammarRequest) -> dict:
        """Spelling and grammar: offline always, the model's corrections with `useModel`."""
        return {"data": await ai_service(request).grammar(text=data.text, language=data.language, use_model=data.use_model)}

    @post("/classify-reply", opt={"permission": "ai.use", **MODEL}, status_code=200, responses=MODEL_ERRORS)
    async def classify_reply(self, request: Request, data: ClassifyRequest) -> dict:
        """The intent of a prospect's reply and a suggested answer draft."""
        return {"data": await ai_service(request).classify_reply_intent(data.text)}

    @post("/coach", opt={"permission": "ai.use", **MODEL}, status_code=200, responses=MODEL_ERRORS)
    async def coach(self, request: Request, data: CoachRequest) -> dict:
        """Scores and suggestions on personalisation, clarity, call to action, length and spam
        risk (offline; refined by the model with `useModel`)."""
        return {"data": await ai_service(request).coach(subject=data.subject, body=data.body, lead_id=data.lead_id,
                                                        language=data.language, use_model=data.use_model)}

    @post("/check", opt={"permission": "ai.use", **MODEL}, status_code=200)
    async def check(self, request: Request, data: CheckRequest) -> dict:
        """Every offline check (no model): spelling, grammar, readability, length, spam score,
        variables."""
        service = ai_service(request)
        return {"data": await service.offline_check(subject=data.subject, body=data.body,
                                                    lead_id=data.lead_id, language=data.language)}

    @post("/recommendations", opt={"permission": "ai.use", **MODEL}, status_code=200, responses=MODEL_ERRORS)
    async def recommendations(self, request: Request, data: RecommendRequest) -> dict:
        """What to do next from the workspace's own results (rules; the model with `useModel`)."""
        return {"data": await ai_service(request).recommendations(use_model=data.use_model)}
