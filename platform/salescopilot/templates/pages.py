"""Pages: the template library and the tenant's templates, the editor with a variable picker,
versions, and a live preview for a real lead at desktop and mobile widths."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from salescopilot.ai.pages import panel_context
from salescopilot.errors import DomainError
from salescopilot.leads.service import lead_json
from salescopilot.listing import ListQuery
from salescopilot.templates.controllers import sender_values
from salescopilot.templates.service import LEAD_VARIABLES, TemplateAiDraftNotFound, template_json, version_json
from salescopilot.web.deps import lead_service, template_service
from salescopilot.web.guards import principal_of


def _kept(form, error: DomainError) -> dict[str, str]:
    """The submitted content to show again with the error (a refused AI draft id is dropped, so
    the next save does not carry it again)."""
    content = _content(form)
    if isinstance(error, TemplateAiDraftNotFound):
        content["ai_draft_id"] = ""
    return content


def _content(form) -> dict[str, str]:
    content = {name: str(form.get(name, "")) for name in ("name", "category", "subject", "html", "text")}
    # The AI panel's hidden field: a used suggestion's AI draft (anything but an id is ignored).
    ai_draft = str(form.get("ai_draft_id", ""))[:64]
    try:
        content["ai_draft_id"] = str(uuid.UUID(ai_draft)) if ai_draft else ""
    except ValueError:
        content["ai_draft_id"] = ""
    return content


class TemplatePages(Controller):
    path = "/templates"
    include_in_schema = False

    @get("/", opt={"permission": "templates.read"})
    async def index(self, request: Request) -> Template:
        service = template_service(request)
        page = await service.page(ListQuery(limit=200, sort="updated_at", descending=True))
        return Template("email_templates.html", context={
            "templates": [template_json(row) for row in page.items],
            "library": await service.library(),
            "principal": principal_of(request),
            "notice": request.query_params.get("notice"),
            "ai": await panel_context(request),
        })

    @post("/library/{slug:str}/install", opt={"permission": "templates.write"})
    async def install(self, request: Request, slug: str) -> Response:
        row = await template_service(request).install(slug[:63], author=principal_of(request).user_id)
        return Redirect(path=f"/templates/{row.id}?" + urlencode({"notice": "Added to your templates."}))

    @get("/new", opt={"permission": "templates.write"})
    async def new(self, request: Request) -> Template:
        return await self._editor(request, None)

    @post("/", opt={"permission": "templates.write"})
    async def create(self, request: Request) -> Response:
        form = await request.form()
        try:
            row = await template_service(request).create(_content(form), author=principal_of(request).user_id)
        except DomainError as error:
            return await self._editor(request, None, form=_kept(form, error), error=error, status_code=error.status_code)
        return Redirect(path=f"/templates/{row.id}")

    @post("/preview", opt={"permission": "templates.read"})
    async def preview(self, request: Request) -> Template:
        form = await request.form()
        lead_id = None
        try:
            lead_id = uuid.UUID(str(form.get("lead", ""))) if form.get("lead") else None
        except ValueError:
            lead_id = None
        content = _content(form)
        try:
            rendered, _ = await template_service(request).preview(
                content["subject"][:500], content["html"][:40_000], content["text"][:20_000],
                lead_id=lead_id, extra=await sender_values(request),
            )
        except DomainError as error:
            return Template("email_template_preview.html", context={"rendered": None, "error": error.message})
        return Template("email_template_preview.html", context={"rendered": rendered, "error": None})

    @get("/{template_id:uuid}", opt={"permission": "templates.read"})
    async def edit(self, request: Request, template_id: uuid.UUID) -> Template:
        return await self._editor(request, template_id)

    @post("/{template_id:uuid}", opt={"permission": "templates.write"})
    async def save(self, request: Request, template_id: uuid.UUID) -> Response:
        form = await request.form()
        try:
            await template_service(request).update(template_id, _content(form), author=principal_of(request).user_id)
        except DomainError as error:
            if error.status_code == 404:
                raise
            return await self._editor(request, template_id, form=_kept(form, error), error=error,
                                      status_code=error.status_code)
        return Redirect(path=f"/templates/{template_id}?" + urlencode({"notice": "Saved as a new version."}))

    @post("/{template_id:uuid}/delete", opt={"permission": "templates.write"})
    async def delete(self, request: Request, template_id: uuid.UUID) -> Response:
        await template_service(request).delete(template_id)
        return Redirect(path="/templates?" + urlencode({"notice": "Template deleted."}))

    @post("/{template_id:uuid}/versions/{version:int}/restore", opt={"permission": "templates.write"})
    async def restore(
        self, request: Request, template_id: uuid.UUID,
        version: Annotated[int, Parameter(ge=1, le=2_000_000_000)],
    ) -> Response:
        await template_service(request).restore(template_id, version, author=principal_of(request).user_id)
        return Redirect(path=f"/templates/{template_id}?" + urlencode({"notice": f"Version {version} restored."}))

    async def _editor(self, request: Request, template_id: uuid.UUID | None, *, form: dict | None = None,
                      error: DomainError | None = None, status_code: int = 200) -> Template:
        service = template_service(request)
        row = await service.get(template_id) if template_id else None
        template = template_json(row) if row else None
        history = await service.history(template_id) if template_id else []
        provenances = await service.versions_provenance(history)
        versions = [{**version_json(v), "ai": provenances.get(str(v.ai_draft)) if v.ai_draft else None}
                    for v in history]
        leads = await lead_service(request).page(ListQuery(limit=50, sort="updated_at", descending=True), {})
        problems = (error.details or {}).get("problems", []) if error else []
        return Template("email_template_edit.html", status_code=status_code, context={
            "template": template,
            "form": form or ({"name": template["name"], "category": template["category"],
                              "subject": template["subject"], "html": template["html"],
                              "text": template["text"]} if template else {}),
            "versions": versions,
            "categories": await service.categories(),
            "variables": LEAD_VARIABLES,
            "custom_fields": sorted({k for row in leads.items for k in (lead_json(row)["customFields"] or {})})[:30],
            "leads": [lead_json(row) for row in leads.items],
            "error": error.message if error else None,
            "problems": problems,
            "principal": principal_of(request),
            "notice": request.query_params.get("notice"),
            "ai": await panel_context(request),
            "ai_provenance": provenances.get(str(row.ai_draft)) if row and row.ai_draft else None,
        })
