"""Pages: AI settings with usage (/settings/ai), and the AI panel's htmx actions (/ai/panel/...),
whose partial the template editor and the composer include (`ai/panel.html`)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from salescopilot.ai.errors import AiNotConfigured
from salescopilot.ai.service import GOALS, LENGTHS, TONES
from salescopilot.errors import DomainError
from salescopilot.mail.sanitize import text_from_html
from salescopilot.web.deps import ai_service
from salescopilot.web.guards import principal_of

MODEL = {"own_transactions": True}
ACTIONS = ("improve", "tone", "subjects", "icebreaker", "grammar", "coach", "check", "generate")


async def panel_context(request: Request) -> dict[str, Any]:
    """What `ai/panel.html` needs: whether a provider is configured, tones, goals. Pages that
    include the panel add it to their context as `ai`."""
    principal = principal_of(request)
    if not principal.can("ai.use"):
        return {"enabled": False}
    config = await ai_service(request).tenant_ai()
    return {"enabled": True, "configured": config.provider is not None,
            "model": config.provider.model if config.provider else None,
            "canManage": principal.can("ai.manage"), "tones": TONES, "goals": GOALS, "lengths": tuple(LENGTHS)}


def _field(form, name: str, limit: int) -> str:
    return str(form.get(name, "") or "")[:limit]


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


class AiPages(Controller):
    include_in_schema = False

    @get("/settings/ai", opt={"permission": "ai.manage"})
    async def settings_page(self, request: Request) -> Template:
        return await self._settings(request)

    async def _settings(self, request: Request, *, error: str | None = None, status_code: int = 200) -> Template:
        service = ai_service(request)
        return Template("ai/settings.html", status_code=status_code, context={
            "settings": await service.settings_view(),
            "usage": await service.usage(),
            "drafts": await service.drafts(10),
            "error": error,
            "notice": request.query_params.get("notice"),
            "principal": principal_of(request),
        })

    @post("/settings/ai", opt={"permission": "ai.manage"})
    async def save_settings(self, request: Request) -> Response:
        form = await request.form()
        values: dict[str, Any] = {
            "baseUrl": _field(form, "base_url", 500), "model": _field(form, "model", 200),
            "redactPii": form.get("redact_pii") == "on", "styleGuide": _field(form, "style_guide", 5001),
            "industryPack": _field(form, "industry_pack", 50),
            "monthlyTokenBudget": _field(form, "monthly_token_budget", 15) or 0,
            "requestsPerMinute": _field(form, "requests_per_minute", 8) or 0,
        }
        if form.get("remove_key") == "on":
            values["apiKey"] = ""
        elif _field(form, "api_key", 1001).strip():
            values["apiKey"] = _field(form, "api_key", 1001)
        try:
            await ai_service(request).update_settings(values)
        except DomainError as error:
            return await self._settings(request, error=error.message, status_code=error.status_code)
        return Redirect(path="/settings/ai?" + urlencode({"notice": "AI settings saved."}))

    @post("/ai/panel/{action:str}", opt={"permission": "ai.use", **MODEL})
    async def panel_action(self, request: Request, action: str) -> Template:
        """One panel action on the including page's form; answers the result fragment. The body
        is the field `ai_body_field` names: the rich-text editor's HTML (`html`, read as its
        text) or a plain-text field."""
        form = await request.form()
        subject_field = _field(form, "ai_subject_field", 50) or "subject"
        body_field = _field(form, "ai_body_field", 50) or "text"
        subject = _field(form, subject_field, 500)
        body = _field(form, body_field, 40_000 if body_field == "html" else 20_000)
        if body_field == "html":
            # The rich-text body as text; an empty one falls back to the plain-text version.
            body = text_from_html(body).strip()[:20_000] or _field(form, "text", 20_000)
        leads = form.getall("leads", []) if hasattr(form, "getall") else []
        lead_id = next(filter(None, (_uuid(v) for v in (form.get("ai_lead"), form.get("lead"), form.get("lead_id"),
                                                          *leads[:1]))), None)
        option = _field(form, "ai_option", 40)
        tone = _field(form, "ai_tone", 40) or option
        goal = _field(form, "ai_goal", 40) or option
        length = _field(form, "ai_length", 10)
        use_model = form.get("ai_use_model") == "on" or option == "model"
        service = ai_service(request)
        context: dict[str, Any] = {"action": action, "error": None, "not_configured": False, "provenance": None,
                                   "result": None, "diff": [],
                                   "can_manage": principal_of(request).can("ai.manage"),
                                   "body_field": body_field, "subject_field": subject_field}
        try:
            if action not in ACTIONS:
                raise DomainError("Unknown AI action.")
            if action == "improve":
                result, diff = await service.improve(subject=subject, body=body,
                                                     goal=goal if goal in GOALS else "clarity")
                context.update(result=result.output, diff=diff["body"], provenance=result.provenance())
            elif action == "tone":
                result, diff = await service.change_tone(body=body, tone=tone if tone in TONES else "professional")
                context.update(result=result.output, diff=diff, provenance=result.provenance())
            elif action == "subjects":
                result = await service.subject_lines(body=body, count=5, lead_id=lead_id)
                context.update(result=result.output, provenance=result.provenance())
            elif action == "icebreaker":
                result = await service.icebreaker(lead_id=lead_id, enrichment={}, brief=_field(form, "ai_brief", 4000),
                                                  language=None)
                context.update(result=result.output, provenance=result.provenance())
            elif action == "grammar":
                context.update(result=await service.grammar(text=body, language="en", use_model=False))
            elif action == "coach":
                context.update(result=await service.coach(subject=subject, body=body, lead_id=lead_id, language="en",
                                                          use_model=use_model))
            elif action == "check":
                context.update(result=await service.offline_check(subject=subject, body=body, lead_id=lead_id,
                                                                  language="en"))
            elif action == "generate":
                result = await service.generate(brief=_field(form, "ai_brief", 4000), lead_id=lead_id, enrichment={},
                                                tone=tone if tone in TONES else "friendly",
                                                length=length if length in LENGTHS else "medium", language=None)
                context.update(result=result.output, provenance=result.provenance())
        except AiNotConfigured as error:
            context.update(error=error.message, not_configured=True)
        except DomainError as error:
            context.update(error=error.message)
        return Template("ai/panel_result.html", context=context)
