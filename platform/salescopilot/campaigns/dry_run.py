"""A campaign's dry run: what would go out over the next N days, when, from which mailbox, and
why messages wait, before anything is sent (a draft before launch, or a running campaign).

It plays the sequence for each lead (from its current step) through the outbox's own planner
(`outbox.planner.simulate` over `rotation.plan_claims`), on the mailboxes' real durable usage,
with the campaign's window in each lead's timezone, its holidays and its daily new-lead limit.
What cannot be foreseen is assumed: every send succeeds, and nobody opens, clicks or replies
(so "if opened" and "if clicked" steps are shown as skipped).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from salescopilot.campaigns.pass_plan import day_start, holiday_country, window_of
from salescopilot.campaigns.repository import EnrollmentRepository
from salescopilot.campaigns.tables import Campaign, Enrollment
from salescopilot.leads.repository import LeadRepository
from salescopilot.leads.service import lead_values
from salescopilot.mailboxes.repository import MailboxRepository
from salescopilot.outbox.planner import simulate
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.outbox.rotation import Candidate, MailboxState
from salescopilot.outbox.service import read_mailbox_states
from salescopilot.sequences.repository import SequenceVersionRepository
from salescopilot.sequences.steps import Step, choose_variant, condition_holds, delay_after, steps_of
from salescopilot.templates.renderer import render_part
from salescopilot.templates.repository import EmailTemplateRepository
from salescopilot.templates.tables import EmailTemplate

#: Leads a dry run plays (the first ones by id); the plan says when it was cut.
MAX_LEADS = 2000
MAX_DAYS = 60
ASSUMPTIONS = "Every send succeeds; nobody opens, clicks or replies (those steps are shown as skipped)."


def _holds_without_engagement(step: Step) -> bool:
    return condition_holds(step.condition, opened=False, clicked=False, replied=False)


async def dry_run(campaign: Campaign, now: dt.datetime, days: int = 7) -> dict[str, Any]:
    days = max(1, min(days, MAX_DAYS))
    horizon = now + dt.timedelta(days=days)
    version = await SequenceVersionRepository().one(campaign.sequence, campaign.sequence_version)
    steps = steps_of(version.steps) if version else []
    window = window_of(campaign)
    send_window = window.to_window()
    enrollments = [
        e for e in await EnrollmentRepository().find(Enrollment.campaign == campaign.id,
                                                     Enrollment.state.is_in(["waiting", "active", "paused"]))
    ]
    enrollments.sort(key=lambda e: str(e.id))
    cut = len(enrollments) > MAX_LEADS
    enrollments = enrollments[:MAX_LEADS]
    leads = {lead.id: lead for lead in await LeadRepository().by_ids([e.lead for e in enrollments])}
    template_ids = sorted({v.template for s in steps for v in s.variants if v.template})
    templates = {t.id: t for t in await EmailTemplateRepository().find(EmailTemplate.id.is_in(template_ids))} if template_ids else {}
    states = await read_mailbox_states(OutboxRepository(), await MailboxRepository().sendable(), now)
    start = max(campaign.start_at or now, now) if campaign.status in ("draft", "scheduled") else now
    skipped: list[dict[str, Any]] = []
    labels: dict[uuid.UUID, dict] = {}
    ordinal: dict[uuid.UUID, tuple[Enrollment, int]] = {}

    def subject_for(enrollment: Enrollment, step: Step) -> str:
        variant = choose_variant(step, enrollment.lead)
        source = templates[variant.template].subject if variant.template in templates else variant.subject
        values = {**lead_values(leads[enrollment.lead]), "sender": {"firstName": (campaign.sender_name or "").split(" ")[0],
                                                                      "fullName": campaign.sender_name}}
        text, _ = render_part(source, values, "subject")
        return ("Re: …" if step.thread == "reply" and not text else text) + (f" [{variant.key}]" if len(step.variants) > 1 else "")

    def next_candidate(enrollment: Enrollment, position: int, base: dt.datetime, mailbox: uuid.UUID | None):
        """The lead's next step that is sent (skipping the ones its condition rules out)."""
        lead = leads[enrollment.lead]
        holidays = holiday_country(window, lead.country or "")
        while position < len(steps):
            step = steps[position]
            due = delay_after(base, step, timezone=lead.timezone or None, holidays=holidays)
            if due > horizon:
                return None
            if position and not _holds_without_engagement(step):
                skipped.append({"recipient": lead.email, "step": position + 1, "at": due.isoformat(),
                                "reason": f"sent only {step.condition.replace('_', ' ')}"})
                base, position = due, position + 1
                continue
            candidate = Candidate(
                id=uuid.uuid4(), due_at=max(due, now), recipient_domain=lead.email_normalised.rpartition("@")[2],
                mailbox=mailbox, pool=campaign.pool, timezone=lead.timezone or None,
                country=(lead.country or "")[:2] or None, window=send_window,
            )
            labels[candidate.id] = {"recipient_email": lead.email, "subject": subject_for(enrollment, step),
                                    "step": position + 1}
            ordinal[candidate.id] = (enrollment, position)
            return candidate
        return None

    candidates = []
    per_day = campaign.daily_new_leads
    first_day = day_start(start, window.timezone)
    new_count = 0
    for enrollment in enrollments:
        if enrollment.lead not in leads:
            continue
        if enrollment.sends == 0:
            base = max(enrollment.next_due_at or start, start)
            if per_day:
                base = max(base, first_day + dt.timedelta(days=new_count // per_day))
                new_count += 1
        else:
            base = max(enrollment.next_due_at or now, now)
        candidate = next_candidate(enrollment, enrollment.next_step, base, None)
        if candidate is not None:
            candidates.append(candidate)

    def follow_up(candidate: Candidate, mailbox: MailboxState, at: dt.datetime) -> list[tuple[Candidate, dict]]:
        enrollment, position = ordinal[candidate.id]
        following = next_candidate(enrollment, position + 1, at, mailbox.id)
        return [(following, labels[following.id])] if following else []

    plan = simulate(states, candidates, labels, now, horizon, follow_up=follow_up)
    data = plan.to_dict()
    for send in data["sends"]:
        send.pop("message", None)
    for wait in data["waiting"]:
        wait.pop("message", None)
    data.update(campaign=str(campaign.id), days=days, assumptions=ASSUMPTIONS, skipped=skipped,
                leads=len(enrollments), truncated=cut)
    return data
