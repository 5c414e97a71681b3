"""Pages: campaigns (list with bulk actions), the create wizard, a campaign's page (counts,
launch / pause / resume / archive, its leads), the dry run, and a lead's timeline."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from salescopilot.campaigns.service import campaign_json, enrollment_json
from salescopilot.errors import DomainError
from salescopilot.listing import ListQuery
from salescopilot.mailboxes.service import PoolService
from salescopilot.sequences.service import sequence_json
from salescopilot.web.deps import campaign_service, enrollment_service, lead_service, sequence_service
from salescopilot.web.guards import principal_of

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
STATUS_TABS = ("all", "draft", "scheduled", "active", "paused", "completed", "archived")


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def wizard_values(form) -> tuple[dict[str, Any], dict[str, Any]]:
    """(campaign values, lead source) from the wizard's form."""
    days = [int(d) for d in form.getall("days", []) if str(d).isdigit() and 0 <= int(d) <= 6]
    start_at = None
    if form.get("start_date"):
        try:
            start_at = dt.datetime.fromisoformat(str(form.get("start_date"))).replace(tzinfo=dt.UTC)
        except ValueError:
            start_at = None
    limit = str(form.get("daily_new_leads", "")).strip()
    values = {
        "name": str(form.get("name", ""))[:200], "sequence": _uuid(form.get("sequence")),
        "pool": _uuid(form.get("pool")),
        "window": {"days": days, "start": str(form.get("window_start") or "09:00"),
                   "end": str(form.get("window_end") or "17:00"),
                   "timezone": str(form.get("window_timezone") or "") or None,
                   "holidays": str(form.get("holidays") or "") or None},
        "start_at": start_at, "daily_new_leads": int(limit) if limit.isdigit() else None,
        "sender_name": str(form.get("sender_name", ""))[:200],
        "track_opens": form.get("track_opens") == "on", "track_clicks": form.get("track_clicks") == "on",
    }
    kind = str(form.get("source", "list"))
    source: dict[str, Any] = {"kind": kind}
    if kind == "list":
        source["list"] = str(form.get("list", ""))
    elif kind == "filter":
        source.update(status=str(form.get("status") or "") or None, tag=str(form.get("tag") or "")[:100] or None)
    elif kind == "csv":
        source["csv"] = str(form.get("csv", ""))[:5_000_000]
    return values, source


class CampaignPages(Controller):
    path = "/campaigns"
    include_in_schema = False

    @get("/", opt={"permission": "campaigns.read"})
    async def index(
        self, request: Request,
        tab: Annotated[str, Parameter(query="status", required=False, max_length=20)] = "all",
    ) -> Template:
        tab = tab if tab in STATUS_TABS else "all"
        query = ListQuery(limit=200, sort="updated_at", descending=True,
                          filters={"status": tab} if tab != "all" else {})
        page = await campaign_service(request).page(query)
        return Template("campaigns/list.html", context={
            "campaigns": [campaign_json(row) for row in page.items], "tab": tab, "tabs": STATUS_TABS,
            "principal": principal_of(request), "notice": request.query_params.get("notice"),
        })

    @post("/bulk", opt={"permission": "campaigns.write"})
    async def bulk(self, request: Request) -> Response:
        form = await request.form()
        ids = [i for i in (_uuid(v) for v in form.getall("ids", [])) if i]
        action = str(form.get("action", ""))
        if not ids:
            return Redirect(path="/campaigns?" + urlencode({"notice": "Choose campaigns first."}))
        try:
            count = await campaign_service(request).bulk(action, ids)
        except DomainError as error:
            return Redirect(path="/campaigns?" + urlencode({"notice": error.message}))
        return Redirect(path="/campaigns?" + urlencode({"notice": f"{action.title()}: {count} campaign(s)."}))

    @get("/new", opt={"permission": "campaigns.write"})
    async def new(self, request: Request) -> Template:
        return await self._wizard(request, {})

    @post("/", opt={"permission": "campaigns.write"})
    async def create(self, request: Request) -> Response:
        form = await request.form()
        values, source = wizard_values(form)
        service = campaign_service(request)
        try:
            row = await service.create(values, author=principal_of(request).user_id)
            added = await service.add_leads(row.id, source)
        except DomainError as error:
            return await self._wizard(request, dict(form), error=error, status_code=400)
        skipped = sum(added["skipped"].values())
        notice = f"Draft created with {added['added']} lead(s)" + (f"; {skipped} skipped" if skipped else "") + "."
        return Redirect(path=f"/campaigns/{row.id}?" + urlencode({"notice": notice}))

    @get("/{campaign_id:uuid}", opt={"permission": "campaigns.read"})
    async def detail(self, request: Request, campaign_id: uuid.UUID) -> Template:
        service = campaign_service(request)
        row = await service.get(campaign_id)
        enrollments = await service.enrollment_page(row.id, ListQuery(limit=100, sort="created_at"))
        leads = {lead.id: lead for lead in await lead_service(request).leads.by_ids([e["lead"] for e in enrollments.items])}
        sequence = await sequence_service(request).get(row.sequence)
        return Template("campaigns/detail.html", context={
            "campaign": campaign_json(row), "counts": await service.counts(row.id), "sequence": sequence_json(sequence),
            "enrollments": [{**enrollment_json(e), "email": leads[e["lead"]].email if e["lead"] in leads else "(deleted)"}
                            for e in enrollments.items],
            "total": enrollments.total, "principal": principal_of(request),
            "notice": request.query_params.get("notice"),
        })

    @post("/{campaign_id:uuid}/launch", opt={"permission": "campaigns.write"})
    async def launch(self, request: Request, campaign_id: uuid.UUID) -> Response:
        return await self._act(request, campaign_id, "launch")

    @post("/{campaign_id:uuid}/pause", opt={"permission": "campaigns.write"})
    async def pause(self, request: Request, campaign_id: uuid.UUID) -> Response:
        return await self._act(request, campaign_id, "pause")

    @post("/{campaign_id:uuid}/resume", opt={"permission": "campaigns.write"})
    async def resume(self, request: Request, campaign_id: uuid.UUID) -> Response:
        return await self._act(request, campaign_id, "resume")

    @post("/{campaign_id:uuid}/archive", opt={"permission": "campaigns.write"})
    async def archive(self, request: Request, campaign_id: uuid.UUID) -> Response:
        return await self._act(request, campaign_id, "archive")

    async def _act(self, request: Request, campaign_id: uuid.UUID, action: str) -> Response:
        service = campaign_service(request)
        acts = {"launch": service.launch, "pause": service.pause, "resume": service.resume, "archive": service.archive}
        try:
            row = await acts[action](campaign_id)
        except DomainError as error:
            if error.status_code == 404:
                raise
            problems = "; ".join(p["message"] for p in (error.details or {}).get("problems", []))
            return Redirect(path=f"/campaigns/{campaign_id}?" + urlencode(
                {"notice": error.message + (f" ({problems})" if problems else "")}))
        if action in ("launch", "resume"):
            from salescopilot.campaigns.tasks import run_due
            from salescopilot.tenancy.context import current_tenant

            await run_due.kiq(current_tenant().id)
        return Redirect(path=f"/campaigns/{row.id}?" + urlencode({"notice": f"Campaign {row.status}."}))

    @get("/{campaign_id:uuid}/dry-run", opt={"permission": "campaigns.read"})
    async def dry_run(
        self, request: Request, campaign_id: uuid.UUID,
        days: Annotated[int, Parameter(query="days", ge=1, le=60)] = 7,
    ) -> Template:
        service = campaign_service(request)
        row = await service.get(campaign_id)
        return Template("campaigns/dry_run.html", context={
            "campaign": campaign_json(row), "plan": await service.dry_run(row.id, days), "days": days,
            "principal": principal_of(request),
        })

    @get("/{campaign_id:uuid}/leads/{enrollment_id:uuid}", opt={"permission": "campaigns.read"})
    async def timeline(self, request: Request, campaign_id: uuid.UUID, enrollment_id: uuid.UUID) -> Template:
        service = campaign_service(request)
        row = await service.get(campaign_id)
        enrollment = await service.enrollment(row.id, enrollment_id)
        lead = await lead_service(request).leads.get(enrollment.lead)
        return Template("campaigns/timeline.html", context={
            "campaign": campaign_json(row), "timeline": await enrollment_service(request).timeline(enrollment),
            "lead": lead, "principal": principal_of(request),
        })

    async def _wizard(self, request: Request, form: dict, *, error: DomainError | None = None,
                      status_code: int = 200) -> Template:
        sequences = await sequence_service(request).page(ListQuery(limit=200, sort="name"))
        pools = await PoolService(request.app.state.services.clock).all()
        return Template("campaigns/new.html", status_code=status_code, context={
            "form": form, "sequences": [sequence_json(s) for s in sequences.items],
            "pools": [{"id": str(p.id), "name": p.name, "size": len(m)} for p, m in pools],
            "lists": await lead_service(request).all_lists(), "days": DAYS,
            "error": error.message if error else None,
            "problems": (error.details or {}).get("problems", []) if error else [],
            "principal": principal_of(request),
        })
