"""JSON API of analytics (`/api/v1/analytics`): a campaign's dashboard, the workspace overview,
the team (manager) view, A/B-test policy and promotion of a winner."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.params import Parameter

from salescopilot.errors import ValidationFailed
from salescopilot.tenancy.context import current_tenant
from salescopilot.web.guards import principal_of
from salescopilot.web.openapi import text_download

From = Annotated[str | None, Parameter(query="from", required=False, max_length=40,
                                       description="ISO 8601 date or time (UTC when no offset), inclusive")]
To = Annotated[str | None, Parameter(query="to", required=False, max_length=40,
                                     description="ISO 8601 date or time, exclusive (a date: up to its end)")]


class PolicyInput(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    metric: Literal["reply", "open", "click"] = "reply"
    confidence: Literal[90, 95, 99] = 95
    min_sample: Annotated[int, msgspec.Meta(ge=10, le=1_000_000)] = 100
    auto_promote: bool = False


def parse_period(since: str | None, until: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(since, until) from the query's `from` and `to`; a bare date `to` includes that day."""

    def moment(text: str | None, field: str, end: bool) -> dt.datetime | None:
        if not text:
            return None
        try:
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                value = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(0), dt.UTC)
            else:
                value = dt.datetime.fromisoformat(text)
                value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            return value.astimezone(dt.UTC)
        except (ValueError, OverflowError):
            raise ValidationFailed(f"{field!r} is not an ISO 8601 date or time.", details={"field": field}) from None

    start, end = moment(since, "from", False), moment(until, "to", True)
    if start and end and end <= start:
        raise ValidationFailed("'to' must be after 'from'.", details={"field": "to"})
    return start, end


Format = Annotated[Literal["csv", "pdf"], Parameter(query="format", description="csv or pdf")]
MEDIA = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


def download(report: dict, format: str, name: str, title: str, subtitle: str) -> Response:
    """The report as a CSV or PDF attachment."""
    from salescopilot.analytics.exports import report_csv, report_pdf

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    body = report_csv(report).encode() if format == "csv" else report_pdf(report, title=title, subtitle=subtitle)
    return Response(body, media_type=MEDIA[format], headers={
        "Content-Disposition": f'attachment; filename="{name}-{current_tenant().slug}-{stamp}.{format}"'})


def period_label(since: dt.datetime | None, until: dt.datetime | None) -> str:
    if since is None and until is None:
        return "All time"
    return f"{since:%Y-%m-%d} to {until:%Y-%m-%d %H:%M} UTC" if since and until else (
        f"From {since:%Y-%m-%d}" if since else f"Until {until:%Y-%m-%d %H:%M} UTC")


def analytics_service(request: Request):
    from salescopilot.analytics.service import AnalyticsService

    return AnalyticsService(request.app.state.services.clock)


class AnalyticsController(Controller):
    path = "/api/v1/analytics"
    tags = ["analytics"]

    @get("/campaigns/{campaign_id:uuid}", opt={"permission": "analytics.read"})
    async def campaign(self, request: Request, campaign_id: uuid.UUID, from_: From = None, to: To = None) -> dict:
        """One campaign's dashboard: totals, per step, variant, template, subject, mailbox, owner
        and email length; rates by weekday and hour in the lead's timezone; A/B tests with their
        significance and recommended winner; the best send time. Human engagement by default,
        machine counts under `machine`."""
        since, until = parse_period(from_, to)
        return {"data": await analytics_service(request).campaign_report(campaign_id, since=since, until=until)}

    @get("/workspace", opt={"permission": "analytics.read"})
    async def workspace(self, request: Request, from_: From = None, to: To = None) -> dict:
        """The workspace overview: per campaign, sequence, template (the leaderboard), subject,
        mailbox, owner and email length, with the weekday/hour grid and the best send time."""
        since, until = parse_period(from_, to)
        return {"data": await analytics_service(request).workspace_report(since=since, until=until)}

    @get("/team", opt={"permission": "analytics.read"})
    async def team(self, request: Request, from_: From = None, to: To = None) -> dict:
        """The manager's view: each owner's figures, and per campaign under them."""
        since, until = parse_period(from_, to)
        return {"data": await analytics_service(request).team_report(since=since, until=until)}

    @get("/campaigns/{campaign_id:uuid}/ab-policy", opt={"permission": "analytics.read"})
    async def policy(self, request: Request, campaign_id: uuid.UUID) -> dict:
        """How the campaign's A/B tests are judged, and whether winners are promoted by themselves."""
        return {"data": await analytics_service(request).policy(campaign_id)}

    @put("/campaigns/{campaign_id:uuid}/ab-policy", opt={"permission": "campaigns.write"})
    async def set_policy(self, request: Request, campaign_id: uuid.UUID, data: PolicyInput) -> dict:
        """Change the metric, confidence, minimum sample and automatic promotion."""
        values = msgspec.structs.asdict(data)
        return {"data": await analytics_service(request).set_policy(campaign_id, values)}

    @post("/campaigns/{campaign_id:uuid}/ab-tests/{step_key:str}/promote",
          opt={"permission": "campaigns.write"}, status_code=200)
    async def promote(self, request: Request, campaign_id: uuid.UUID, step_key: str) -> dict:
        """Give the step's significant winner all the step's traffic (a new sequence version);
        refused with AB_NO_WINNER_YET while the test is not significant."""
        result = await analytics_service(request).promote(campaign_id, step_key, author=principal_of(request).user_id)
        return {"data": result}

    @get("/campaigns/{campaign_id:uuid}/export", opt={"permission": "analytics.read"},
         operation_class=text_download(*MEDIA.values()))
    async def export_campaign(self, request: Request, campaign_id: uuid.UUID, format: Format = "csv",
                              from_: From = None, to: To = None) -> Response:
        """The campaign's dashboard as CSV (formula cells defused) or as a PDF report."""
        since, until = parse_period(from_, to)
        report = await analytics_service(request).campaign_report(campaign_id, since=since, until=until)
        return download(report, format, "campaign-analytics", f"Campaign analytics: {report['campaign']['name']}",
                        period_label(since, until))

    @get("/workspace/export", opt={"permission": "analytics.read"}, operation_class=text_download(*MEDIA.values()))
    async def export_workspace(self, request: Request, format: Format = "csv", from_: From = None,
                               to: To = None) -> Response:
        """The workspace overview as CSV (formula cells defused) or as a PDF report."""
        since, until = parse_period(from_, to)
        report = await analytics_service(request).workspace_report(since=since, until=until)
        return download(report, format, "workspace-analytics", "Workspace analytics", period_label(since, until))
