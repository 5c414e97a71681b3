"""What happens to a lead's enrollments when the lead acts: a reply, a booked meeting, a bounce
or an unsubscribe stops them (as the sequence's stop rules say), an out-of-office pauses them
until the return date, an open or a click is noted for the steps' conditions. Other parts call
these (inbound mail, tracking, the CRM); the lead's status changes through `LeadService`.

And the per-lead timeline: every step, when it was queued or skipped and why, what happened to
its message, and why the lead waits now.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from salescopilot.analytics.counters import counting
from salescopilot.audit.service import AuditService
from salescopilot.campaigns.repository import CampaignRepository, EnrollmentEventRepository, EnrollmentRepository
from salescopilot.campaigns.tables import Campaign, Enrollment, EnrollmentEvent
from salescopilot.clock import Clock
from salescopilot.errors import ValidationFailed
from salescopilot.leads.repository import LeadRepository
from salescopilot.leads.service import LeadService
from salescopilot.leads.tables import Lead
from salescopilot.outbox.service import OutboxService
from salescopilot.sequences.repository import SequenceVersionRepository
from salescopilot.sequences.steps import StopRules, steps_of, stop_rules_of
from salescopilot.settings import OutboxSettings

STOP_REASONS = ("replied", "meeting_booked", "bounced", "unsubscribed", "complained", "manual", "lead_deleted")
#: Reasons a sequence's stop rules may turn off; the others always stop.
_RULE_OF = {"replied": "reply", "meeting_booked": "meeting_booked"}
#: The lead status a stop reason gives the lead.
_STATUS_OF = {"replied": "replied", "meeting_booked": "meeting_booked", "bounced": "bounced",
              "unsubscribed": "unsubscribed", "complained": "unsubscribed"}
ENGAGEMENTS = ("opened", "clicked", "replied")
_LIVE = ("waiting", "active", "paused", "held")


async def complete_if_done(campaigns: set[uuid.UUID], now: dt.datetime) -> list[uuid.UUID]:
    """Mark the active campaigns among `campaigns` that have no live enrollment left completed,
    and announce each (`campaign.completed` webhook). Returns those completed now."""
    from salescopilot.webhooks.service import emit_events

    repository = CampaignRepository()
    enrollments = EnrollmentRepository()
    completed = []
    for campaign in sorted(campaigns):
        row = await repository.get(campaign)
        if row and row.status == "active" and not await enrollments.exists_live(campaign):
            await repository.change(campaign, {"status": "completed", "finished_at": now, "updated_at": now})
            completed.append(row)
    await emit_events([("campaign.completed", {"campaignId": str(row.id), "name": row.name,
                                               "completedAt": now.isoformat()}) for row in completed])
    return [row.id for row in completed]


class EnrollmentService:
    def __init__(self, settings: OutboxSettings, *, clock: Clock, plugin_manager: Any = None) -> None:
        self.settings = settings
        self.clock = clock
        self.plugin_manager = plugin_manager
        self.enrollments = EnrollmentRepository()
        self.events = EnrollmentEventRepository()
        self.outbox = OutboxService(settings, clock)
        self.audit = AuditService(clock)

    async def _rules(self, enrollments: list[Enrollment]) -> dict[uuid.UUID, StopRules]:
        """Each enrollment's stop rules (its campaign's sequence version)."""
        campaigns = {c.id: c for c in await CampaignRepository().find(
            Campaign.id.is_in(sorted({e.campaign for e in enrollments})))} if enrollments else {}
        versions: dict[tuple, StopRules] = {}
        for campaign in campaigns.values():
            key = (campaign.sequence, campaign.sequence_version)
            if key not in versions:
                row = await SequenceVersionRepository().one(*key)
                versions[key] = stop_rules_of(row.stop_rules) if row else StopRules()
        return {e.id: versions[(campaigns[e.campaign].sequence, campaigns[e.campaign].sequence_version)]
                for e in enrollments if e.campaign in campaigns}

    async def stop_for_lead(self, lead_id: uuid.UUID, *, reason: str, company_domain: bool = False) -> int:
        """Stop the lead's live enrollments (with `company_domain`, those of every lead at the
        same email domain) and cancel their messages that have not gone out. A reply or a
        booked meeting stops only where the sequence's stop rules say so; bounces, unsubscribes
        and complaints always stop. The lead's status follows the reason. Returns how many
        enrollments stopped."""
        if reason not in STOP_REASONS:
            raise ValidationFailed(f"Unknown stop reason. Choose one of: {', '.join(STOP_REASONS)}.",
                                   details={"field": "reason"})
        lead = await LeadRepository().get(lead_id)
        leads = [lead_id]
        if company_domain and lead is not None:
            domain = lead.email_normalised.rpartition("@")[2]
            leads = [row.id for row in await LeadRepository().find(Lead.email_normalised.like(f"%@{domain}"))]
        live = await self.enrollments.live_of_leads(leads)
        rules = await self._rules(live)
        rule = _RULE_OF.get(reason)
        chosen = [e for e in live if rule is None or getattr(rules.get(e.id, StopRules()), rule)]
        now = self.clock.now()
        if chosen:
            ids = [e.id for e in chosen]
            # A meeting is credited to the enrollment's last message (the lead's status changes below).
            async with counting(leads=leads if reason == "meeting_booked" else []):
                await self.enrollments.update_where(
                    {"state": "stopped", "stop_reason": reason, "next_due_at": None, "finished_at": now,
                     "wait_reason": "", "updated_at": now, **({"replied_at": now} if reason == "replied" else {})},
                    Enrollment.id.is_in(ids))
            await self.outbox.cancel_for_enrollments(ids, f"the lead's sequence stopped: {reason}")
            await self.events.insert_many([
                EnrollmentEvent(enrollment=e.id, at=now, kind="stopped", step=e.next_step,
                                detail=f"stopped: {reason.replace('_', ' ')}" + (" (same company)" if e.lead != lead_id else ""))
                for e in chosen
            ])
            await self._complete_if_done({e.campaign for e in chosen}, now)
        if reason == "replied":
            others = [e.id for e in live if e not in chosen]
            if others:
                await self.enrollments.update_where({"replied_at": now, "updated_at": now},
                                                    Enrollment.id.is_in(others), Enrollment.replied_at.is_null())
        status = _STATUS_OF.get(reason)
        if lead is not None and status and lead.status != status:
            await LeadService(clock=self.clock, plugin_manager=self.plugin_manager).update(lead_id, {"status": status})
        await self.audit.record("enrollment.stopped_for_lead", target_type="lead", target_id=str(lead_id),
                                after={"reason": reason, "enrollments": len(chosen), "company_domain": company_domain})
        return len(chosen)

    async def pause_for_lead(self, lead_id: uuid.UUID, *, until: dt.datetime, reason: str) -> int:
        """Pause the lead's live enrollments until `until` (an out-of-office's return date) where
        the stop rules ask for it; their waiting messages wait too. They resume by themselves."""
        if until.tzinfo is None:
            raise ValidationFailed("`until` needs a timezone.", details={"field": "until"})
        live = await self.enrollments.live_of_leads([lead_id])
        rules = await self._rules(live)
        chosen = [e for e in live if e.state != "held" and rules.get(e.id, StopRules()).out_of_office]
        now = self.clock.now()
        if not chosen or until <= now:
            return 0
        ids = [e.id for e in chosen]
        await self.enrollments.update_where(
            {"state": "paused", "paused_until": until, "next_due_at": until,
             "wait_reason": f"paused until {until:%Y-%m-%d %H:%M} UTC: {reason}"[:500], "updated_at": now},
            Enrollment.id.is_in(ids))
        await self.outbox.postpone_for_enrollments(ids, until, f"the lead is away until {until:%Y-%m-%d}")
        await self.events.insert_many([
            EnrollmentEvent(enrollment=e.id, at=now, kind="paused", step=e.next_step,
                            detail=f"paused until {until:%Y-%m-%d %H:%M} UTC: {reason}"[:1000])
            for e in chosen
        ])
        lead = await LeadRepository().get(lead_id)
        if lead is not None and lead.status in ("new", "active"):
            await LeadService(clock=self.clock, plugin_manager=self.plugin_manager).update(lead_id, {"status": "paused"})
        return len(chosen)

    async def note_engagement(self, outbox_message_id: uuid.UUID, kind: str) -> bool:
        """Record that the lead opened, clicked or replied to a message (the first time counts);
        the steps' conditions read it. A reply also stops the sequence where its rules say so.
        False when the message belongs to no enrollment of a campaign."""
        if kind not in ENGAGEMENTS:
            raise ValidationFailed(f"Unknown engagement. Choose one of: {', '.join(ENGAGEMENTS)}.",
                                   details={"field": "kind"})
        message = await self.outbox.messages.get(outbox_message_id)
        if message is None:
            return False
        enrollment = await self.enrollments.get(message.enrollment)
        if enrollment is None:
            return False
        now = self.clock.now()
        column = f"{kind}_at"
        if getattr(enrollment, column) is None:
            await self.enrollments.update_where({column: now, "updated_at": now}, Enrollment.id == enrollment.id)
            await self.events.add(EnrollmentEvent(enrollment=enrollment.id, at=now, kind=kind,
                                                  step=max(0, message.step - 1),
                                                  detail=f"{kind} message {message.step}", outbox_message=message.id))
        if kind == "replied" and enrollment.state in _LIVE:
            await self.stop_for_lead(enrollment.lead, reason="replied")
        return True

    async def _complete_if_done(self, campaigns: set[uuid.UUID], now: dt.datetime) -> None:
        await complete_if_done(campaigns, now)

    # -- the timeline ---------------------------------------------------------------------------

    async def timeline(self, enrollment: Enrollment) -> dict[str, Any]:
        """The lead's way through the campaign: each step (queued, skipped or ahead), each
        message's state, every event, and why it waits now."""
        campaign = await CampaignRepository().get(enrollment.campaign)
        version = await SequenceVersionRepository().one(campaign.sequence, campaign.sequence_version) if campaign else None
        steps = steps_of(version.steps) if version else []
        events = await self.events.of(enrollment.id)
        messages = {m["id"]: m for m in (await self.outbox.messages.of_enrollments([enrollment.id])).get(enrollment.id, [])}
        entries = []
        for event in events:
            entry = {"at": event.at.isoformat(), "kind": event.kind, "step": event.step + 1, "detail": event.detail}
            if event.kind == "held":
                try:
                    entry["problems"] = json.loads(event.detail)
                    entry["detail"] = "held: the template cannot be rendered for this lead"
                except ValueError:
                    pass
            message = messages.get(event.outbox_message) if event.outbox_message else None
            if message is not None and event.kind == "queued":
                entry["message"] = {
                    "id": str(message["id"]), "state": message["state"], "subject": message["subject"],
                    "dueAt": message["due_at"].isoformat() if message["due_at"] else None,
                    "sentAt": message["sent_at"].isoformat() if message["sent_at"] else None,
                    "waitReason": message["wait_reason"], "failure": message["failure"] or None,
                }
            entries.append(entry)
        done = {e.step for e in events if e.kind in ("queued", "skipped")}
        plan = [
            {"step": n + 1, "name": s.name, "condition": s.condition,
             "status": ("done" if n in done else "next" if n == enrollment.next_step and enrollment.state in _LIVE
                        else "ahead" if n > enrollment.next_step else "not reached")}
            for n, s in enumerate(steps)
        ]
        return {
            "enrollment": str(enrollment.id), "state": enrollment.state, "nextStep": enrollment.next_step + 1,
            "nextDueAt": enrollment.next_due_at.isoformat() if enrollment.next_due_at else None,
            "waitReason": enrollment.wait_reason, "stopReason": enrollment.stop_reason or None,
            "steps": plan, "events": entries,
        }
