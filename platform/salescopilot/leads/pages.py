"""Pages: the leads table (filters, bulk actions, export), a lead's page (edit, erase), and the
import wizard (upload -> mapping -> progress -> report)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import Parameter
from litestar.response import Redirect, Template

from salescopilot.errors import DomainError, ValidationFailed
from salescopilot.leads.fields import IMPORT_TARGETS, TEXT_FIELDS
from salescopilot.leads.imports import ON_DUPLICATE, REASONS, import_json
from salescopilot.leads.service import BULK_ACTIONS, STATUSES, LeadExists, lead_json
from salescopilot.leads.tasks import import_csv
from salescopilot.listing import ListQuery
from salescopilot.tenancy.context import current_tenant
from salescopilot.web.deps import import_service, lead_service
from salescopilot.web.guards import principal_of

PAGE_SIZE = 50
UPLOAD_MAX_BODY = 1 << 30
#: Form field -> column, for the lead form.
FORM_FIELDS = {api: column for column, (api, _) in TEXT_FIELDS.items()}


def _form_values(form) -> dict[str, Any]:
    values: dict[str, Any] = {"email": str(form.get("email", ""))[:320]}
    for api_name, column in FORM_FIELDS.items():
        if api_name in form:
            values[column] = str(form.get(api_name, ""))[:500]
    if "tags" in form:
        values["tags"] = str(form.get("tags", ""))[:1000]
    if form.get("status"):
        values["status"] = str(form.get("status"))
    custom = str(form.get("customFields", "")).strip()
    if custom:
        pairs = {}
        for line in custom.splitlines()[:50]:
            key, sep, value = line.partition("=")
            if sep and key.strip():
                pairs[key.strip()] = value.strip()
        values["custom_fields"] = pairs
    elif "customFields" in form:
        values["custom_fields"] = {}
    return values


def _text_filters(request: Request) -> dict[str, Any]:
    params = request.query_params
    filters: dict[str, Any] = {}
    if (status := params.get("status")) in STATUSES:
        filters["status"] = status
    if tag := (params.get("tag") or "").strip().lower()[:50]:
        filters["tag"] = tag
    if q := (params.get("q") or "").strip()[:200]:
        filters["q"] = q
    try:
        if params.get("list"):
            filters["list"] = uuid.UUID(params["list"])
    except ValueError:
        pass
    return filters


class LeadPages(Controller):
    path = "/leads"
    include_in_schema = False

    @get("/", opt={"permission": "leads.read"})
    async def table(self, request: Request, page: int = Parameter(query="page", ge=1, le=100_000, default=1)) -> Template:
        service = lead_service(request)
        filters = _text_filters(request)
        equal = {k: v for k, v in filters.items() if k == "status"}
        extra = {k: v for k, v in filters.items() if k != "status"}
        result = await service.page(ListQuery(page=page, limit=PAGE_SIZE, filters=equal, sort="created_at",
                                              descending=True), extra)
        query = urlencode({k: str(v) for k, v in filters.items()})
        return Template("leads.html", context={
            "leads": [lead_json(row) for row in result.items],
            "pagination": result.envelope([])["pagination"],
            "filters": {k: str(v) for k, v in filters.items()},
            "query": query,
            "statuses": STATUSES,
            "lists": await service.all_lists(),
            "bulk_actions": BULK_ACTIONS,
            "principal": principal_of(request),
            "notice": request.query_params.get("notice"),
        })

    @get("/new", opt={"permission": "leads.write"})
    async def new(self, request: Request) -> Template:
        return Template("lead.html", context={"lead": None, "statuses": STATUSES, "error": None,
                                              "principal": principal_of(request), "lists": [], "form": {}})

    @post("/", opt={"permission": "leads.write"})
    async def create(self, request: Request) -> Response:
        form = await request.form()
        service = lead_service(request)
        try:
            lead = await service.create(_form_values(form))
        except LeadExists:
            # Adding someone who is there already: show them (a re-submitted form lands there too).
            existing = await service.by_address(str(form.get("email", "")))
            return Redirect(path=f"/leads/{existing.id}?" + urlencode({"notice": "This lead exists already."}))
        except DomainError as error:
            return Template("lead.html", status_code=error.status_code, context={
                "lead": None, "statuses": STATUSES, "error": error.message, "principal": principal_of(request),
                "lists": [], "form": dict(form),
            })
        return Redirect(path=f"/leads/{lead.id}")

    @post("/bulk", opt={"permission": "leads.write"})
    async def bulk(self, request: Request) -> Response:
        form = await request.form()
        ids = []
        for value in form.getall("ids", []):
            try:
                ids.append(uuid.UUID(str(value)))
            except ValueError:
                continue
        action = str(form.get("action", ""))
        try:
            if not ids:
                raise ValidationFailed("Choose at least one lead.")
            done = await lead_service(request).bulk(action, ids[:1000], str(form.get("value", "")) or None)
        except DomainError as error:
            return Redirect(path="/leads?" + urlencode({"notice": error.message}))
        return Redirect(path="/leads?" + urlencode({"notice": f"{action.replace('_', ' ').capitalize()}: {done} lead(s)."}))

    @get("/{lead_id:uuid}", opt={"permission": "leads.read"})
    async def lead(self, request: Request, lead_id: uuid.UUID) -> Template:
        return await self._render(request, lead_id)

    @post("/{lead_id:uuid}", opt={"permission": "leads.write"})
    async def update(self, request: Request, lead_id: uuid.UUID) -> Response:
        form = await request.form()
        try:
            await lead_service(request).update(lead_id, _form_values(form))
        except DomainError as error:
            if error.status_code == 404:
                raise
            return await self._render(request, lead_id, error=error.message, status_code=error.status_code)
        return Redirect(path=f"/leads/{lead_id}")

    @post("/{lead_id:uuid}/erase", opt={"permission": "leads.erase"})
    async def erase(self, request: Request, lead_id: uuid.UUID) -> Response:
        await lead_service(request).erase(lead_id)
        return Redirect(path="/leads?" + urlencode({"notice": "The lead was erased; its address stays suppressed as a hash."}))

    async def _render(self, request: Request, lead_id: uuid.UUID, *, error: str | None = None,
                      status_code: int = 200) -> Template:
        service = lead_service(request)
        lead = lead_json(await service.get(lead_id))
        on_lists = {str(i) for i in await service.lists_of(lead_id)}
        lists = [row for row in await service.all_lists() if row["id"] in on_lists]
        return Template("lead.html", status_code=status_code, context={
            "lead": lead, "statuses": STATUSES, "error": error, "principal": principal_of(request),
            "lists": lists, "form": {},
        })


class LeadImportPages(Controller):
    path = "/leads/imports"
    include_in_schema = False

    @get("/", opt={"permission": "leads.read"})
    async def imports(self, request: Request) -> Template:
        return await self._list(request)

    async def _list(self, request: Request, error: str | None = None, status_code: int = 200) -> Template:
        page = await import_service(request).page(ListQuery(limit=50, sort="created_at", descending=True))
        return Template("lead_imports.html", status_code=status_code, context={
            "imports": [import_json(row) for row in page.items], "error": error, "principal": principal_of(request),
        })

    @post("/", opt={"permission": "leads.write"}, request_max_body_size=UPLOAD_MAX_BODY)
    async def upload(self, request: Request) -> Response:
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return await self._list(request, error="Choose a CSV file to upload.", status_code=400)

        async def chunks():
            while chunk := await upload.read(1 << 16):
                yield chunk

        try:
            row = await import_service(request).upload(upload.filename or "upload.csv", chunks(),
                                                       created_by=principal_of(request).user_id)
        except DomainError as error:
            return await self._list(request, error=error.message, status_code=error.status_code)
        finally:
            await upload.close()
        return Redirect(path=f"/leads/imports/{row.id}")

    @get("/{import_id:uuid}", opt={"permission": "leads.read"})
    async def wizard(self, request: Request, import_id: uuid.UUID) -> Template:
        return await self._wizard(request, import_id)

    async def _wizard(self, request: Request, import_id: uuid.UUID, error: str | None = None,
                      status_code: int = 200) -> Template:
        service = import_service(request)
        data = import_json(await service.get(import_id))
        return Template("lead_import.html", status_code=status_code, context={
            "job": data,
            "mapping_rows": mapping_rows(data),
            "reasons": await service.reasons(import_id),
            "reason_text": REASONS,
            "targets": [t for t in IMPORT_TARGETS],
            "on_duplicate": ON_DUPLICATE,
            "lists": await lead_service(request).all_lists(),
            "error": error,
            "principal": principal_of(request),
        })

    @get("/{import_id:uuid}/progress", opt={"permission": "leads.read"})
    async def progress(self, request: Request, import_id: uuid.UUID) -> Template:
        service = import_service(request)
        return Template("lead_import_progress.html", context={
            "job": import_json(await service.get(import_id)), "reasons": await service.reasons(import_id),
            "reason_text": REASONS,
        })

    @post("/{import_id:uuid}/start", opt={"permission": "leads.write"})
    async def start(self, request: Request, import_id: uuid.UUID) -> Response:
        form = await request.form()
        service = import_service(request)
        job = import_json(await service.get(import_id))
        mapping = {}
        for index, column in enumerate(job["header"]):
            target = str(form.get(f"map-{index}", "") or "")
            mapping[column] = "custom:" + str(form.get(f"custom-{index}", column)) if target == "custom" else target
        list_id = None
        try:
            if form.get("list"):
                list_id = uuid.UUID(str(form.get("list")))
            row = await service.start(
                import_id, mapping=mapping, on_duplicate=str(form.get("on_duplicate", "update")),
                list_id=list_id, tags=[t for t in str(form.get("tags", "")).split(",") if t.strip()][:20],
                save_mapping_as=str(form.get("save_as", ""))[:100],
            )
        except (DomainError, ValueError) as error:
            message = error.message if isinstance(error, DomainError) else "Choose a list from the menu."
            return await self._wizard(request, import_id, error=message,
                                      status_code=getattr(error, "status_code", 400))
        await import_csv.kiq(str(current_tenant().id), str(row.id))
        return Redirect(path=f"/leads/imports/{import_id}")

    @post("/{import_id:uuid}/resume", opt={"permission": "leads.write"})
    async def resume(self, request: Request, import_id: uuid.UUID) -> Response:
        try:
            row = await import_service(request).mark_for_resume(import_id)
        except DomainError as error:
            if error.status_code == 404:
                raise
            return await self._wizard(request, import_id, error=error.message, status_code=error.status_code)
        await import_csv.kiq(str(current_tenant().id), str(row.id))
        return Redirect(path=f"/leads/imports/{import_id}")


def mapping_rows(job: dict) -> list[dict]:
    """For the mapping form: each column with its chosen target split into kind and name."""
    rows = []
    for index, column in enumerate(job["header"]):
        target = job["mapping"].get(column, "")
        custom = target.startswith("custom:")
        rows.append({"index": index, "column": column, "target": "custom" if custom else target,
                     "custom": target[7:] if custom else ""})
    return rows
