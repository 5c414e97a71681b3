"""The audit log over HTTP: filtered, paginated JSON API, verification, JSONL/CSV export, and the
admin console page."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Stream, Template

from salescopilot.audit.export import MEDIA_TYPES, export_chunks
from salescopilot.audit.service import SORT_FIELDS, AuditService, parse_filters
from salescopilot.errors import DomainError
from salescopilot.listing import ListQuery
from salescopilot.tenancy.context import current_tenant
from salescopilot.web.params import ListParams, provide_list_params
from salescopilot.web.openapi import text_download

Text = Annotated[str | None, Parameter(required=False, max_length=320)]


def _filters(
    actor: Text, actor_id: Text, actor_kind: Text, action: Text, target_type: Text, target_id: Text,
    from_: str | None, to: str | None,
) -> dict[str, Any]:
    values = {
        "actor": actor, "actor_id": actor_id, "actor_kind": actor_kind, "action": action,
        "target_type": target_type, "target_id": target_id, "from": from_, "to": to,
    }
    return {k: v for k, v in values.items() if v not in (None, "")}


async def provide_audit_filters(
    actor: Annotated[str | None, Parameter(query="actor", required=False, max_length=320, description="Actor label contains")] = None,
    actor_id: Annotated[str | None, Parameter(query="actor_id", required=False, max_length=100)] = None,
    actor_kind: Annotated[Literal["user", "api_key", "scim_token", "system", "anonymous"] | None, Parameter(query="actor_kind", required=False)] = None,
    action: Annotated[str | None, Parameter(query="action", required=False, max_length=100, description="Exact action, or a prefix ending in '.' or '*'")] = None,
    target_type: Annotated[str | None, Parameter(query="target_type", required=False, max_length=63)] = None,
    target_id: Annotated[str | None, Parameter(query="target_id", required=False, max_length=320)] = None,
    from_: Annotated[str | None, Parameter(query="from", required=False, max_length=40, description="ISO 8601 time, inclusive")] = None,
    to: Annotated[str | None, Parameter(query="to", required=False, max_length=40, description="ISO 8601 time, exclusive")] = None,
) -> dict[str, Any]:
    return _filters(actor, actor_id, actor_kind, action, target_type, target_id, from_, to)


class AuditApiController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]
    opt = {"permission": "audit.view"}
    dependencies = {"listing": Provide(provide_list_params), "filters": Provide(provide_audit_filters)}

    @get("/")
    async def list_entries(self, request: Request, listing: ListParams, filters: dict[str, Any]) -> dict:
        """Audit entries, newest first; filter by actor, action (or prefix), target and time."""
        page = await AuditService(request.app.state.services.clock).list_entries(
            listing.query(sortable=SORT_FIELDS, filters=filters)
        )
        return page.envelope()

    @get("/verify")
    async def verify(self, request: Request) -> dict:
        """Walk the tenant's hash chain and name the first broken entry, if any."""
        result = await AuditService(request.app.state.services.clock).verify()
        return {"data": _verify_json(result)}

    @get("/export", operation_class=text_download(*MEDIA_TYPES.values()))
    async def export(
        self, request: Request, filters: dict[str, Any],
        format: Annotated[Literal["jsonl", "csv"], Parameter(query="format")] = "jsonl",
    ) -> Stream:
        """The log (filtered) as JSON Lines or CSV, streamed oldest first."""
        parsed = parse_filters(filters)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        tenant = current_tenant()
        return Stream(
            export_chunks(tenant, format, parsed),
            media_type=MEDIA_TYPES[format],
            headers={"Content-Disposition": f'attachment; filename="audit-{tenant.slug}-{stamp}.{format}"'},
        )

    @get("/{entry_id:uuid}")
    async def get_entry(self, request: Request, entry_id: uuid.UUID) -> dict:
        """One audit entry."""
        return {"data": await AuditService(request.app.state.services.clock).get_entry(entry_id)}


def _verify_json(result) -> dict:
    return {
        "ok": result.ok,
        "checked": result.checked,
        "firstBrokenSeq": result.first_broken_seq,
        "problem": result.problem,
        "code": result.code,
        "head": str(result.head) if result.head else None,
    }


class AuditConsole(Controller):
    """The admin audit console: filters, the table, verification status and export links."""

    path = "/audit"
    include_in_schema = False
    opt = {"permission": "audit.view"}
    dependencies = {"filters": Provide(provide_audit_filters)}

    @get("/")
    async def page(
        self, request: Request, filters: dict[str, Any],
        page: Annotated[int, Parameter(query="page", ge=1, le=1_000_000)] = 1,
    ) -> Template:
        service = AuditService(request.app.state.services.clock)
        error = None
        try:
            entries = await service.list_entries(ListQuery(page=page, limit=50, filters=filters, descending=True))
        except DomainError as problem:
            error = problem.message
            entries = await service.list_entries(ListQuery(page=1, limit=50, descending=True))
            filters = {}
        query = urlencode(filters)
        template = "audit_rows.html" if request.headers.get("hx-request") and request.headers.get("hx-target") == "audit-results" else "audit.html"
        return Template(
            template,
            context={
                "entries": entries.items,
                "page": entries.envelope([])["pagination"],
                "filters": filters,
                "query": query,
                "error": error,
            },
        )

    @get("/verify")
    async def verify(self, request: Request) -> Template:
        result = await AuditService(request.app.state.services.clock).verify()
        template = "audit_verify.html" if request.headers.get("hx-request") else "audit_verify_page.html"
        return Template(template, context={"result": _verify_json(result)})
