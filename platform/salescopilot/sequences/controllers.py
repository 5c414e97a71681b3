"""JSON API of sequences (`/api/v1/sequences`) and the pre-built sequence library."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import Provide
from litestar.params import Parameter

from salescopilot.sequences.service import SequenceService, sequence_json, version_json
from salescopilot.sequences.steps import Step, StopRules
from salescopilot.web.deps import sequence_service
from salescopilot.web.guards import principal_of
from salescopilot.web.idempotency import idempotent
from salescopilot.web.openapi import error_responses
from salescopilot.web.params import ListParams, provide_list_params

IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False, max_length=255)]
IDEMPOTENT = error_responses(409, 422)


class SequenceContent(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    steps: Annotated[list[Step], msgspec.Meta(min_length=1, max_length=20)]
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    stop_rules: StopRules | None = None


class SequenceEdit(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    description: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    steps: Annotated[list[Step], msgspec.Meta(min_length=1, max_length=20)] | None = None
    stop_rules: StopRules | None = None
    #: Apply to running campaigns after seeing the preview.
    confirm: bool = False


class EditPreviewRequest(msgspec.Struct, forbid_unknown_fields=True):
    steps: Annotated[list[Step], msgspec.Meta(min_length=1, max_length=20)]


def content_values(data: Any) -> dict[str, Any]:
    values = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None and k != "confirm"}
    if "steps" in values:
        values["steps"] = msgspec.to_builtins(values["steps"])
    if "stop_rules" in values:
        values["stop_rules"] = msgspec.to_builtins(values["stop_rules"])
    return values


class SequenceController(Controller):
    path = "/api/v1/sequences"
    tags = ["sequences"]
    dependencies = {"listing": Provide(provide_list_params)}

    @get("/", opt={"permission": "sequences.read"})
    async def list_sequences(
        self, request: Request, listing: ListParams,
        q: Annotated[str | None, Parameter(query="q", required=False, max_length=100)] = None,
    ) -> dict:
        """The tenant's sequences, searchable by name."""
        page = await sequence_service(request).page(listing.query(sortable=SequenceService.SORTABLE), q)
        return page.envelope([sequence_json(row) for row in page.items])

    @post("/", opt={"permission": "sequences.write"}, status_code=201, responses=IDEMPOTENT)
    async def create(self, request: Request, data: SequenceContent, idempotency_key: IdempotencyKey = None) -> Response:
        """Create a sequence (version 1). Steps are checked: each variant needs a template or
        its own subject and body, tags must be valid."""

        async def produce() -> tuple[int, dict]:
            service = sequence_service(request)
            row = await service.create(content_values(data), author=principal_of(request).user_id)
            return 201, {"data": sequence_json(row, await service.version(row.id))}

        return await idempotent(request, idempotency_key, data, produce)

    @get("/library", opt={"permission": "sequences.read"})
    async def library(self, request: Request) -> dict:
        """The pre-built sequences, and whether the tenant added each."""
        return {"data": await sequence_service(request).library()}

    @post("/library/{slug:str}/install", opt={"permission": "sequences.write"}, status_code=201, responses=IDEMPOTENT)
    async def install(self, request: Request, slug: Annotated[str, Parameter(max_length=63)],
                      idempotency_key: IdempotencyKey = None) -> Response:
        """Add a pre-built sequence (and the library templates it uses) to the tenant's own."""

        async def produce() -> tuple[int, dict]:
            service = sequence_service(request)
            row = await service.install(slug, author=principal_of(request).user_id)
            return 201, {"data": sequence_json(row, await service.version(row.id))}

        return await idempotent(request, idempotency_key, {"slug": slug}, produce)

    @get("/{sequence_id:uuid}", opt={"permission": "sequences.read"})
    async def get_sequence(self, request: Request, sequence_id: uuid.UUID) -> dict:
        """One sequence with its current version's steps and stop rules."""
        service = sequence_service(request)
        return {"data": sequence_json(await service.get(sequence_id), await service.version(sequence_id))}

    @put("/{sequence_id:uuid}", opt={"permission": "sequences.write"}, responses=error_responses(409))
    async def save(self, request: Request, sequence_id: uuid.UUID, data: SequenceEdit) -> dict:
        """Save a new version. When running campaigns use the sequence, the first save answers
        409 SEQUENCE_EDIT_NEEDS_CONFIRMATION with what happens to the leads in flight; saving
        again with `confirm: true` applies it to them."""
        service = sequence_service(request)
        row, preview = await service.update(sequence_id, content_values(data), author=principal_of(request).user_id,
                                            confirm=data.confirm)
        return {"data": sequence_json(row, await service.version(row.id)), "applied": preview}

    @post("/{sequence_id:uuid}/edit-preview", opt={"permission": "sequences.read"}, status_code=200)
    async def edit_preview(self, request: Request, sequence_id: uuid.UUID, data: EditPreviewRequest) -> dict:
        """What saving these steps would do to the leads in flight of running campaigns."""
        return {"data": await sequence_service(request).preview_edit(sequence_id, msgspec.to_builtins(data.steps))}

    @get("/{sequence_id:uuid}/versions", opt={"permission": "sequences.read"})
    async def versions(self, request: Request, sequence_id: uuid.UUID) -> dict:
        """Every version, newest first."""
        return {"data": [version_json(v) for v in await sequence_service(request).history(sequence_id)]}

    @delete("/{sequence_id:uuid}", opt={"permission": "sequences.write"}, status_code=204)
    async def delete_sequence(self, request: Request, sequence_id: uuid.UUID) -> None:
        """Delete a sequence no campaign uses."""
        await sequence_service(request).delete(sequence_id)
