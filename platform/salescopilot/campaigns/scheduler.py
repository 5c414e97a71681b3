"""The campaign scheduler: one pass reads the next due enrollments through the `due` index,
decides for each what its sequence calls for now, renders the messages for their leads, writes
them to the outbox in one batch and moves the enrollments on, all in one transaction.

Idempotent and crash-safe: a pass commits the outbox rows and the enrollments' moves together,
so a crash loses both or neither; and the outbox's unique (enrollment, step), where step is the
enrollment's message count plus one, makes a second row for the same message impossible even if
two passes raced (on PostgreSQL the due rows are also locked, skipping rows another pass holds).

Deterministic: the same enrollments, leads, messages and time give the same decisions (`decide`
is a pure function), the same variants (chosen from the lead and step key) and, through the
outbox's rotation, the same sending plan.

Timing: a step's delay counts from the moment the previous step's message was sent (or, after a
skipped step, from the skip); its message is due when the campaign's window opens in the lead's
timezone (skipping holidays when the campaign does), and the outbox holds it to that window.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from salescopilot.analytics.counters import counting
from salescopilot.campaigns.pass_plan import (
    CampaignPass,
    day_start,
    holiday_country,
    minute,
    window_of,
)
from salescopilot.campaigns.repository import (
    CampaignRepository,
    EnrollmentEventRepository,
    EnrollmentRepository,
)
from salescopilot.campaigns.tables import Campaign
from salescopilot.clock import Clock
from salescopilot.db.engine import commit_without_waiting_for_disk
from salescopilot.ids import new_uuids
from salescopilot.leads.repository import LeadRepository
from salescopilot.leads.service import lead_values
from salescopilot.mailboxes.schemas import WindowSettings
from salescopilot.outbox.service import NewMessage, OutboxService
from salescopilot.sequences.repository import SequenceVersionRepository
from salescopilot.sequences.steps import (
    CONDITION_LABELS,
    Step,
    StopRules,
    choose_variant,
    condition_holds,
    delay_after,
    describe_delay,
    steps_of,
    stop_rules_of,
)
from salescopilot.settings import OutboxSettings
from salescopilot.templates.renderer import render_template
from salescopilot.templates.repository import EmailTemplateRepository
from salescopilot.templates.tables import EmailTemplate

#: Enrollments one pass handles.
BATCH = 1000
#: How soon to look again at an enrollment whose previous message has not gone out yet.
RECHECK = dt.timedelta(minutes=10)
#: Outbox states of a message that has not reached an end yet.
UNSETTLED = ("queued", "retry", "claimed", "sending", "paused", "uncertain")


@dataclass(frozen=True, slots=True)
class Send:
    step: int
    due_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Skip:
    step: int
    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    until: dt.datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Stop:
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Complete:
    pass


Decision = Send | Skip | Wait | Stop | Complete


@dataclass(slots=True)
class PassResult:
    evaluated: int = 0
    queued: int = 0
    skipped: int = 0
    waiting: int = 0
    stopped: int = 0
    completed: int = 0
    held: int = 0
    #: The outbox rows written (or found) by this pass.
    messages: list[uuid.UUID] = field(default_factory=list)


def decide(
    enrollment: dict,
    steps: list[Step],
    rules: StopRules,
    lead: dict | None,
    last: dict | None,
    now: dt.datetime,
    *,
    window: WindowSettings,
    new_lead_allowed: bool = True,
    next_day: dt.datetime | None = None,
    opens: Callable[[str | None, str], dt.datetime] | None = None,
) -> Decision:
    """What the enrollment's sequence calls for at `now`: a pure function of its inputs.

    `lead` is the lead's values (None: deleted), `last` the outbox row of its latest message
    (state, failure, due_at, sent_at, updated_at, wait_reason). `opens(timezone, country)`,
    when given, is `window`'s next opening from `now` (or `now`) for a lead there, as a pass
    computes it once per timezone and country."""
    if lead is None:
        return Stop("lead_deleted", "the lead was deleted")
    status = lead.get("status")
    if status in ("unsubscribed", "bounced"):
        return Stop(status, f"the lead is {status}")
    if (status == "replied" or enrollment.get("replied_at")) and rules.reply:
        return Stop("replied", "the lead replied")
    if status == "meeting_booked" and rules.meeting_booked:
        return Stop("meeting_booked", "a meeting is booked")
    paused_until = enrollment.get("paused_until")
    if enrollment["state"] == "paused" and paused_until and paused_until > now:
        return Wait(paused_until, f"paused until {paused_until:%Y-%m-%d %H:%M} UTC (out of office)")
    timezone, country = lead.get("timezone") or None, lead.get("country") or ""
    holidays = holiday_country(window, country)
    position = enrollment["next_step"]
    base = enrollment.get("anchor_at")
    if enrollment.get("last_message") is not None and last is not None:
        if last["state"] in UNSETTLED:
            following = steps[position] if position < len(steps) else None
            earliest = delay_after(last["due_at"], following, timezone=timezone, holidays=holidays) if following else last["due_at"]
            reason = f"waiting for message {enrollment['sends']} to be sent"
            if last.get("wait_reason"):
                reason += f" ({last['wait_reason']})"
            return Wait(max(now + RECHECK, earliest), reason)
        if last["state"] == "failed":
            failure = last.get("failure") or ""
            if failure == "bounced":
                return Stop("bounced", "the last message bounced")
            if failure == "suppressed":
                return Stop("suppressed", "the address is on the suppression list")
            return Stop("send_failed", f"the last message could not be sent ({failure or 'failed'})")
        sent = last["sent_at"] if last["state"] == "sent" and last.get("sent_at") else last["updated_at"]
        if base is None or sent > base:
            base = sent
    if position >= len(steps):
        return Complete()
    step = steps[position]
    due = delay_after(base or now, step, timezone=timezone, holidays=holidays)
    if due > now:
        after = f"step {position} was sent" if position else "the lead was enrolled"
        return Wait(due, f"step {position + 1} is due {describe_delay(step)} after {after}")
    if enrollment["sends"] == 0 and not new_lead_allowed:
        return Wait(next_day or now + dt.timedelta(days=1), "the campaign's daily limit of new leads is reached")
    opened = enrollment.get("opened_at") is not None
    clicked = enrollment.get("clicked_at") is not None
    replied = enrollment.get("replied_at") is not None
    if not condition_holds(step.condition, opened=opened, clicked=clicked, replied=replied):
        return Skip(position, f"step {position + 1} skipped: sent only {CONDITION_LABELS[step.condition]}")
    if opens is not None:
        return Send(position, opens(timezone, country))
    return Send(position, window.to_window().next_open(now, timezone, country) or now)


def _event(*, enrollment: uuid.UUID, at: dt.datetime, kind: str, step: int, detail: str,
           outbox_message: uuid.UUID | None = None) -> dict[str, Any]:
    # The id is given when the pass writes its events (drawn for all of them at once).
    return {"id": None, "enrollment": enrollment, "at": at, "kind": kind, "step": step,
            "detail": detail, "outbox_message": outbox_message}


class CampaignScheduler:
    def __init__(self, settings: OutboxSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.campaigns = CampaignRepository()
        self.enrollments = EnrollmentRepository()
        self.events = EnrollmentEventRepository()
        self.outbox = OutboxService(settings, clock)
        self._versions: dict[tuple[uuid.UUID, int], tuple[list[Step], StopRules]] = {}
        self._templates: dict[uuid.UUID, EmailTemplate | None] = {}

    async def _version(self, campaign: Campaign) -> tuple[list[Step], StopRules]:
        key = (campaign.sequence, campaign.sequence_version)
        if key not in self._versions:
            row = await SequenceVersionRepository().one(*key)
            self._versions[key] = (steps_of(row.steps), stop_rules_of(row.stop_rules)) if row else ([], StopRules())
        return self._versions[key]

    async def _load_templates(self, ids: set[uuid.UUID]) -> None:
        wanted = [i for i in ids if i not in self._templates]
        if wanted:
            found = {row.id: row for row in await EmailTemplateRepository().find(EmailTemplate.id.is_in(wanted))}
            for template in wanted:
                self._templates[template] = found.get(template)

    async def run_pass(self, limit: int = BATCH) -> PassResult:
        """Handle up to `limit` due enrollments (in the caller's write transaction)."""
        now = self.clock.now()
        result = PassResult()
        campaigns = {c.id: c for c in await self.campaigns.runnable()}
        for campaign in campaigns.values():
            if campaign.status == "scheduled" and (campaign.start_at is None or campaign.start_at <= now):
                campaign.status = "active"
                await self.campaigns.change(campaign.id, {"status": "active", "updated_at": now})
        active = sorted(c.id for c in campaigns.values() if c.status == "active")
        rows = await self.enrollments.due(now, active, limit)
        if not rows:
            return result
        leads = await LeadRepository().values_by_ids(sorted({r["lead"] for r in rows}))
        last = await self.outbox.messages.by_ids_brief(sorted({r["last_message"] for r in rows if r["last_message"]}))
        plans: dict[uuid.UUID, CampaignPass] = {}
        budgets: dict[uuid.UUID, int | None] = {}
        for cid in sorted({r["campaign"] for r in rows}):
            campaign = campaigns[cid]
            steps, rules = await self._version(campaign)
            await self._load_templates({v.template for s in steps for v in s.variants if v.template})
            plans[cid] = plan = CampaignPass(campaign, steps, rules, window_of(campaign), now)
            if campaign.daily_new_leads is None:
                budgets[cid] = None
            else:
                since = day_start(now, plan.window.timezone)
                budgets[cid] = campaign.daily_new_leads - await self.enrollments.started_since(cid, since)

        changes: list[tuple[uuid.UUID, dict[str, Any]]] = []
        events: list[dict[str, Any]] = []
        sends: list[tuple[dict, Step, Any, NewMessage]] = []
        finished_campaigns: set[uuid.UUID] = set()
        activate_leads: list[uuid.UUID] = []
        for row in rows:
            result.evaluated += 1
            plan = plans[row["campaign"]]
            campaign, steps = plan.campaign, plan.steps
            lead = leads.get(row["lead"])
            values: dict[str, Any] = {"updated_at": now}
            if row["state"] == "paused" and row["paused_until"] and row["paused_until"] <= now:
                row["state"] = values["state"] = "active" if row["sends"] else "waiting"
                values["paused_until"] = None
                events.append(_event(enrollment=row["id"], at=now, kind="resumed", step=row["next_step"],
                                     detail="the pause ended"))
            budget = budgets.get(campaign.id)
            while True:
                decision = decide(
                    row, steps, plan.rules, lead, last.get(row["last_message"]) if row["last_message"] else None,
                    now, window=plan.window, new_lead_allowed=budget is None or budget > 0,
                    next_day=plan.next_day, opens=plan.opens,
                )
                if not isinstance(decision, Skip):
                    break
                result.skipped += 1
                events.append(_event(enrollment=row["id"], at=now, kind="skipped", step=decision.step,
                                     detail=decision.reason))
                row["next_step"] = values["next_step"] = decision.step + 1
                row["anchor_at"] = values["anchor_at"] = now
            if isinstance(decision, Wait):
                result.waiting += 1
                values.update(next_due_at=decision.until, wait_reason=decision.reason[:500])
            elif isinstance(decision, (Stop, Complete)):
                stopped = isinstance(decision, Stop)
                result.stopped += stopped
                result.completed += not stopped
                values.update(state="stopped" if stopped else "completed", next_due_at=None, wait_reason="",
                              stop_reason=decision.reason if stopped else "", finished_at=now)
                events.append(_event(
                    enrollment=row["id"], at=now, kind="stopped" if stopped else "completed", step=row["next_step"],
                    detail=decision.detail if stopped else "every step is done"))
                finished_campaigns.add(campaign.id)
            else:
                assert isinstance(decision, Send)
                assert lead is not None
                step = steps[decision.step]
                variant = choose_variant(step, row["lead"])
                if variant.template is not None:
                    template = self._templates.get(variant.template)
                    subject, html, text = (
                        (template.subject, template.html_body, template.text_body) if template else ("", "", "")
                    )
                else:
                    subject, html, text = variant.subject, variant.html, variant.text
                rendered = render_template(subject, html, text, {**lead_values(lead), "sender": plan.sender})
                if not rendered.ok or not (rendered.text.strip() or rendered.html.strip()):
                    result.held += 1
                    problems = [p.to_dict() for p in rendered.problems] or [{"message": "the step's template is empty or gone"}]
                    values.update(state="held", next_due_at=None,
                                  wait_reason=f"held: step {decision.step + 1} cannot be rendered for this lead")
                    events.append(_event(enrollment=row["id"], at=now, kind="held", step=decision.step,
                                         detail=json.dumps(problems)[:4000]))
                    changes.append((row["id"], values))
                    continue
                if budget is not None and row["sends"] == 0:
                    budgets[campaign.id] = budget - 1
                new = NewMessage(
                    enrollment=row["id"], step=row["sends"] + 1, recipient_email=lead["email"],
                    recipient_name=" ".join(p for p in (lead["first_name"], lead["last_name"]) if p),
                    subject=rendered.subject, text=rendered.text, html=rendered.html, pool=campaign.pool,
                    campaign=campaign.id, lead=lead["id"], timezone=lead["timezone"] or "", country=(lead["country"] or "")[:2],
                    thread=step.thread == "reply", due_at=decision.due_at, window=plan.window,
                    track_opens=campaign.track_opens, track_clicks=campaign.track_clicks,
                    step_key=step.key, variant=variant.key, template=variant.template, subject_template=subject,
                )
                sends.append((row, step, variant, new))
                if row["sends"] == 0 and lead["status"] == "new":
                    activate_leads.append(lead["id"])
            changes.append((row["id"], values))

        if sends:
            written = await self.outbox.enqueue_many([new for _, _, _, new in sends])
            for (row, step, variant, new), message in zip(sends, written, strict=True):
                plan = plans[row["campaign"]]
                position = row["next_step"]
                lead = leads[row["lead"]]
                values = {
                    "state": "active", "next_step": position + 1, "sends": row["sends"] + 1, "last_step_key": step.key,
                    "variant": variant.key, "last_message": message.id, "anchor_at": None,
                    "next_due_at": plan.following_due(position, message.due_at, lead["timezone"] or None,
                                                      lead["country"] or ""),
                    "wait_reason": plan.waiting_after(position),
                    "updated_at": now,
                }
                if row["sends"] == 0:
                    values["started_at"] = now
                changes.append((row["id"], values))
                events.append(_event(
                    enrollment=row["id"], at=now, kind="queued", step=position, outbox_message=message.id,
                    detail=f"step {position + 1} ({step.name}), variant {variant.key}, due {minute(message.due_at)} UTC"))
                result.queued += 1
                result.messages.append(message.id)
        # The pass is all-or-nothing and a lost one is done again by the next: its commit need
        # not wait for the disk (see `commit_without_waiting_for_disk` for why nothing is lost).
        await commit_without_waiting_for_disk()
        # Later entries for the same enrollment win (a send's move after its "updated_at").
        merged: dict[uuid.UUID, dict[str, Any]] = {}
        for enrollment, values in changes:
            merged.setdefault(enrollment, {}).update(values)
        # A lead with a meeting booked has it credited to its enrollment's last message: moving
        # that on takes the credit from the message sent before (analytics' counters follow).
        credited = [row["last_message"] for row, _, _, _ in sends
                    if row["last_message"] and leads[row["lead"]]["status"] == "meeting_booked"]
        async with counting(credited):
            await self.enrollments.apply(list(merged.items()))
        for event, event_id in zip(events, new_uuids(len(events)), strict=True):
            event["id"] = event_id
        await self.events.insert_values(events)
        if activate_leads:
            await LeadRepository().set_status_many(activate_leads, "active", now)
        if finished_campaigns:
            from salescopilot.campaigns.enrollments import complete_if_done

            await complete_if_done(set(finished_campaigns), now)
        return result
