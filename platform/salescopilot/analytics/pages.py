"""Pages: the workspace analytics overview (with the team view by owner) and a campaign's
analytics page, each with charts drawn as inline SVG and the same figures in tables."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import Template

from salescopilot.analytics.charts import bar_chart, funnel_chart
from salescopilot.analytics.controllers import analytics_service, parse_period
from salescopilot.errors import DomainError
from salescopilot.web.guards import principal_of

Period = Annotated[str | None, Parameter(required=False, max_length=40)]


def charts_of(report: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {
        "funnel": funnel_chart(f"{prefix}-funnel", report["totals"]),
        "weekday": bar_chart(f"{prefix}-weekday", "Reply rate by weekday (lead's local time)",
                             [(d["weekday"], d["rates"]["reply"]) for d in report["byWeekday"]]),
        "hour": bar_chart(f"{prefix}-hour", "Reply rate by hour of the day (lead's local time)",
                          [(f"{h['hour']:02d}:00", h["rates"]["reply"]) for h in report["byHour"] if h["sent"]]),
        "leaderboard": bar_chart(f"{prefix}-leaderboard", "Template leaderboard: reply rate",
                                 [(t["name"], t["rates"]["reply"]) for t in report["leaderboard"][:10]]),
        "length": bar_chart(f"{prefix}-length", "Reply rate by email length",
                            [(b["label"], b["rates"]["reply"]) for b in report["byLength"]]),
    }


class AnalyticsPages(Controller):
    path = "/analytics"
    include_in_schema = False

    @get("/", opt={"permission": "analytics.read"})
    async def overview(self, request: Request, from_: Annotated[str | None, Parameter(query="from", required=False, max_length=40)] = None,
                       to: Period = None) -> Template:
        error = None
        try:
            since, until = parse_period(from_, to)
        except DomainError as problem:
            since = until = None
            error = problem.message
        report, team = await analytics_service(request).overview(since=since, until=until)
        return Template("analytics/overview.html", context={
            "report": report, "team": team, "charts": charts_of(report, "ws"),
            "team_chart": bar_chart("ws-team", "Reply rate by owner", [(o["name"], o["rates"]["reply"]) for o in team]),
            "period": {"from": from_ or "", "to": to or ""}, "error": error, "principal": principal_of(request),
        })

    @get("/campaigns/{campaign_id:uuid}", opt={"permission": "analytics.read"})
    async def campaign(self, request: Request, campaign_id: uuid.UUID) -> Template:
        report = await analytics_service(request).campaign_report(campaign_id)
        return Template("analytics/campaign.html", context={
            "report": report, "charts": charts_of(report, "cp"),
            "ab_charts": [bar_chart(f"ab-{t['step']}", f"Step {t['stepNumber']} A/B test: {t['metric']} rate",
                                    [(f"Variant {v['variant']}", v["rate"]) for v in t["variants"]])
                          for t in report["abTests"]],
            "principal": principal_of(request),
        })
