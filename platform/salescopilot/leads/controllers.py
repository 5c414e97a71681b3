"""JSON API for leads, lists and CSV imports (`/api/v1/leads`, `/api/v1/lead-lists`,
`/api/v1/lead-imports`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Stream

from salescopilot.leads.imports import ImportService, import_json
from salescopilot.leads.service import LeadService, lead_json
from salescopilot.leads.tasks import import_csv
from salescopilot.tenancy.context import current_tenant
from salescopilot.web.deps import import_service, lead_service
from salescopilot.web.guards import principal_of
from salescopilot.web.idempotency import idempotent
from salescopilot.web.openapi import error_responses, text_download
from salescopilot.web.params import ListParams, provide_list_params

IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False, max_length=255)]
IDEMPOTENT = error_responses(409, 422)
BULK_MAX = 1000
Status = Literal["new", "active", "replied", "interested", "not_interested", "meeting_booked",
                 "bounced", "unsubscribed", "paused"]
Short = Annotated[str, msgspec.Meta(max_length=200)]
Url = Annotated[str, msgspec.Meta(max_length=500)]
#: Uploads may be far larger than other request bodies (a million rows is about 100 MB).
UPLOAD_MAX_BODY = 1 << 30


class LeadFields(msgspec.Struct, forbid_unknown_fields=True, rename="camel", omit_defaults=True):
    email: Annotated[str, msgspec.Meta(max_length=320)] | msgspec.UnsetType = msgspec.UNSET
    first_name: Short | msgspec.UnsetType = msgspec.UNSET
    last_name: Short | msgspec.UnsetType = msgspec.UNSET
    company: Short | msgspec.UnsetType = msgspec.UNSET
    title: Short | msgspec.UnsetType = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    website: Url | msgspec.UnsetType = msgspec.UNSET
    linkedin_url: Url | msgspec.UnsetType = msgspec.UNSET
    timezone: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType = msgspec.UNSET
    country: Annotated[str, msgspec.Meta(max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    custom_fields: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    tags: Annotated[list[Annotated[str, msgspec.Meta(max_length=50)]], msgspec.Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    owner: uuid.UUID | None | msgspec.UnsetType = msgspec.UNSET
    status: Status | msgspec.UnsetType = msgspec.UNSET

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in msgspec.structs.asdict(self).items() if v is not msgspec.UNSET}


class LeadBulk(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["tag", "untag", "add_to_list", "remove_from_list", "set_status", "delete"]
    ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=BULK_MAX)]
    #: The tag, the list id or the status, as the action needs.
    value: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class ListCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ImportStart(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    #: Column -> target (a lead field, "custom:<key>" or "ignore"); the suggestion when absent.
    mapping: dict[str, Annotated[str, msgspec.Meta(max_length=100)]] | None = None
    on_duplicate: Literal["update", "skip"] = "update"
    list_id: uuid.UUID | None = None
    tags: Annotated[list[Annotated[str, msgspec.Meta(max_length=50)]], msgspec.Meta(max_length=20)] = []
    save_mapping_as: Annotated[str, msgspec.Meta(max_length=100)] = ""


Text = Annotated[str | None, Parameter(required=False, max_length=200)]


async def provide_lead_filters(
    status: Annotated[Status | None, Parameter(query="status", required=False)] = None,
    owner: Annotated[uuid.UUID | None, Parameter(query="owner", required=False)] = None,
    tag: Annotated[str | None, Parameter(query="tag", required=False, max_length=50)] = None,
    list_: Annotated[uuid.UUID | None, Parameter(query="list", required=False)] = None,
    country: Annotated[str | None, Parameter(query="country", required=False, max_length=100)] = None,
    q: Annotated[str | None, Parameter(query="q", required=False, max_length=200, description="Search email, name, company")] = None,
) -> dict[str, Any]:
    values = {"status": status, "owner": owner, "tag": (tag or "").strip().lower() or None,
              "list": list_, "country": country, "q": (q or "").strip() or None}
    return {k: v for k, v in values.items() if v is not None}


def _listing_filters(filters: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(equality filters for the list query, the rest for the repository's conditions)."""
    equal = {k: filters[k] for k in ("status", "owner", "country") if k in filters}
    return equal, {k: v for k, v in filters.items() if k not in equal}


async def lead_page(service: LeadService, listing: ListParams, filters: dict[str, Any]):
    equal, extra = _listing_filters(filters)
    query = listing.query(sortable=LeadService.SORTABLE, filters=equal)
    return await service.page(query, extra)


class LeadController(Controller):
    path = "/api/v1/leads"
    tags = ["leads"]
    dependencies = {"listing": Provide(provide_list_params), "filters": Provide(provide_lead_filters)}

    @get("/", opt={"permission": "leads.read"})
    async def list_leads(self, request: Request, listing: ListParams, filters: dict[str, Any]) -> dict:
        """Leads, filtered by status, owner, tag, list, country or a search, sorted and paged."""
        page = await lead_page(lead_service(request), listing, filters)
        return page.envelope([lead_json(row) for row in page.items])

    @post("/", opt={"permission": "leads.write"}, status_code=201, responses=error_responses(409, 422))
    async def create_lead(self, request: Request, data: LeadFields, idempotency_key: IdempotencyKey = None) -> Response:
        """Add a lead by hand (email required; timezone inferred from country or phone)."""

        async def produce() -> tuple[int, dict]:
            lead = await lead_service(request).create(data.given())
            return 201, {"data": lead_json(lead)}

        return await idempotent(request, idempotency_key, data, produce)

    @get("/export", opt={"permission": "leads.export"}, operation_class=text_download("text/csv"))
    async def export(self, request: Request, filters: dict[str, Any]) -> Stream:
        """The filtered leads as CSV (cells a spreadsheet would run as formulas are defused)."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return Stream(
            lead_service(request).export_csv(filters),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="leads-{current_tenant().slug}-{stamp}.csv"'},
        )

    @post("/bulk", opt={"permission": "leads.write"}, status_code=200)
    async def bulk(self, request: Request, data: LeadBulk) -> dict:
        """Tag, untag, add to or remove from a list, set the status of, or delete many leads."""
        processed = await lead_service(request).bulk(data.action, data.ids, data.value)
        return {"data": {"action": data.action, "processed": processed}}

    @get("/{lead_id:uuid}", opt={"permission": "leads.read"})
    async def get_lead(self, request: Request, lead_id: uuid.UUID) -> dict:
        """One lead, with the lists it is on."""
        service = lead_service(request)
        data = lead_json(await service.get(lead_id))
        data["lists"] = [str(i) for i in await service.lists_of(lead_id)]
        return {"data": data}

    @patch("/{lead_id:uuid}", opt={"permission": "leads.write"}, responses=error_responses(409))
    async def update_lead(self, request: Request, lead_id: uuid.UUID, data: LeadFields) -> dict:
        """Change some fields of a lead."""
        return {"data": lead_json(await lead_service(request).update(lead_id, data.given()))}

    @delete("/{lead_id:uuid}", opt={"permission": "leads.write"}, status_code=204)
    async def delete_lead(self, request: Request, lead_id: uuid.UUID) -> None:
        """Delete a lead."""
        await lead_service(request).delete(lead_id)

    @post("/{lead_id:uuid}/erase", opt={"permission": "leads.erase"}, status_code=204)
    async def erase_lead(self, request: Request, lead_id: uuid.UUID) -> None:
        """GDPR erasure: delete the lead; only a hash of its address stays, suppressed."""
        await lead_service(request).erase(lead_id)


class LeadListController(Controller):
    path = "/api/v1/lead-lists"
    tags = ["leads"]

    @get("/", opt={"permission": "leads.read"})
    async def list_lists(self, request: Request) -> dict:
        """Every list of leads with its size."""
        return {"data": await lead_service(request).all_lists()}

    @post("/", opt={"permission": "leads.write"}, status_code=201, responses=IDEMPOTENT)
    async def create_list(self, request: Request, data: ListCreate, idempotency_key: IdempotencyKey = None) -> Response:
        """Create a list."""

        async def produce() -> tuple[int, dict]:
            row = await lead_service(request).create_list(data.name)
            return 201, {"data": {"id": str(row.id), "name": row.name, "size": 0}}

        return await idempotent(request, idempotency_key, data, produce)

    @delete("/{list_id:uuid}", opt={"permission": "leads.write"}, status_code=204)
    async def delete_list(self, request: Request, list_id: uuid.UUID) -> None:
        """Delete a list (its leads stay)."""
        await lead_service(request).delete_list(list_id)


class LeadImportController(Controller):
    path = "/api/v1/lead-imports"
    tags = ["lead imports"]
    dependencies = {"listing": Provide(provide_list_params)}

    @get("/", opt={"permission": "leads.read"})
    async def list_imports(self, request: Request, listing: ListParams) -> dict:
        """Imports, newest first."""
        page = await import_service(request).page(listing.query(sortable=ImportService.SORTABLE))
        return page.envelope([import_json(row) for row in page.items])

    @post(
        "/", opt={"permission": "leads.write"}, status_code=201, responses=IDEMPOTENT,
        request_max_body_size=UPLOAD_MAX_BODY,
    )
    async def upload(
        self, request: Request,
        filename: Annotated[str, Parameter(query="filename", max_length=255)] = "upload.csv",
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        """Upload a CSV file as the raw request body (streamed to disk). The answer gives the
        detected encoding, delimiter, columns and a suggested mapping; nothing is imported until
        `POST /{id}/start`."""
        service = import_service(request)
        received = await service.receive(request.stream())
        payload = {"filename": filename, "sha256": received.sha256, "size": received.size}

        async def produce() -> tuple[int, dict]:
            row = await service.register(filename, received, created_by=principal_of(request).user_id)
            return 201, {"data": import_json(row)}

        try:
            return await idempotent(request, idempotency_key, payload, produce)
        finally:
            received.discard()

    @get("/mappings", opt={"permission": "leads.read"})
    async def mappings(self, request: Request) -> dict:
        """Saved column mappings."""
        return {"data": await import_service(request).saved_mappings()}

    @get("/{import_id:uuid}", opt={"permission": "leads.read"})
    async def get_import(self, request: Request, import_id: uuid.UUID) -> dict:
        """An import's progress and, once rows are skipped, the count per reason."""
        service = import_service(request)
        data = import_json(await service.get(import_id))
        data["skippedByReason"] = await service.reasons(import_id)
        return {"data": data}

    @post("/{import_id:uuid}/start", opt={"permission": "leads.write"}, status_code=202, responses=error_responses(409))
    async def start(self, request: Request, import_id: uuid.UUID, data: ImportStart) -> dict:
        """Fix the mapping and options, then import in the background."""
        row = await import_service(request).start(
            import_id, mapping=data.mapping, on_duplicate=data.on_duplicate, list_id=data.list_id,
            tags=data.tags, save_mapping_as=data.save_mapping_as,
        )
        await import_csv.kiq(str(current_tenant().id), str(row.id))
        return {"data": import_json(row)}

    @post("/{import_id:uuid}/resume", opt={"permission": "leads.write"}, status_code=202, responses=error_responses(409))
    async def resume(self, request: Request, import_id: uuid.UUID) -> dict:
        """Resume a failed or interrupted import from its last checkpoint."""
        row = await import_service(request).mark_for_resume(import_id)
        await import_csv.kiq(str(current_tenant().id), str(row.id))
        return {"data": import_json(row)}

    @get("/{import_id:uuid}/report", opt={"permission": "leads.read"}, operation_class=text_download("text/csv"))
    async def report(self, request: Request, import_id: uuid.UUID) -> Stream:
        """The skipped rows and why, as CSV."""
        service = import_service(request)
        await service.get(import_id)
        return Stream(
            service.report_csv(import_id), media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="import-{import_id}-skipped.csv"'},
        )
