"""JSON API of the suppression list (`/api/v1/suppressions`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import Provide
from litestar.params import Parameter

from salescopilot.listing import ListQuery, Page
from salescopilot.suppression.service import entry_json
from salescopilot.web.deps import suppression_service
from salescopilot.web.idempotency import idempotent
from salescopilot.web.openapi import error_responses
from salescopilot.web.params import ListParams, provide_list_params

IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False, max_length=255)]
Reason = Literal["unsubscribe", "hard_bounce", "complaint", "manual", "import"]
Value = Annotated[str, msgspec.Meta(min_length=1, max_length=320)]


class SuppressionCreate(msgspec.Struct, forbid_unknown_fields=True):
    #: An email address or a domain (`example.com` also covers its subdomains).
    value: Value
    reason: Reason = "manual"
    source: Annotated[str, msgspec.Meta(max_length=200)] = "api"


class SuppressionImport(msgspec.Struct, forbid_unknown_fields=True):
    values: Annotated[list[Value], msgspec.Meta(min_length=1, max_length=10_000)]
    reason: Reason = "import"


class SuppressionCheck(msgspec.Struct, forbid_unknown_fields=True):
    addresses: Annotated[list[Value], msgspec.Meta(min_length=1, max_length=1000)]


class SuppressionController(Controller):
    path = "/api/v1/suppressions"
    tags = ["suppressions"]
    dependencies = {"listing": Provide(provide_list_params)}

    @get("/", opt={"permission": "suppressions.read"})
    async def list_entries(
        self, request: Request, listing: ListParams,
        q: Annotated[str | None, Parameter(query="q", required=False, max_length=320)] = None,
    ) -> dict:
        """Suppressed addresses, domains and erased-address hashes, newest first; `q` searches."""
        rows, total = await suppression_service(request).search(q or "", page=listing.page, limit=listing.limit)
        page = Page(items=rows, total=total, query=ListQuery(page=listing.page, limit=listing.limit))
        return page.envelope([entry_json(row) for row in rows])

    @post("/", opt={"permission": "suppressions.write"}, status_code=201, responses=error_responses(409, 422))
    async def add(self, request: Request, data: SuppressionCreate, idempotency_key: IdempotencyKey = None) -> Response:
        """Suppress an address or a domain (adding one already there changes nothing)."""

        async def produce() -> tuple[int, dict]:
            await suppression_service(request).add(data.value, reason=data.reason, source=data.source)
            return 201, {"data": {"value": data.value.strip().lower(), "reason": data.reason}}

        return await idempotent(request, idempotency_key, data, produce)

    @post("/import", opt={"permission": "suppressions.write"}, status_code=200)
    async def import_values(self, request: Request, data: SuppressionImport) -> dict:
        """Suppress many addresses and domains; invalid ones are listed, the rest added."""
        result = await suppression_service(request).add_many(data.values, reason=data.reason, source="api-import")
        return {"data": {"added": result.added, "alreadySuppressed": result.already, "invalid": result.invalid}}

    @post("/check", opt={"permission": "suppressions.read"}, status_code=200)
    async def check(self, request: Request, data: SuppressionCheck) -> dict:
        """Which of these addresses are suppressed (by address, domain or erased hash)."""
        blocked = await suppression_service(request).blocked(data.addresses)
        return {"data": {"blocked": sorted(blocked)}}

    @delete("/{suppression_id:uuid}", opt={"permission": "suppressions.remove"}, status_code=204)
    async def remove(self, request: Request, suppression_id: uuid.UUID) -> None:
        """Remove an entry: the address or domain may be mailed again."""
        await suppression_service(request).remove(suppression_id)
