"""Which due message goes out now, from which mailbox, and why the others wait: a pure function.

`plan_claims` is the one place these choices are made. The claim applies it to state read from
the database under the tenant's claim lock; the dry-run planner applies it to simulated state,
step by step in time. Same inputs, same plan: candidates are taken in (due time, id) order, ties
between mailboxes are broken by id, and jitter comes from a generator seeded by the mailbox and
the send time.

Rotation rules: a lead stays on the mailbox that sent its first step (`Candidate.mailbox`); a new
lead goes to the usable mailbox of its pool with the most remaining capacity today.
"""

from __future__ import annotations

import datetime as dt
import heapq
import uuid
from dataclasses import dataclass, field

import msgspec

from salescopilot.mailboxes.limits import (
    DAY,
    MailboxLimits,
    MailboxUsage,
    SendWindow,
    Wait,
    mailbox_wait,
    recipient_wait,
    remaining_today,
)


@dataclass(slots=True)
class MailboxState:
    id: uuid.UUID
    email: str
    status: str
    limits: MailboxLimits
    usage: MailboxUsage
    pools: frozenset[uuid.UUID] = frozenset()
    #: Quarantined mailboxes send one probe when this time has come.
    probe_at: dt.datetime | None = None
    status_reason: str = ""

    def status_wait(self, now: dt.datetime) -> Wait | None:
        if self.status == "active":
            return None
        if self.status == "quarantined":
            if self.probe_at is not None and self.probe_at <= now:
                return None
            reason = f"mailbox {self.email} is quarantined"
            return Wait(reason + (f": {self.status_reason}" if self.status_reason else ""), self.probe_at)
        return Wait(f"mailbox {self.email} is {self.status}", None)

    def wait(self, now: dt.datetime) -> Wait | None:
        return self.status_wait(now) or mailbox_wait(self.limits, self.usage, now)


class Candidate(msgspec.Struct, frozen=True):
    """A due message the plan may send now. (A msgspec Struct: a claim makes a thousand, and a
    frozen dataclass's `__init__` costs about three times as much.)"""

    id: uuid.UUID
    due_at: dt.datetime
    recipient_domain: str
    mailbox: uuid.UUID | None = None
    pool: uuid.UUID | None = None
    timezone: str | None = None
    country: str | None = None
    window: SendWindow | None = None


@dataclass(slots=True)
class ClaimPlan:
    #: (message, mailbox) pairs to claim now, in order.
    assigned: list[tuple[Candidate, MailboxState]] = field(default_factory=list)
    #: Messages that must wait, each with its reason and the earliest time to look again.
    waiting: list[tuple[Candidate, Wait]] = field(default_factory=list)
    #: Mailboxes that could not send at all at this moment, and why.
    mailbox_waits: dict[uuid.UUID, Wait] = field(default_factory=dict)
    #: Set when the tenant's quota stopped the pass.
    quota_wait: Wait | None = None


def _earliest(waits: list[Wait]) -> Wait:
    timed = [w for w in waits if w.until is not None]
    if timed:
        first = min(timed, key=lambda w: w.until)  # type: ignore[arg-type, return-value]
        return first
    return waits[0]


def plan_claims(
    mailboxes: list[MailboxState],
    candidates: list[Candidate],
    now: dt.datetime,
    *,
    quota_left: int | None = None,
    quota_freed_at: dt.datetime | None = None,
    limit: int | None = None,
) -> ClaimPlan:
    """Decide, for each due candidate, to send it now from a mailbox or let it wait.

    Mutates the states' usage as it assigns (each assignment counts against the caps of the
    following ones), so a caller simulating time can call it again with a later `now`.
    """
    plan = ClaimPlan()
    by_id = {m.id: m for m in mailboxes}
    # Per pool, a heap of (-remaining today, id) over the members that can still send now.
    pools: dict[uuid.UUID, list[tuple[int, uuid.UUID]]] = {}
    blocked: set[uuid.UUID] = set()

    def mailbox_blocked(state: MailboxState) -> Wait | None:
        if state.id in blocked:
            return plan.mailbox_waits.get(state.id)
        wait = state.wait(now)
        if wait is not None:
            blocked.add(state.id)
            plan.mailbox_waits[state.id] = wait
        return wait

    def pool_heap(pool: uuid.UUID) -> list[tuple[int, uuid.UUID]]:
        if pool not in pools:
            heap = [
                (-remaining_today(m.limits, m.usage, now), m.id)
                for m in mailboxes
                if pool in m.pools and mailbox_blocked(m) is None
            ]
            heapq.heapify(heap)
            pools[pool] = heap
        return pools[pool]

    def assign(candidate: Candidate, state: MailboxState) -> None:
        plan.assigned.append((candidate, state))
        state.usage.record(now, candidate.recipient_domain)
        gap = state.limits.gap_after(now, state.id)
        if gap:
            state.usage.next_send_at = now + gap
        if state.status == "quarantined":
            state.probe_at = None  # one probe per opening
        wait = state.wait(now)
        if wait is not None:
            blocked.add(state.id)
            plan.mailbox_waits[state.id] = wait

    for candidate in sorted(candidates, key=lambda c: (c.due_at, c.id)):
        if limit is not None and len(plan.assigned) >= limit:
            break
        if quota_left is not None and quota_left <= 0:
            wait = Wait("the tenant's daily sending quota is used up", quota_freed_at or now + DAY)
            plan.quota_wait = wait
            plan.waiting.append((candidate, wait))
            continue

        def fits(state: MailboxState) -> Wait | None:
            return recipient_wait(
                state.limits,
                state.usage,
                now,
                domain=candidate.recipient_domain,
                timezone=candidate.timezone,
                country=candidate.country,
                extra_window=candidate.window,
            )

        if candidate.mailbox is not None:
            state = by_id.get(candidate.mailbox)
            if state is None:
                plan.waiting.append((candidate, Wait("its mailbox no longer exists", None)))
                continue
            wait = mailbox_blocked(state) or fits(state)
            if wait is None:
                assign(candidate, state)
                if quota_left is not None:
                    quota_left -= 1
            else:
                plan.waiting.append((candidate, wait))
            continue

        if candidate.pool is None:
            plan.waiting.append((candidate, Wait("no mailbox and no pool to send from", None)))
            continue
        heap = pool_heap(candidate.pool)
        skipped: list[tuple[int, uuid.UUID]] = []
        reasons: list[Wait] = []
        chosen: MailboxState | None = None
        while heap:
            entry = heapq.heappop(heap)
            state = by_id[entry[1]]
            wait = mailbox_blocked(state)
            if wait is not None:
                reasons.append(wait)
                continue  # cannot send at all at this moment: out of the heap for this pass
            wait = fits(state)
            if wait is not None:
                reasons.append(wait)
                skipped.append(entry)
                continue
            chosen = state
            break
        for entry in skipped:
            heapq.heappush(heap, entry)
        if chosen is None:
            members = [m for m in mailboxes if candidate.pool in m.pools]
            if not members:
                plan.waiting.append((candidate, Wait("its mailbox pool has no mailbox", None)))
                continue
            reasons += [plan.mailbox_waits[m.id] for m in members if m.id in plan.mailbox_waits]
            first = _earliest(reasons)
            plan.waiting.append(
                (candidate, Wait(f"no mailbox of the pool can send now; first to free: {first.reason}", first.until))
            )
            continue
        assign(candidate, chosen)
        if quota_left is not None:
            quota_left -= 1
        if chosen.id not in blocked:
            heapq.heappush(heap, (-remaining_today(chosen.limits, chosen.usage, now), chosen.id))
    return plan
