"""The rules for campaigns: create and edit a draft, add leads (by ids, list, filter or CSV),
launch, pause and resume, archive, bulk actions, counts and the per-lead timeline.

Lifecycle: draft → scheduled (launched, start date ahead) → active ⇄ paused → completed (every
enrollment finished, set by the scheduler) / archived. Pausing holds the campaign's waiting
outbox messages and the scheduler leaves its enrollments alone; resuming releases both. Nothing
sent is ever queued again and no enrollment moves while paused, so a pause never resends and
never skips a step.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from salescopilot.addresses import normalise_address
from salescopilot.audit.service import AuditService
from salescopilot.campaigns.repository import EnrollmentRepository
from salescopilot.campaigns.repository import CampaignRepository
from salescopilot.campaigns.tables import CAMPAIGN_STATUSES, ENROLLMENT_STATES, Campaign, Enrollment
from salescopilot.clock import Clock
from salescopilot.db.json_column import json_dict
from salescopilot.errors import Conflict, NotFound, ValidationFailed
from salescopilot.leads.repository import LeadRepository
from salescopilot.listing import ListQuery, Page
from salescopilot.mailboxes.schemas import WindowSettings
from salescopilot.mailboxes.service import PoolService
from salescopilot.outbox.service import OutboxService
from salescopilot.sequences.service import SequenceService
from salescopilot.sequences.steps import steps_of
from salescopilot.settings import OutboxSettings
from salescopilot.suppression.service import SuppressionService

__all__ = ["CAMPAIGN_STATUSES", "ENROLLMENT_STATES", "CampaignService"]
BULK_ACTIONS = ("pause", "resume", "archive")
ENROLLMENT_BULK_ACTIONS = ("stop", "release", "remove")
#: A CSV of leads for a campaign: at most this many rows (larger files go through the import).
CSV_MAX_ROWS = 50_000


class CampaignNotFound(NotFound):
    code = "CAMPAIGN_NOT_FOUND"
    default_message = "No such campaign."


class EnrollmentNotFound(NotFound):
    code = "ENROLLMENT_NOT_FOUND"
    default_message = "No such lead in this campaign."


class CampaignStateConflict(Conflict):
    code = "CAMPAIGN_STATE_CONFLICT"
    default_message = "The campaign is not in a state that allows this."


class CampaignNotReady(ValidationFailed):
    code = "CAMPAIGN_NOT_READY"
    default_message = "The campaign cannot be launched yet."


def campaign_json(row: Campaign | Mapping[str, Any]) -> dict[str, Any]:
    get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name)

    def when(name: str) -> str | None:
        value = get(name)
        return value.isoformat() if value else None

    return {
        "id": str(get("id")), "name": get("name"), "status": get("status"),
        "sequence": str(get("sequence")), "sequenceVersion": get("sequence_version"),
        "pool": str(get("pool")) if get("pool") else None, "window": json_dict(get("window")) or None,
        "startAt": when("start_at"), "dailyNewLeads": get("daily_new_leads"),
        "trackOpens": get("track_opens"), "trackClicks": get("track_clicks"), "senderName": get("sender_name"),
        "source": json_dict(get("source")), "createdAt": when("created_at"), "updatedAt": when("updated_at"),
        "launchedAt": when("launched_at"), "finishedAt": when("finished_at"),
    }


def enrollment_json(row: Enrollment | Mapping[str, Any]) -> dict[str, Any]:
    get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name)

    def when(name: str) -> str | None:
        value = get(name)
        return value.isoformat() if value else None

    return {
        "id": str(get("id")), "campaign": str(get("campaign")), "lead": str(get("lead")), "state": get("state"),
        "nextStep": get("next_step"), "messages": get("sends"), "nextDueAt": when("next_due_at"),
        "waitReason": get("wait_reason"), "variant": get("variant") or None, "stopReason": get("stop_reason") or None,
        "pausedUntil": when("paused_until"), "openedAt": when("opened_at"), "clickedAt": when("clicked_at"),
        "repliedAt": when("replied_at"), "startedAt": when("started_at"), "finishedAt": when("finished_at"),
    }


def parse_window(raw: Any) -> dict[str, Any]:
    try:
        return WindowSettings.model_validate(raw or {}).model_dump(mode="json")
    except ValidationError as error:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in error.errors()]
        raise ValidationFailed("The sending window is not valid.", details={"field": "window", "problems": problems}) from None


class CampaignService:
    SORTABLE = CampaignRepository.sortable

    def __init__(self, settings: OutboxSettings, *, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.campaigns = CampaignRepository()
        self.enrollments = EnrollmentRepository()
        self.audit = AuditService(clock)

    async def get(self, campaign_id: uuid.UUID) -> Campaign:
        row = await self.campaigns.get(campaign_id)
        if row is None:
            raise CampaignNotFound()
        return row

    async def page(self, query: ListQuery, q: str | None = None) -> Page[dict]:
        if query.filters.get("status") is not None and query.filters["status"] not in CAMPAIGN_STATUSES:
            raise ValidationFailed(f"Unknown status. Choose one of: {', '.join(CAMPAIGN_STATUSES)}.",
                                   details={"field": "status"})
        return await self.campaigns.page(query, q)

    async def _settings_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        cleaned: dict[str, Any] = {}
        if "name" in values:
            name = str(values["name"] or "").strip()[:200]
            if not name:
                raise ValidationFailed("A campaign needs a name.", details={"field": "name"})
            cleaned["name"] = name
        if "sequence" in values:
            sequence = await SequenceService(clock=self.clock).get(values["sequence"])
            cleaned["sequence"], cleaned["sequence_version"] = sequence.id, sequence.version
        if "pool" in values:
            cleaned["pool"] = (await PoolService(self.clock).get(values["pool"])).id if values["pool"] else None
        if "window" in values:
            cleaned["window"] = parse_window(values["window"])
        if "start_at" in values:
            start = values["start_at"]
            if start is not None and start.tzinfo is None:
                raise ValidationFailed("The start date needs a timezone.", details={"field": "startAt"})
            cleaned["start_at"] = start
        if "daily_new_leads" in values:
            limit = values["daily_new_leads"]
            if limit is not None and not 1 <= int(limit) <= 100_000:
                raise ValidationFailed("The daily new-lead limit is 1 to 100000.", details={"field": "dailyNewLeads"})
            cleaned["daily_new_leads"] = limit
        for name in ("track_opens", "track_clicks"):
            if name in values:
                cleaned[name] = bool(values[name])
        if "sender_name" in values:
            cleaned["sender_name"] = str(values["sender_name"] or "").strip()[:200]
        return cleaned

    async def create(self, values: Mapping[str, Any], *, author: uuid.UUID | None) -> Campaign:
        if "sequence" not in values or values.get("sequence") is None:
            raise ValidationFailed("A campaign needs a sequence.", details={"field": "sequence"})
        cleaned = await self._settings_values({"window": {}, **values})
        if "name" not in cleaned:
            raise ValidationFailed("A campaign needs a name.", details={"field": "name"})
        now = self.clock.now()
        row = Campaign(**cleaned, status="draft", created_by=author, created_at=now, updated_at=now)
        await self.campaigns.add(row)
        await self.audit.record("campaign.created", target_type="campaign", target_id=str(row.id),
                                after={"name": row.name})
        return row

    async def update(self, campaign_id: uuid.UUID, values: Mapping[str, Any]) -> Campaign:
        """Change settings. The sequence and pool change only in a draft; an archived or
        completed campaign does not change."""
        row = await self.get(campaign_id)
        if row.status in ("archived", "completed"):
            raise CampaignStateConflict(f"A {row.status} campaign cannot be changed.")
        if row.status != "draft" and ({"sequence", "pool"} & set(values)):
            raise CampaignStateConflict("The sequence and the mailbox pool change only while the campaign is a draft.")
        cleaned = await self._settings_values(values)
        cleaned["updated_at"] = self.clock.now()
        await self.campaigns.change(row.id, cleaned)
        await self.audit.record("campaign.updated", target_type="campaign", target_id=str(row.id),
                                after={"fields": sorted(k for k in cleaned if k != "updated_at")})
        return await self.get(row.id)

    # -- leads ----------------------------------------------------------------------------------

    async def add_leads(self, campaign_id: uuid.UUID, source: Mapping[str, Any]) -> dict[str, Any]:
        """Enroll leads from `source` ({"kind": "ids", "ids"} · {"kind": "list", "list"} ·
        {"kind": "filter", "status", "tag", "q"} · {"kind": "csv", "csv"}: a column named
        email, or the first column). Leads already in the campaign, suppressed, bounced or
        unsubscribed are skipped and counted by reason; CSV addresses without a lead are
        skipped too (import them first)."""
        row = await self.get(campaign_id)
        if row.status in ("archived", "completed"):
            raise CampaignStateConflict(f"Leads cannot be added to a {row.status} campaign.")
        kind = source.get("kind")
        leads = LeadRepository()
        skipped: dict[str, int] = {}
        candidates: list[dict] = []
        if kind == "ids":
            ids = list(dict.fromkeys(source.get("ids") or []))[:CSV_MAX_ROWS]
            found = await leads.by_ids(ids)
            skipped["not_found"] = len(ids) - len(found)
            candidates = [{"id": r.id, "email_normalised": r.email_normalised, "status": r.status} for r in found]
        elif kind in ("list", "filter"):
            filters = {"list": source.get("list")} if kind == "list" else {
                k: source.get(k) for k in ("status", "tag", "q") if source.get(k)
            }
            if kind == "list" and not source.get("list"):
                raise ValidationFailed("Choose a list.", details={"field": "list"})
            async for batch in leads.stream(filters):
                candidates += [{"id": r["id"], "email_normalised": r["email_normalised"], "status": r["status"]} for r in batch]
        elif kind == "csv":
            addresses = self._csv_addresses(str(source.get("csv") or ""))
            existing = await leads.existing(sorted(set(addresses)))
            skipped["not_a_lead"] = len(set(addresses)) - len(existing)
            by_id = await leads.by_ids([v["id"] for v in existing.values()])
            candidates = [{"id": r.id, "email_normalised": r.email_normalised, "status": r.status} for r in by_id]
        else:
            raise ValidationFailed("Choose where the leads come from: ids, list, filter or csv.",
                                   details={"field": "kind"})
        already = await self.enrollments.lead_ids(row.id)
        blocked = await SuppressionService(self.clock).blocked(c["email_normalised"] for c in candidates)
        now = self.clock.now()
        start = max(row.start_at or now, now)
        live = row.status in ("scheduled", "active", "paused")
        fresh: list[Enrollment] = []
        for candidate in sorted(candidates, key=lambda c: str(c["id"])):
            reason = None
            if candidate["id"] in already:
                reason = "already_enrolled"
            elif candidate["email_normalised"] in blocked:
                reason = "suppressed"
            elif candidate["status"] in ("bounced", "unsubscribed"):
                reason = candidate["status"]
            if reason:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            already.add(candidate["id"])
            fresh.append(Enrollment(
                id=uuid.uuid4(), campaign=row.id, lead=candidate["id"], state="waiting",
                next_due_at=start if live else None, anchor_at=start if live else None,
                wait_reason="waiting for the campaign to start" if not live else "", created_at=now, updated_at=now,
            ))
        await self.enrollments.add_batch(fresh)
        await self.campaigns.change(row.id, {"source": {"kind": kind, **{k: str(v) for k, v in source.items()
                                                                          if k in ("list", "status", "tag", "q")}},
                                             "updated_at": now})
        skipped = {k: v for k, v in skipped.items() if v}
        await self.audit.record("campaign.leads_added", target_type="campaign", target_id=str(row.id),
                                after={"added": len(fresh), "skipped": skipped})
        return {"added": len(fresh), "skipped": skipped}

    @staticmethod
    def _csv_addresses(text: str) -> list[str]:
        if not text.strip():
            raise ValidationFailed("The CSV is empty.", details={"field": "csv"})
        sample = text[:4096]
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(io.StringIO(text), dialect)
        rows = list(row for _, row in zip(range(CSV_MAX_ROWS + 1), reader))
        if len(rows) > CSV_MAX_ROWS:
            raise ValidationFailed(f"At most {CSV_MAX_ROWS} rows; import larger files as leads first.",
                                   details={"field": "csv"})
        column = 0
        if rows and any(cell.strip().lower() in ("email", "e-mail", "email address") for cell in rows[0]):
            column = [cell.strip().lower() for cell in rows[0]].index(
                next(c.strip().lower() for c in rows[0] if c.strip().lower() in ("email", "e-mail", "email address")))
            rows = rows[1:]
        found = []
        for row in rows:
            if column < len(row):
                address = normalise_address(row[column] or "")
                if address and "@" in address:
                    found.append(address)
        return found

    # -- lifecycle ------------------------------------------------------------------------------

    async def launch(self, campaign_id: uuid.UUID) -> Campaign:
        """Start a draft: scheduled when its start date is ahead, else active; every lead's
        first step counts from the start."""
        row = await self.get(campaign_id)
        if row.status != "draft":
            raise CampaignStateConflict(f"Only a draft can be launched; this campaign is {row.status}.")
        problems = []
        if row.pool is None:
            problems.append({"field": "pool", "message": "choose a mailbox pool"})
        else:
            pools = PoolService(self.clock)
            [(_, members)] = await pools.with_members([await pools.get(row.pool)])
            if not members:
                problems.append({"field": "pool", "message": "the mailbox pool has no mailbox"})
        version = await SequenceService(clock=self.clock).version(row.sequence, row.sequence_version)
        if not steps_of(version.steps):
            problems.append({"field": "sequence", "message": "the sequence has no step"})
        if not await self.enrollments.exists(Enrollment.campaign == row.id):
            problems.append({"field": "leads", "message": "add leads first"})
        if problems:
            raise CampaignNotReady(details={"problems": problems})
        now = self.clock.now()
        start = max(row.start_at or now, now)
        status = "scheduled" if start > now else "active"
        await self.enrollments.update_where(
            {"next_due_at": start, "anchor_at": start, "wait_reason": "", "updated_at": now},
            Enrollment.campaign == row.id, Enrollment.state == "waiting",
        )
        await self.campaigns.change(row.id, {"status": status, "launched_at": now, "updated_at": now})
        await self.audit.record("campaign.launched", target_type="campaign", target_id=str(row.id),
                                after={"status": status, "start": start.isoformat()})
        return await self.get(row.id)

    async def pause(self, campaign_id: uuid.UUID) -> Campaign:
        row = await self.get(campaign_id)
        if row.status not in ("active", "scheduled"):
            raise CampaignStateConflict(f"Only an active or scheduled campaign can be paused; this one is {row.status}.")
        now = self.clock.now()
        # The status first: on PostgreSQL this waits for a running scheduler pass (which holds
        # the campaign row) so the outbox update below also holds what that pass queued.
        await self.campaigns.change(row.id, {"status": "paused", "updated_at": now})
        held = await OutboxService(self.settings, self.clock).pause_campaign(row.id)
        await self.audit.record("campaign.paused", target_type="campaign", target_id=str(row.id),
                                after={"messages_held": held})
        return await self.get(row.id)

    async def resume(self, campaign_id: uuid.UUID) -> Campaign:
        row = await self.get(campaign_id)
        if row.status != "paused":
            raise CampaignStateConflict(f"Only a paused campaign can be resumed; this one is {row.status}.")
        now = self.clock.now()
        status = "scheduled" if row.start_at and row.start_at > now else "active"
        await self.campaigns.change(row.id, {"status": status, "updated_at": now})
        released = await OutboxService(self.settings, self.clock).resume_campaign(row.id)
        await self.audit.record("campaign.resumed", target_type="campaign", target_id=str(row.id),
                                after={"messages_released": released})
        return await self.get(row.id)

    async def archive(self, campaign_id: uuid.UUID) -> Campaign:
        """Put a draft, paused or completed campaign away: its leads in flight stop and its
        held messages are cancelled."""
        row = await self.get(campaign_id)
        if row.status not in ("draft", "paused", "completed"):
            raise CampaignStateConflict(f"Pause the campaign before archiving it; it is {row.status}.")
        now = self.clock.now()
        await self.enrollments.update_where(
            {"state": "stopped", "stop_reason": "campaign_archived", "next_due_at": None, "finished_at": now,
             "updated_at": now},
            Enrollment.campaign == row.id, Enrollment.state.is_in(["waiting", "active", "paused", "held"]),
        )
        await OutboxService(self.settings, self.clock).messages.set_state_where_campaign(
            row.id, ("paused", "queued", "retry"), {"state": "cancelled", "failure": "cancelled", "updated_at": now})
        await self.campaigns.change(row.id, {"status": "archived", "finished_at": row.finished_at or now,
                                             "updated_at": now})
        await self.audit.record("campaign.archived", target_type="campaign", target_id=str(row.id))
        return await self.get(row.id)

    async def bulk(self, action: str, ids: list[uuid.UUID]) -> int:
        """`pause`, `resume` or `archive` every campaign, all or nothing (the first that cannot
        refuses the request, naming it)."""
        if action not in BULK_ACTIONS:
            raise ValidationFailed(f"Unknown action. Choose one of: {', '.join(BULK_ACTIONS)}.",
                                   details={"field": "action"})
        act = {"pause": self.pause, "resume": self.resume, "archive": self.archive}[action]
        ids = list(dict.fromkeys(ids))
        found = {row.id for row in await self.campaigns.find(Campaign.id.is_in(ids))} if ids else set()
        missing = [str(i) for i in ids if i not in found]
        if missing:
            raise CampaignNotFound("Unknown campaigns.", details={"campaigns": missing})
        for campaign in ids:
            try:
                await act(campaign)
            except CampaignStateConflict as error:
                raise CampaignStateConflict(f"Campaign {campaign}: {error.message}",
                                            details={"campaign": str(campaign)}) from None
        return len(ids)

    # -- reading --------------------------------------------------------------------------------

    async def counts(self, campaign_id: uuid.UUID) -> dict[str, Any]:
        row = await self.get(campaign_id)
        states = await self.enrollments.counts(row.id)
        messages = await OutboxService(self.settings, self.clock).messages.count_by_state_of_campaign(row.id)
        return {
            "leads": sum(states.values()),
            "enrollments": {s: int(states.get(s, 0)) for s in ("waiting", "active", "paused", "held", "stopped", "completed")},
            "stopReasons": await self.enrollments.stop_reasons(row.id),
            "messages": messages,
        }

    async def enrollment_page(self, campaign_id: uuid.UUID, query: ListQuery) -> Page[dict]:
        row = await self.get(campaign_id)
        return await self.enrollments.page_of(row.id, query)

    async def enrollment(self, campaign_id: uuid.UUID, enrollment_id: uuid.UUID) -> Enrollment:
        found = await self.enrollments.of_campaign(campaign_id, [enrollment_id])
        if not found:
            raise EnrollmentNotFound()
        return found[0]

    async def bulk_enrollments(self, campaign_id: uuid.UUID, action: str, ids: list[uuid.UUID]) -> int:
        """`stop` leads (their waiting messages are cancelled), `release` held leads (after
        their template or lead was fixed) or `remove` leads that have not started."""
        if action not in ENROLLMENT_BULK_ACTIONS:
            raise ValidationFailed(f"Unknown action. Choose one of: {', '.join(ENROLLMENT_BULK_ACTIONS)}.",
                                   details={"field": "action"})
        row = await self.get(campaign_id)
        chosen = await self.enrollments.of_campaign(row.id, list(dict.fromkeys(ids)))
        now = self.clock.now()
        if action == "stop":
            live = [e.id for e in chosen if e.state in ("waiting", "active", "paused", "held")]
            if live:
                await self.enrollments.update_where(
                    {"state": "stopped", "stop_reason": "manual", "next_due_at": None, "finished_at": now,
                     "updated_at": now}, Enrollment.id.is_in(live))
                await OutboxService(self.settings, self.clock).cancel_for_enrollments(live, "stopped by a person")
            count = len(live)
        elif action == "release":
            held = [e.id for e in chosen if e.state == "held"]
            if held:
                await self.enrollments.update_where(
                    {"state": "active", "next_due_at": now, "wait_reason": "", "updated_at": now},
                    Enrollment.id.is_in(held))
            count = len(held)
        else:
            unstarted = [e.id for e in chosen if e.sends == 0]
            if unstarted:
                await self.enrollments.delete_where(Enrollment.id.is_in(unstarted))
            count = len(unstarted)
        await self.audit.record(f"campaign.leads_{action}", target_type="campaign", target_id=str(row.id),
                                after={"count": count})
        return count

    async def dry_run(self, campaign_id: uuid.UUID, days: int = 7) -> dict[str, Any]:
        """What would go out over the next `days` (see `dry_run.py`); writes nothing."""
        from salescopilot.campaigns.dry_run import dry_run

        return await dry_run(await self.get(campaign_id), self.clock.now(), days)
