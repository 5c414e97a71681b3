"""JSON API of email templates and the template library (`/api/v1/templates`,
`/api/v1/template-library`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import Provide
from litestar.params import Parameter

from salescopilot.templates.service import TemplateService, template_json, version_json
from salescopilot.web.deps import template_service
from salescopilot.web.guards import principal_of
from salescopilot.web.idempotency import idempotent
from salescopilot.web.openapi import error_responses
from salescopilot.web.params import ListParams, provide_list_params

IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False, max_length=255)]
IDEMPOTENT = error_responses(409, 422)
#: Small enough that a body of escaped characters stays under the request size limit (1 MB);
#: Gmail clips messages over 102 KB anyway.
HtmlBody = Annotated[str, msgspec.Meta(max_length=40_000)]
TextBody = Annotated[str, msgspec.Meta(max_length=20_000)]


class TemplateContent(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    subject: Annotated[str, msgspec.Meta(max_length=500)] = ""
    html: HtmlBody = ""
    text: TextBody = ""
    category: Annotated[str, msgspec.Meta(max_length=50)] = ""
    #: The AI draft (`provenance.draftId` of an /api/v1/ai answer) the content came from: the new
    #: version records it; a save without one keeps the previous version's.
    ai_draft_id: uuid.UUID | None = None


class PreviewRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    subject: Annotated[str, msgspec.Meta(max_length=500)] = ""
    html: HtmlBody = ""
    text: TextBody = ""
    lead_id: uuid.UUID | None = None


class SavedPreviewRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    lead_id: uuid.UUID | None = None


async def sender_values(request: Request) -> dict[str, Any]:
    """What `{{sender.*}}` shows in a preview: the signed-in user, or the user who made the API
    key (at send time the sending side fills it from the mailbox's owner)."""
    from salescopilot.accounts.repository import UserRepository

    principal = principal_of(request)
    user = await UserRepository().by_id(principal.user_id) if principal.user_id else None
    name = (user.name if user else "") or ""
    return {"sender": {"firstName": name.split(" ")[0] if name else "", "fullName": name,
                       "email": user.email if user else ""}}


def rendered_json(rendered, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject": rendered.subject, "html": rendered.html, "text": rendered.text,
        "problems": [p.to_dict() for p in rendered.problems], "ok": rendered.ok,
    }


class TemplateController(Controller):
    path = "/api/v1/templates"
    tags = ["templates"]
    dependencies = {"listing": Provide(provide_list_params)}

    @get("/", opt={"permission": "templates.read"})
    async def list_templates(
        self, request: Request, listing: ListParams,
        category: Annotated[str | None, Parameter(query="category", required=False, max_length=50)] = None,
        q: Annotated[str | None, Parameter(query="q", required=False, max_length=100)] = None,
    ) -> dict:
        """The tenant's templates, filterable by category, searchable by name and subject."""
        page = await template_service(request).page(
            listing.query(sortable=TemplateService.SORTABLE, filters={"category": category}), q
        )
        return page.envelope([template_json(row) for row in page.items])

    @post("/", opt={"permission": "templates.write"}, status_code=201, responses=IDEMPOTENT)
    async def create(self, request: Request, data: TemplateContent, idempotency_key: IdempotencyKey = None) -> Response:
        """Create a template (version 1). Tags that are not valid are refused."""

        async def produce() -> tuple[int, dict]:
            row = await template_service(request).create(msgspec.structs.asdict(data), author=principal_of(request).user_id)
            return 201, {"data": template_json(row)}

        return await idempotent(request, idempotency_key, data, produce)

    @post("/preview", opt={"permission": "templates.read"}, status_code=200)
    async def preview(self, request: Request, data: PreviewRequest) -> dict:
        """Render unsaved content for a lead: the output and every problem (unknown or empty
        variables, invalid tags)."""
        rendered, values = await template_service(request).preview(
            data.subject, data.html, data.text, lead_id=data.lead_id, extra=await sender_values(request)
        )
        return {"data": rendered_json(rendered, values)}

    @get("/categories", opt={"permission": "templates.read"})
    async def categories(self, request: Request) -> dict:
        """Suggested categories and those in use."""
        return {"data": await template_service(request).categories()}

    @get("/{template_id:uuid}", opt={"permission": "templates.read"})
    async def get_template(self, request: Request, template_id: uuid.UUID) -> dict:
        """One template."""
        return {"data": template_json(await template_service(request).get(template_id))}

    @put("/{template_id:uuid}", opt={"permission": "templates.write"}, responses=error_responses(422))
    async def save(self, request: Request, template_id: uuid.UUID, data: TemplateContent) -> dict:
        """Save new content: a new version (the previous ones stay)."""
        row = await template_service(request).update(template_id, msgspec.structs.asdict(data),
                                                     author=principal_of(request).user_id)
        return {"data": template_json(row)}

    @delete("/{template_id:uuid}", opt={"permission": "templates.write"}, status_code=204)
    async def delete_template(self, request: Request, template_id: uuid.UUID) -> None:
        """Delete a template and its versions."""
        await template_service(request).delete(template_id)

    @get("/{template_id:uuid}/versions", opt={"permission": "templates.read"})
    async def versions(self, request: Request, template_id: uuid.UUID) -> dict:
        """Every saved version, newest first."""
        return {"data": [version_json(v) for v in await template_service(request).history(template_id)]}

    @post("/{template_id:uuid}/versions/{version:int}/restore", opt={"permission": "templates.write"}, status_code=200)
    async def restore(
        self, request: Request, template_id: uuid.UUID,
        version: Annotated[int, Parameter(ge=1, le=2_000_000_000)],
    ) -> dict:
        """Make an old version current again (saved as a new version)."""
        row = await template_service(request).restore(template_id, version, author=principal_of(request).user_id)
        return {"data": template_json(row)}

    @post("/{template_id:uuid}/preview", opt={"permission": "templates.read"}, status_code=200)
    async def preview_saved(self, request: Request, template_id: uuid.UUID, data: SavedPreviewRequest) -> dict:
        """Render a saved template for a lead."""
        service = template_service(request)
        row = await service.get(template_id)
        rendered, values = await service.preview(row.subject, row.html_body, row.text_body,
                                                 lead_id=data.lead_id, extra=await sender_values(request))
        return {"data": rendered_json(rendered, values)}


class TemplateLibraryController(Controller):
    path = "/api/v1/template-library"
    tags = ["templates"]

    @get("/", opt={"permission": "templates.read"})
    async def library(self, request: Request) -> dict:
        """The pre-built templates, and which are in the tenant's templates already."""
        return {"data": await template_service(request).library()}

    @post("/{slug:str}/install", opt={"permission": "templates.write"}, status_code=201, responses=IDEMPOTENT)
    async def install(self, request: Request, slug: str, idempotency_key: IdempotencyKey = None) -> Response:
        """Add a library template to the tenant's templates."""

        async def produce() -> tuple[int, dict]:
            row = await template_service(request).install(slug, author=principal_of(request).user_id)
            return 201, {"data": template_json(row)}

        return await idempotent(request, idempotency_key, {"slug": slug}, produce)
