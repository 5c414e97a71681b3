"""The dry run: what the sender would do over the coming hours, without sending anything.

It reads the same durable state as the claim and runs the same `plan_claims` on a copy of it,
stepping simulated time from one event (a window opening, a gap ending, a cap freeing) to the
next. Retries, bounces and replies cannot be foreseen: the plan assumes every send succeeds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from salescopilot.mailboxes.limits import DAY
from salescopilot.mailboxes.repository import MailboxRepository
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.outbox.rotation import Candidate, MailboxState, plan_claims
from salescopilot.outbox.service import candidate_of, read_domain_usage, read_mailbox_states, read_quota


@dataclass(frozen=True, slots=True)
class PlannedSend:
    message: uuid.UUID
    recipient: str
    subject: str
    step: int
    at: dt.datetime
    mailbox: str
    #: Why it could not go earlier ("" when it goes at its due time).
    waited_for: str


@dataclass(frozen=True, slots=True)
class PlannedWait:
    message: uuid.UUID
    recipient: str
    reason: str
    until: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SendPlan:
    start: dt.datetime
    horizon: dt.datetime
    sends: list[PlannedSend]
    #: Messages still waiting at the horizon, with their last reason.
    waiting: list[PlannedWait]

    def to_dict(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "horizon": self.horizon.isoformat(),
            "sends": [
                {"message": str(s.message), "recipient": s.recipient, "subject": s.subject, "step": s.step,
                 "at": s.at.isoformat(), "mailbox": s.mailbox, "waited_for": s.waited_for}
                for s in self.sends
            ],
            "waiting": [
                {"message": str(w.message), "recipient": w.recipient, "reason": w.reason,
                 "until": w.until.isoformat() if w.until else None}
                for w in self.waiting
            ],
        }


def simulate(
    states: list[MailboxState],
    candidates: list[Candidate],
    labels: dict[uuid.UUID, dict],
    start: dt.datetime,
    horizon: dt.datetime,
    *,
    quota: int | None = None,
    tenant_sends: list[dt.datetime] | None = None,
    max_steps: int = 20000,
    follow_up: Callable[[Candidate, MailboxState, dt.datetime], list[tuple[Candidate, dict]]] | None = None,
) -> SendPlan:
    """Step `plan_claims` through time on `states` (mutated) until every candidate is sent or
    the horizon is reached. `follow_up` (a campaign's dry run) returns the messages a send
    leads to (the lead's next step), with their labels, which join the plan."""
    pending = {c.id: c for c in candidates}
    last_reason: dict[uuid.UUID, tuple[str, dt.datetime | None]] = {}
    sends: list[PlannedSend] = []
    # The tenant's recent sends for its quota (by default, what the mailboxes' usage holds).
    tenant_sends = sorted(tenant_sends if tenant_sends is not None else (s for st in states for s in st.usage.sends))
    now = start
    for _ in range(max_steps):
        if not pending or now > horizon:
            break
        due = [c for c in pending.values() if c.due_at <= now]
        quota_left = None
        if quota is not None:
            quota_left = quota - sum(1 for s in tenant_sends if s > now - DAY)
        plan = plan_claims(states, due, now, quota_left=quota_left)
        for candidate, mailbox in plan.assigned:
            label = labels[candidate.id]
            waited = last_reason.get(candidate.id, ("", None))[0]
            sends.append(PlannedSend(candidate.id, label["recipient_email"], label["subject"], label["step"],
                                     now, mailbox.email, waited))
            tenant_sends.append(now)
            del pending[candidate.id]
            if follow_up is not None:
                for follower, label in follow_up(candidate, mailbox, now):
                    pending[follower.id] = follower
                    labels[follower.id] = label
        wake_times = [c.due_at for c in pending.values() if c.due_at > now]
        for candidate, wait in plan.waiting:
            last_reason[candidate.id] = (wait.reason, wait.until)
            if wait.until is not None and wait.until > now:
                wake_times.append(wait.until)
        if not wake_times:
            break
        now = min(wake_times)
    waiting = [
        PlannedWait(c.id, labels[c.id]["recipient_email"], *last_reason.get(c.id, ("not due yet", c.due_at)))
        for c in pending.values()
    ]
    return SendPlan(start, horizon, sends, waiting)


async def dry_run(now: dt.datetime, hours: float = 72, limit: int = 2000) -> SendPlan:
    """The plan for the current tenant's waiting messages over the next `hours`."""
    messages = OutboxRepository()
    states = await read_mailbox_states(messages, await MailboxRepository().sendable(), now)
    waiting = await OutboxRepository().queued_candidates(limit)
    on_mailbox = await OutboxRepository().mailboxes_of_enrollments(
        sorted({r["enrollment"] for r in waiting if r["mailbox"] is None})
    )
    for row in waiting:
        row["mailbox"] = row["mailbox"] or on_mailbox.get(row["enrollment"])
    candidates = [candidate_of(r) for r in waiting]
    await read_domain_usage(messages, states, candidates, now)
    labels = {r["id"]: r for r in waiting}
    # Read only: a plan is asked for by GET requests.
    quota, used = await read_quota(now, messages)
    return simulate(states, candidates, labels, now, now + dt.timedelta(hours=hours), quota=quota,
                    tenant_sends=used)
