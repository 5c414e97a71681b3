"""JSON API of campaigns (`/api/v1/campaigns`): create and edit, add leads, launch, pause,
resume, archive, bulk actions, counts, enrollments with their timelines, and the dry run."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter

from salescopilot.campaigns.service import (
    CAMPAIGN_STATUSES,
    ENROLLMENT_STATES,
    CampaignService,
    campaign_json,
    enrollment_json,
)
from salescopilot.errors import ValidationFailed
from salescopilot.web.deps import campaign_service, enrollment_service
from salescopilot.web.guards import principal_of
from salescopilot.web.idempotency import idempotent
from salescopilot.web.openapi import error_responses
from salescopilot.web.params import ListParams, provide_list_params

IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False, max_length=255)]
IDEMPOTENT = error_responses(409, 422)
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Window(msgspec.Struct, forbid_unknown_fields=True):
    days: Annotated[list[int], msgspec.Meta(max_length=7)] = msgspec.field(default_factory=lambda: [0, 1, 2, 3, 4])
    start: Annotated[str, msgspec.Meta(pattern=r"^\d{2}:\d{2}$")] = "08:00"
    end: Annotated[str, msgspec.Meta(pattern=r"^\d{2}:\d{2}$")] = "18:00"
    timezone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    holidays: Annotated[str, msgspec.Meta(max_length=8)] | None = None


class CampaignInput(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    name: Name
    sequence: uuid.UUID
    pool: uuid.UUID | None = None
    window: Window | None = None
    start_at: dt.datetime | None = None
    daily_new_leads: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None
    track_opens: bool = False
    track_clicks: bool = False
    sender_name: Annotated[str, msgspec.Meta(max_length=200)] = ""


class CampaignChanges(msgspec.Struct, forbid_unknown_fields=True, rename="camel", omit_defaults=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    sequence: uuid.UUID | msgspec.UnsetType = msgspec.UNSET
    pool: uuid.UUID | None | msgspec.UnsetType = msgspec.UNSET
    window: Window | msgspec.UnsetType = msgspec.UNSET
    start_at: dt.datetime | None | msgspec.UnsetType = msgspec.UNSET
    daily_new_leads: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None | msgspec.UnsetType = msgspec.UNSET
    track_opens: bool | msgspec.UnsetType = msgspec.UNSET
    track_clicks: bool | msgspec.UnsetType = msgspec.UNSET
    sender_name: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET


class LeadSource(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["ids", "list", "filter", "csv"]
    ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=50_000)] = msgspec.field(default_factory=list)
    list_id: uuid.UUID | None = msgspec.field(default=None, name="list")
    status: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    tag: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    q: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    csv: Annotated[str, msgspec.Meta(max_length=5_000_000)] | None = None


class BulkRequest(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["pause", "resume", "archive"]
    ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=500)]


class EnrollmentBulkRequest(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["stop", "release", "remove"]
    ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=5000)]


def values_of(data: Any) -> dict[str, Any]:
    values = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if values.get("window") is not None:
        values["window"] = msgspec.to_builtins(values["window"])
    return values


async def campaign_detail(service: CampaignService, row) -> dict[str, Any]:
    return {**campaign_json(row), "counts": await service.counts(row.id)}


class CampaignController(Controller):
    path = "/api/v1/campaigns"
    tags = ["campaigns"]
    dependencies = {"listing": Provide(provide_list_params)}

    @get("/", opt={"permission": "campaigns.read"})
    async def list_campaigns(
        self, request: Request, listing: ListParams,
        status: Annotated[str | None, Parameter(query="status", required=False, max_length=20)] = None,
        q: Annotated[str | None, Parameter(query="q", required=False, max_length=100)] = None,
    ) -> dict:
        """The tenant's campaigns, filterable by status, searchable by name."""
        if status is not None and status not in CAMPAIGN_STATUSES:
            raise ValidationFailed(f"Unknown status. Choose one of: {', '.join(CAMPAIGN_STATUSES)}.",
                                   details={"field": "status"})
        page = await campaign_service(request).page(
            listing.query(sortable=CampaignService.SORTABLE, filters={"status": status}), q)
        return page.envelope([campaign_json(row) for row in page.items])

    @post("/", opt={"permission": "campaigns.write"}, status_code=201, responses=IDEMPOTENT)
    async def create(self, request: Request, data: CampaignInput, idempotency_key: IdempotencyKey = None) -> Response:
        """Create a draft campaign on a sequence (its current version)."""

        async def produce() -> tuple[int, dict]:
            service = campaign_service(request)
            row = await service.create(values_of(data), author=principal_of(request).user_id)
            return 201, {"data": await campaign_detail(service, row)}

        return await idempotent(request, idempotency_key, data, produce)

    @post("/bulk", opt={"permission": "campaigns.write"}, status_code=200)
    async def bulk(self, request: Request, data: BulkRequest) -> dict:
        """Pause, resume or archive several campaigns: all or none."""
        return {"data": {"action": data.action, "count": await campaign_service(request).bulk(data.action, data.ids)}}

    @get("/{campaign_id:uuid}", opt={"permission": "campaigns.read"})
    async def get_campaign(self, request: Request, campaign_id: uuid.UUID) -> dict:
        """One campaign with its counts (leads by state, why they stopped, messages by state)."""
        service = campaign_service(request)
        return {"data": await campaign_detail(service, await service.get(campaign_id))}

    @patch("/{campaign_id:uuid}", opt={"permission": "campaigns.write"})
    async def change(self, request: Request, campaign_id: uuid.UUID, data: CampaignChanges) -> dict:
        """Change settings (the sequence and the pool only in a draft)."""
        service = campaign_service(request)
        return {"data": await campaign_detail(service, await service.update(campaign_id, values_of(data)))}

    @post("/{campaign_id:uuid}/leads", opt={"permission": "campaigns.write"}, status_code=200)
    async def add_leads(self, request: Request, campaign_id: uuid.UUID, data: LeadSource) -> dict:
        """Enroll leads by ids, a list, a filter (status, tag, q) or a CSV of addresses;
        answers how many were added and how many skipped, by reason."""
        source = {("list" if k == "list_id" else k): v for k, v in msgspec.structs.asdict(data).items()
                  if v not in (None, [])}
        return {"data": await campaign_service(request).add_leads(campaign_id, source)}

    @post("/{campaign_id:uuid}/launch", opt={"permission": "campaigns.write"}, status_code=200)
    async def launch(self, request: Request, campaign_id: uuid.UUID) -> dict:
        """Launch a draft (scheduled when its start date is ahead, else active)."""
        service = campaign_service(request)
        row = await service.launch(campaign_id)
        await _wake(request)
        return {"data": await campaign_detail(service, row)}

    @post("/{campaign_id:uuid}/pause", opt={"permission": "campaigns.write"}, status_code=200)
    async def pause(self, request: Request, campaign_id: uuid.UUID) -> dict:
        """Pause: waiting messages are held, no lead moves on."""
        service = campaign_service(request)
        return {"data": await campaign_detail(service, await service.pause(campaign_id))}

    @post("/{campaign_id:uuid}/resume", opt={"permission": "campaigns.write"}, status_code=200)
    async def resume(self, request: Request, campaign_id: uuid.UUID) -> dict:
        """Resume: held messages are released, leads move on from where they were."""
        service = campaign_service(request)
        row = await service.resume(campaign_id)
        await _wake(request)
        return {"data": await campaign_detail(service, row)}

    @post("/{campaign_id:uuid}/archive", opt={"permission": "campaigns.write"}, status_code=200)
    async def archive(self, request: Request, campaign_id: uuid.UUID) -> dict:
        """Archive a draft, paused or completed campaign."""
        service = campaign_service(request)
        return {"data": await campaign_detail(service, await service.archive(campaign_id))}

    @get("/{campaign_id:uuid}/dry-run", opt={"permission": "campaigns.read"})
    async def dry_run(
        self, request: Request, campaign_id: uuid.UUID,
        days: Annotated[int, Parameter(query="days", ge=1, le=60)] = 7,
    ) -> dict:
        """What would go out over the next `days`: when, to whom, which step, from which
        mailbox; skipped steps and waits with their reasons. Sends nothing."""
        return {"data": await campaign_service(request).dry_run(campaign_id, days)}

    @get("/{campaign_id:uuid}/enrollments", opt={"permission": "campaigns.read"})
    async def enrollments(
        self, request: Request, campaign_id: uuid.UUID, listing: ListParams,
        state_filter: Annotated[str | None, Parameter(query="state", required=False, max_length=20)] = None,
    ) -> dict:
        """The campaign's leads and where each is, filterable by state."""
        state = state_filter
        if state is not None and state not in ENROLLMENT_STATES:
            raise ValidationFailed(f"Unknown state. Choose one of: {', '.join(ENROLLMENT_STATES)}.",
                                   details={"field": "state"})
        page = await campaign_service(request).enrollment_page(
            campaign_id, listing.query(sortable=("created_at", "updated_at", "next_due_at", "state"),
                                       filters={"state": state}))
        return page.envelope([enrollment_json(row) for row in page.items])

    @get("/{campaign_id:uuid}/enrollments/{enrollment_id:uuid}/timeline", opt={"permission": "campaigns.read"})
    async def timeline(self, request: Request, campaign_id: uuid.UUID, enrollment_id: uuid.UUID) -> dict:
        """One lead's way through the campaign: every step, what happened, why it waits."""
        enrollment = await campaign_service(request).enrollment(campaign_id, enrollment_id)
        return {"data": await enrollment_service(request).timeline(enrollment)}

    @post("/{campaign_id:uuid}/enrollments/bulk", opt={"permission": "campaigns.write"}, status_code=200)
    async def bulk_enrollments(self, request: Request, campaign_id: uuid.UUID, data: EnrollmentBulkRequest) -> dict:
        """Stop leads, release held leads or remove leads that have not started."""
        count = await campaign_service(request).bulk_enrollments(campaign_id, data.action, data.ids)
        return {"data": {"action": data.action, "count": count}}


async def _wake(request: Request) -> None:
    """Run the scheduler for the tenant soon (instead of waiting for the minute's sweep)."""
    from salescopilot.campaigns.tasks import run_due
    from salescopilot.tenancy.context import current_tenant

    await run_due.kiq(current_tenant().id)
