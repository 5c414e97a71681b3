"""The rules of analytics: what a campaign or the workspace achieved, per dimension; A/B verdicts
with a recommended winner (and its promotion); the best time to send.

Engagement is human by default: an open or click scored machine (image proxies, link scanners,
bots: see `tracking.scoring`) never counts as engagement and is shown alongside. A message counts
as opened when a person opened it or clicked a link in it (a click proves the open the pixel may
have missed). A meeting is credited to the last message the lead got in the campaign.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from salescopilot.accounts.repository import MembershipRepository, UserRepository
from salescopilot.accounts.tables import Membership
from salescopilot.analytics.repository import (
    LENGTH_BUCKETS,
    AbTestPolicyRepository,
    AnalyticsCounterRepository,
    AnalyticsRepository,
    Scope,
)
from salescopilot.analytics.stats import (
    METRIC_FIGURE,
    WEEKDAYS,
    ab_verdict,
    best_send_time,
    bucket_label,
    empty,
    funnel,
    local_grid,
    roll_up,
)
from salescopilot.analytics.tables import AbTestPolicy
from salescopilot.audit.service import AuditService
from salescopilot.campaigns.repository import CampaignRepository
from salescopilot.campaigns.tables import Campaign
from salescopilot.clock import Clock
from salescopilot.errors import Conflict, NotFound, ValidationFailed
from salescopilot.mailboxes.repository import MailboxRepository
from salescopilot.mailboxes.tables import Mailbox
from salescopilot.sequences.repository import SequenceRepository, SequenceVersionRepository
from salescopilot.sequences.steps import steps_of, to_json
from salescopilot.sequences.tables import Sequence
from salescopilot.templates.repository import EmailTemplateRepository
from salescopilot.templates.tables import EmailTemplate

#: Delivered messages a weekday/hour needs before it can be recommended.
SEND_TIME_MIN_SAMPLE = 50
METRICS = tuple(METRIC_FIGURE)
CONFIDENCES = (90, 95, 99)


class CampaignNotFound(NotFound):
    code = "CAMPAIGN_NOT_FOUND"
    default_message = "No such campaign."


class NoWinnerYet(Conflict):
    code = "AB_NO_WINNER_YET"
    default_message = "This step's A/B test has no significant winner yet."


def _uuid(text: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(text)) if text else None
    except ValueError:
        return None


def policy_json(row: AbTestPolicy | None) -> dict[str, Any]:
    if row is None:
        return {"metric": "reply", "confidence": 95, "minSample": 100, "autoPromote": False}
    return {"metric": row.metric, "confidence": row.confidence, "minSample": row.min_sample,
            "autoPromote": bool(row.auto_promote)}


class AnalyticsService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.reports = AnalyticsRepository()
        self.policies = AbTestPolicyRepository()

    # -- reports -----------------------------------------------------------------------------

    async def campaign_report(self, campaign_id: uuid.UUID, *, since: dt.datetime | None = None,
                              until: dt.datetime | None = None, from_facts: bool = False) -> dict[str, Any]:
        """Everything the campaign dashboard shows: of all time from the campaign's counters (see
        `analytics.counters`), of a period (or `from_facts`, to check the counters) from one
        aggregate statement over the facts."""
        campaign = await CampaignRepository().get(campaign_id)
        if campaign is None:
            raise CampaignNotFound()
        if since is None and until is None and not from_facts:
            # All time: the counters kept as messages are sent and answered (a few hundred rows).
            rows = await AnalyticsCounterRepository().rows_of(campaign.id)
        else:
            rows = await self.reports.report_rows(Scope(campaign=campaign.id, since=since, until=until))
        policy = policy_json(await self.policies.of_campaign(campaign.id))
        steps = await self._steps(campaign)
        report = await self._report(rows)
        report["campaign"] = {"id": str(campaign.id), "name": campaign.name, "status": campaign.status}
        report["abPolicy"] = policy
        report["abTests"] = self._ab_tests(rows, steps, policy)
        names = {s.key: s.name for s in steps}
        order = {s.key: n for n, s in enumerate(steps)}
        for item in report["byStep"]:
            item["name"] = names.get(item["key"], item["key"] or "(one-off)")
        report["byStep"].sort(key=lambda item: order.get(item["key"], len(order)))
        return report

    async def workspace_report(self, *, since: dt.datetime | None = None,
                               until: dt.datetime | None = None) -> dict[str, Any]:
        """The workspace overview: every campaign, sequence, template, mailbox and owner."""
        rows = await self.reports.report_rows(Scope(since=since, until=until))
        return await self._report(rows, workspace=True)

    async def team_report(self, *, since: dt.datetime | None = None,
                          until: dt.datetime | None = None) -> list[dict[str, Any]]:
        """The manager's view: each owner's figures and, under them, per campaign."""
        return await self._team(await self.reports.report_rows(Scope(since=since, until=until)))

    async def overview(self, *, since: dt.datetime | None = None,
                       until: dt.datetime | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The workspace report and the team view from the same aggregate statement."""
        rows = await self.reports.report_rows(Scope(since=since, until=until))
        return await self._report(rows, workspace=True), await self._team(rows)

    async def policy(self, campaign_id: uuid.UUID) -> dict[str, Any]:
        campaign = await CampaignRepository().get(campaign_id)
        if campaign is None:
            raise CampaignNotFound()
        return policy_json(await self.policies.of_campaign(campaign.id))

    async def _team(self, all_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = [r for r in all_rows if r["grouping"] == "k"]
        owners = roll_up(rows, lambda r: r["owner"] or "")
        per = roll_up(rows, lambda r: (r["owner"] or "", r["campaign"] or ""))
        users = await self._user_names([o for o in owners if o])
        campaigns = await self._names(CampaignRepository(), Campaign, {c for _, c in per if c}, "name")
        team = []
        for owner, figures in owners.items():
            team.append({
                "owner": owner or None, "name": users.get(owner, "No owner" if not owner else "(removed user)"),
                **funnel(figures),
                "campaigns": sorted(({"id": c or None, "name": campaigns.get(c, "(one-off emails)" if not c else "(deleted)"),
                                      **funnel(f)} for (o, c), f in per.items() if o == owner),
                                    key=lambda item: -item["sent"]),
            })
        return sorted(team, key=lambda item: (-item["sent"], item["name"]))

    async def _report(self, rows: list[dict[str, Any]], *, workspace: bool = False) -> dict[str, Any]:
        keyed = [r for r in rows if r["grouping"] == "k"]
        total = empty()
        for row in keyed:
            for name in total:
                total[name] += row[name]

        def listing(key: str, names: dict[str, str] | None = None, fallback: str = "") -> list[dict[str, Any]]:
            groups = roll_up(keyed, lambda r: r[key] or "")
            items = [{"key": k or None, "name": (names or {}).get(k, k or fallback), **funnel(f)}
                     for k, f in groups.items()]
            return sorted(items, key=lambda item: (-item["sent"], str(item["name"])))

        templates = await self._names(EmailTemplateRepository(), EmailTemplate,
                                      {r["template"] for r in keyed if r["template"]}, "name")
        mailboxes = await self._names(MailboxRepository(), Mailbox, {r["mailbox"] for r in keyed if r["mailbox"]}, "email")
        users = await self._user_names([r["owner"] for r in keyed if r["owner"]])
        report: dict[str, Any] = {
            "totals": funnel(total),
            "byStep": listing("step_key"),
            "byTemplate": listing("template", templates, "(no template)"),
            "bySubject": listing("subject_template", None, "(reply in thread)"),
            "byMailbox": listing("mailbox", mailboxes),
            "byOwner": listing("owner", users, "No owner"),
            "byLength": [{"bucket": index, "label": bucket_label(index), **funnel(f)}
                         for index, f in sorted(roll_up(keyed, lambda r: int(r["bucket"])).items())],
        }
        report["leaderboard"] = sorted(
            (item for item in report["byTemplate"] if item["key"]),
            key=lambda item: (-(item["rates"]["reply"] or 0), -item["delivered"]))
        grid = local_grid(r for r in rows if r["grouping"] in ("s", "w"))
        report["byWeekdayHour"] = [{"weekday": WEEKDAYS[d], "hour": h, **funnel(f)} for (d, h), f in sorted(grid.items())]
        by_day = roll_up(({"d": d, **f} for (d, _), f in grid.items()), lambda r: r["d"])
        by_hour = roll_up(({"h": h, **f} for (_, h), f in grid.items()), lambda r: r["h"])
        report["byWeekday"] = [{"weekday": WEEKDAYS[d], **funnel(by_day.get(d, empty()))} for d in range(7)]
        report["byHour"] = [{"hour": h, **funnel(by_hour.get(h, empty()))} for h in range(24)]
        report["sendTime"] = best_send_time(grid, min_sample=SEND_TIME_MIN_SAMPLE)
        if workspace:
            campaigns = await self._names(CampaignRepository(), Campaign, {r["campaign"] for r in keyed if r["campaign"]}, "name")
            sequences = await self._names(SequenceRepository(), Sequence, {r["sequence"] for r in keyed if r["sequence"]}, "name")
            report["byCampaign"] = listing("campaign", campaigns, "(one-off emails)")
            report["bySequence"] = listing("sequence", sequences, "(no sequence)")
        return report

    def _ab_tests(self, rows: list[dict[str, Any]], steps: list, policy: dict[str, Any]) -> list[dict[str, Any]]:
        keyed = [r for r in rows if r["grouping"] == "k" and r["step_key"]]
        per_step = roll_up(keyed, lambda r: (r["step_key"], r["variant"] or ""))
        tests = []
        for number, step in enumerate(steps, 1):
            variants = {v: f for (s, v), f in per_step.items() if s == step.key}
            if len(step.variants) < 2 and len(variants) < 2:
                continue
            for variant in step.variants:
                variants.setdefault(variant.key, empty())
            verdict = ab_verdict(variants, metric=policy["metric"], confidence=policy["confidence"],
                                 min_sample=policy["minSample"])
            weights = {v.key: v.weight for v in step.variants}
            promoted = [k for k, w in weights.items() if w > 0]
            tests.append({"step": step.key, "stepNumber": number, "stepName": step.name, **verdict,
                          "weights": weights,
                          "promoted": promoted[0] if len(promoted) == 1 and len(weights) > 1 else None})
        return tests

    # -- A/B: policy and promotion ---------------------------------------------------------------

    async def set_policy(self, campaign_id: uuid.UUID, values: dict[str, Any]) -> dict[str, Any]:
        campaign = await CampaignRepository().get(campaign_id)
        if campaign is None:
            raise CampaignNotFound()
        metric = values.get("metric", "reply")
        confidence = int(values.get("confidence", 95))
        if metric not in METRICS:
            raise ValidationFailed(f"Choose a metric of: {', '.join(METRICS)}.", details={"field": "metric"})
        if confidence not in CONFIDENCES:
            raise ValidationFailed("Choose a confidence of 90, 95 or 99.", details={"field": "confidence"})
        row = await self.policies.of_campaign(campaign.id) or AbTestPolicy(campaign=campaign.id)
        row.metric, row.confidence = metric, confidence
        row.min_sample = max(10, min(int(values.get("min_sample", 100)), 1_000_000))
        row.auto_promote = bool(values.get("auto_promote", False))
        row.updated_at = self.clock.now()
        if row._exists_in_db:
            await self.policies.save(row)
        else:
            await self.policies.add(row)
        await AuditService(self.clock).record("analytics.ab_policy_changed", target_type="campaign",
                                              target_id=str(campaign.id), after=policy_json(row))
        return policy_json(row)

    async def promote(self, campaign_id: uuid.UUID, step_key: str, *, author: uuid.UUID | None) -> dict[str, Any]:
        """Give the step's significant winner all its traffic: a new version of the campaign's
        sequence (its running campaigns move onto it, as a confirmed edit does)."""
        report = await self.campaign_report(campaign_id)
        test = next((t for t in report["abTests"] if t["step"] == step_key), None)
        if test is None:
            raise NotFound(f"The campaign's sequence has no A/B test at step {step_key!r}.")
        if not test["significant"]:
            raise NoWinnerYet(details={"reason": test["reason"]})
        if test["promoted"] == test["winner"]:
            return {"step": step_key, "winner": test["winner"], "promoted": False, "reason": "already promoted"}
        from salescopilot.sequences.service import SequenceService

        campaign = await CampaignRepository().get(campaign_id)
        assert campaign is not None
        sequences = SequenceService(clock=self.clock)
        steps = steps_of((await sequences.version(campaign.sequence)).steps)
        for step in steps:
            if step.key == step_key:
                for variant in step.variants:
                    variant.weight = 100 if variant.key == test["winner"] else 0
        row, _ = await sequences.update(campaign.sequence, {"steps": to_json(steps)}, author=author, confirm=True)
        await AuditService(self.clock).record(
            "analytics.ab_winner_promoted", target_type="campaign", target_id=str(campaign.id),
            after={"step": step_key, "winner": test["winner"], "metric": test["metric"],
                   "sequence_version": row.version})
        return {"step": step_key, "winner": test["winner"], "promoted": True, "sequenceVersion": row.version}

    async def promote_significant_winners(self) -> int:
        """For each campaign that asks for it, promote every significant winner not yet
        promoted; returns how many steps changed."""
        changed = 0
        for policy in await self.policies.auto_promoting():
            campaign = await CampaignRepository().get(policy.campaign)
            if campaign is None or campaign.status not in ("scheduled", "active", "paused"):
                continue
            report = await self.campaign_report(campaign.id)
            for test in report["abTests"]:
                if test["significant"] and test["promoted"] != test["winner"]:
                    changed += (await self.promote(campaign.id, test["step"], author=None))["promoted"]
        return changed

    # -- names -------------------------------------------------------------------------------

    async def _steps(self, campaign: Campaign) -> list:
        """The steps of the campaign's sequence as they are now (a draft runs the newest version
        once launched; a running campaign is moved onto each new one)."""
        sequence = await SequenceRepository().get(campaign.sequence)
        number = max(campaign.sequence_version, sequence.version if sequence else 0)
        version = await SequenceVersionRepository().one(campaign.sequence, number)
        return steps_of(version.steps) if version else []

    async def _names(self, repository, table, ids: set[str], column: str) -> dict[str, str]:
        wanted = [i for i in (_uuid(x) for x in ids) if i]
        if not wanted:
            return {}
        return {str(row.id): getattr(row, column) for row in await repository.find(table.id.is_in(wanted))}

    async def _user_names(self, ids: list[str]) -> dict[str, str]:
        wanted = [i for i in (_uuid(x) for x in set(ids)) if i]
        if not wanted:
            return {}
        # Only the tenant's members: an owner id is data, and another tenant's user stays unnamed.
        members = {m.user for m in await MembershipRepository().find(Membership.user.is_in(wanted))}
        users = await UserRepository().by_ids(sorted(members, key=str))
        return {str(k): u.name or u.email for k, u in users.items()}


def length_buckets() -> list[str]:
    return [bucket_label(i) for i in range(len(LENGTH_BUCKETS) + 1)]
