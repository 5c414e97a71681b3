"""The rules of the send ledger: enqueueing, the claim, and the admin's actions.

The claim (`claim_due`) runs in one short transaction under the tenant's claim lock: it frees
expired leases, reads every mailbox's durable usage, asks `plan_claims` what may go now, and leases
those messages (`outbox_lease`; the others get why they wait). Sending is `sender.py`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field, replace

import msgspec

from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock, system_clock
from salescopilot.errors import Conflict, NotFound, ValidationFailed
from salescopilot.ids import new_uuids, random_tokens
from salescopilot.listing import ListQuery, Page
from salescopilot.mail.message import message_id_domain, new_message_id, reply_subject
from salescopilot.mailboxes.limits import DAY, MailboxLimits, MailboxUsage, remaining_today
from salescopilot.mailboxes.repository import (
    MailboxPoolMemberRepository,
    MailboxRepository,
    SendingPolicyRepository,
)
from salescopilot.mailboxes.schemas import WindowSettings, limits_of, sender_address
from salescopilot.mailboxes.service import MailboxNotFound
from salescopilot.outbox.repository import CLAIMABLE, OutboxRepository
from salescopilot.outbox.rotation import Candidate, MailboxState, plan_claims
from salescopilot.outbox.tables import OutboxMessage
from salescopilot.settings import OutboxSettings

#: The ledger's states, and the ones a person sees together on one tab of the outbox page.
STATES = ("queued", "claimed", "sending", "retry", "sent", "failed", "uncertain", "paused", "cancelled")
STATE_GROUPS: dict[str, tuple[str, ...]] = {
    "queued": ("queued", "retry", "claimed", "sending", "paused"),
    "sent": ("sent",),
    "failed": ("failed",),
    "uncertain": ("uncertain",),
    "cancelled": ("cancelled",),
}

#: When a waiting message has no time at which its reason may change ("mailbox paused"), look
#: at it again after this long instead of on every pass.
RECHECK = dt.timedelta(minutes=10)


class OutboxMessageNotFound(NotFound):
    code = "OUTBOX_MESSAGE_NOT_FOUND"
    default_message = "No such message."


class OutboxStateConflict(Conflict):
    code = "OUTBOX_STATE_CONFLICT"
    default_message = "The message is not in a state that allows this."


class NewMessage(msgspec.Struct, frozen=True):
    """A message the scheduler or the composer wants sent. (An immutable msgspec Struct rather
    than a frozen dataclass: a scheduler pass makes a thousand, and a frozen dataclass's
    `__init__` cost three times as much.)"""

    enrollment: uuid.UUID
    step: int
    recipient_email: str
    subject: str
    text: str
    html: str = ""
    recipient_name: str = ""
    #: Send from this mailbox, or pick one from `pool` (a lead stays on its first mailbox).
    mailbox: uuid.UUID | None = None
    pool: uuid.UUID | None = None
    campaign: uuid.UUID | None = None
    lead: uuid.UUID | None = None
    timezone: str = ""
    country: str = ""
    #: Reply in the thread of the enrollment's earlier messages.
    thread: bool = False
    #: An answer to a received message: its threading (`mail.message.answer_threading`), which
    #: takes the place of `thread`; the subject is used as given.
    in_reply_to: str = ""
    references: str = ""
    due_at: dt.datetime | None = None
    window: WindowSettings | None = None
    track_opens: bool = False
    track_clicks: bool = False
    #: For analytics: the sequence step's key, its variant, the template and the subject as
    #: written (before personalisation).
    step_key: str = ""
    variant: str = ""
    template: uuid.UUID | None = None
    subject_template: str = ""


def word_count(text: str, html: str) -> int:
    """Words of a message's body (its text part, else its HTML without tags)."""
    if not text.strip() and html:
        text = re.sub(r"<[^>]*>", " ", html)
    return len(text.split())


class QueuedMessage(msgspec.Struct, frozen=True):
    """A message `enqueue_many` added (or found already there for its enrollment and step)."""

    id: uuid.UUID
    enrollment: uuid.UUID
    step: int
    message_id: str
    subject: str
    state: str
    due_at: dt.datetime
    #: False when the message was there already.
    created: bool


@dataclass(frozen=True, slots=True)
class MailboxLoad:
    """A mailbox's use of its limits now: sends in the rolling day against today's cap."""

    sent_24h: int
    sent_1h: int
    #: Today's daily cap (the warmup's when lower); None: no daily cap.
    daily_cap_today: int | None
    #: More messages it may send in the rolling day (None: unlimited).
    remaining: int | None
    next_send_at: dt.datetime | None


@dataclass(slots=True)
class ClaimResult:
    claimed: list[uuid.UUID] = field(default_factory=list)


def history_depth(limits: MailboxLimits) -> int:
    """How many of a mailbox's latest sends its caps can need: as many as its largest cap
    (0 without caps: then only its pacing matters)."""
    caps = [c for c in (limits.daily_cap, limits.hourly_cap, limits.minute_cap) if c is not None]
    if limits.warmup is not None:
        caps.append(limits.warmup.target)
    return max(caps, default=0)


async def read_mailbox_states(
    messages: OutboxRepository, rows: list, now: dt.datetime
) -> list[MailboxState]:
    """The claim's (and the dry run's) view of each mailbox: its limits and its durable usage.
    Reads only the latest sends its caps can need, never the whole day's mail."""
    limits = {row.id: limits_of(row) for row in rows}
    recent = await messages.recent_reservations({m: history_depth(lim) for m, lim in limits.items()}, now - DAY)
    pools = await MailboxPoolMemberRepository().pools_by_mailbox()
    states = []
    for row in rows:
        usage = MailboxUsage(sends=sorted(t for t, _ in recent.get(row.id, ())), next_send_at=row.next_send_at)
        states.append(MailboxState(
            id=row.id, email=row.email, status=row.status, limits=limits[row.id], usage=usage,
            pools=frozenset(pools.get(row.id, ())), probe_at=row.probe_at, status_reason=row.status_reason,
        ))
    return states


async def mailbox_loads(rows: list, now: dt.datetime) -> dict[uuid.UUID, MailboxLoad]:
    """Each mailbox's use of its limits now, from the capacity its messages reserved."""
    messages = OutboxRepository()
    counts = await messages.sent_counts(now)
    usage = {s.id: s.usage for s in await read_mailbox_states(messages, rows, now)}
    loads = {}
    for row in rows:
        limits = limits_of(row)
        left = remaining_today(limits, usage[row.id], now)
        sent_1h, sent_24h = counts.get(row.id, (0, 0))
        loads[row.id] = MailboxLoad(
            sent_24h=sent_24h,
            sent_1h=sent_1h,
            daily_cap_today=limits.daily_cap_on(now.date()),
            remaining=None if left >= 10**9 else left,
            next_send_at=row.next_send_at,
        )
    return loads


async def read_domain_usage(
    messages: OutboxRepository, states: list[MailboxState], candidates: list[Candidate], now: dt.datetime
) -> None:
    """Fill in the recent sends to the candidates' recipient domains of the mailboxes that have a
    per-domain cap (and could send them)."""
    capped = {s.id: s for s in states if s.limits.domain_daily_cap is not None}
    if not capped:
        return
    pairs: dict[tuple[uuid.UUID, str], int] = {}
    for candidate in candidates:
        options = [candidate.mailbox] if candidate.mailbox else [s.id for s in capped.values() if candidate.pool in s.pools]
        for mailbox in options:
            if mailbox in capped:
                pairs[(mailbox, candidate.recipient_domain)] = capped[mailbox].limits.domain_daily_cap  # type: ignore[assignment]
    for (mailbox, domain), times in (await messages.recent_domain_reservations(pairs, now - DAY)).items():
        capped[mailbox].usage.by_domain[domain] = sorted(times)


async def read_quota(now: dt.datetime, messages: OutboxRepository) -> tuple[int | None, list[dt.datetime]]:
    """(the tenant's daily quota or None, its latest sends the quota can need, oldest first)."""
    policy = await SendingPolicyRepository().find_one()
    if policy is None or policy.daily_quota is None:
        return None, []
    return policy.daily_quota, sorted(await messages.tenant_reservations(now - DAY, max(1, policy.daily_quota)))


def candidate_of(row: dict) -> Candidate:
    window = WindowSettings.model_validate(row["window"]).to_window() if row.get("window") else None
    return Candidate(
        id=row["id"], due_at=row["due_at"], recipient_domain=row["recipient_domain"],
        mailbox=row["mailbox"], pool=row["pool"], timezone=row["recipient_timezone"] or None,
        country=row["recipient_country"] or None, window=window,
    )


class OutboxService:
    SORTABLE = OutboxRepository.sortable

    def __init__(self, settings: OutboxSettings, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self.messages = OutboxRepository()
        self.mailboxes = MailboxRepository()
        self.audit = AuditService(clock)

    # -- enqueueing -----------------------------------------------------------------------------

    async def enqueue(self, new: NewMessage) -> OutboxMessage:
        """Add a message to the ledger, or return the one already there for this enrollment and
        step: asking twice never sends twice."""
        queued = (await self.enqueue_many([new]))[0]
        return await self.get(queued.id)

    async def enqueue_many(self, batch: list[NewMessage]) -> list[QueuedMessage]:
        """Add messages to the ledger in one batch (the scheduler's), in order; for an
        (enrollment, step) already there, the existing message is returned and nothing is added.
        Every message is checked before any is written: one that is not valid refuses the batch."""
        for new in batch:
            email = new.recipient_email.strip()
            local, _, domain = email.rpartition("@")
            if not local or not domain or any(c in email for c in " \r\n<>"):
                raise ValidationFailed(f"{email!r} is not an email address", details={"recipient": email})
            if new.mailbox is None and new.pool is None:
                raise ValidationFailed("A message needs a mailbox or a mailbox pool to send from.")
        history = await self.messages.of_enrollments(sorted({new.enrollment for new in batch}))
        now = self.clock.now()
        domains: dict[tuple, str] = {}
        #: Each distinct window dumped once (a scheduler batch shares its campaign's).
        windows: dict[int, dict] = {}
        result: list[QueuedMessage] = []
        fresh: list[dict] = []
        ids, tokens = new_uuids(len(batch)), random_tokens(len(batch))
        for index, new in enumerate(batch):
            earlier = history.get(new.enrollment, [])
            there = next((m for m in earlier if m["step"] == new.step), None)
            if there is not None:
                result.append(QueuedMessage(there["id"], new.enrollment, new.step, there["message_id"],
                                            there["subject"], there["state"], there["due_at"], created=False))
                continue
            email = new.recipient_email.strip()
            domain = email.rpartition("@")[2]
            earlier = [m for m in earlier if m["step"] < new.step]
            mailbox = new.mailbox or next((m["mailbox"] for m in earlier if m["mailbox"]), None)
            subject, in_reply_to, references = new.subject, "", ""
            if new.in_reply_to:
                in_reply_to, references = new.in_reply_to, new.references
            elif new.thread and earlier:
                chain = [m["message_id"] for m in earlier]
                in_reply_to, references = chain[-1], " ".join(chain)
                subject = reply_subject(earlier[0]["subject"])
            source = (mailbox, new.pool if mailbox is None else None)
            if source not in domains:
                domains[source] = await self._message_id_domain(mailbox, new.pool, domain)
            row = {
                "id": ids[index], "enrollment": new.enrollment, "step": new.step, "campaign": new.campaign,
                "lead": new.lead, "pool": new.pool, "mailbox": mailbox,
                "message_id": new_message_id(domains[source], tokens[index]), "recipient_email": email,
                "recipient_name": new.recipient_name, "recipient_domain": domain.lower(),
                "recipient_timezone": new.timezone, "recipient_country": new.country.upper()[:2],
                "subject": subject, "body_text": new.text, "body_html": new.html, "in_reply_to": in_reply_to,
                "step_key": new.step_key[:40], "variant": new.variant[:40], "template": new.template,
                "subject_template": new.subject_template[:2000], "body_words": word_count(new.text, new.html),
                "references": references, "track_opens": new.track_opens, "track_clicks": new.track_clicks,
                "window": self._window_json(new.window, windows), "state": "queued",
                "due_at": new.due_at or now, "wait_reason": "", "attempts": 0, "lease_owner": "",
                "lease_until": None, "reserved_at": None, "sent_at": None, "provider_message_id": "",
                "provider_response": "", "failure": "", "last_error": "", "error_status": "",
                "created_at": now, "updated_at": now,
            }
            history.setdefault(new.enrollment, []).append(
                {"id": row["id"], "step": new.step, "mailbox": mailbox, "message_id": row["message_id"],
                 "subject": subject, "state": "queued", "due_at": row["due_at"]})
            history[new.enrollment].sort(key=lambda m: m["step"])
            result.append(QueuedMessage(row["id"], new.enrollment, new.step, row["message_id"], subject, "queued",
                                        row["due_at"], created=True))
            fresh.append(row)
        await self.messages.insert_values(fresh)
        return result

    @staticmethod
    def _window_json(window: WindowSettings | None, dumped: dict[int, dict]) -> dict:
        if window is None:
            return {}
        if id(window) not in dumped:
            dumped[id(window)] = window.model_dump(mode="json")
        return dumped[id(window)]

    async def cancel_for_enrollments(self, enrollments: list[uuid.UUID], reason: str) -> int:
        """Cancel the messages of these enrollments that have not gone out (a reply stopped the
        lead): claimed or sending ones finish, since they may be with the mail server already."""
        return await self.messages.set_state_where_enrollments(
            enrollments, ("queued", "retry", "paused"),
            {"state": "cancelled", "failure": "cancelled", "wait_reason": reason[:500], "updated_at": self.clock.now()},
        )

    async def postpone_for_enrollments(self, enrollments: list[uuid.UUID], until: dt.datetime, reason: str) -> int:
        """Hold the waiting messages of these enrollments until `until` (an out-of-office)."""
        return await self.messages.postpone_enrollments(enrollments, until, reason, self.clock.now())

    async def _message_id_domain(self, mailbox: uuid.UUID | None, pool: uuid.UUID | None, fallback: str) -> str:
        """The sending domain for the Message-ID: the mailbox's, or the pool's first mailbox's."""
        if mailbox is None and pool is not None:
            members = sorted(await MailboxPoolMemberRepository().members(pool))
            mailbox = members[0] if members else None
        row = await self.mailboxes.get(mailbox) if mailbox else None
        return message_id_domain(row.email if row else "x@" + fallback)

    # -- the claim ------------------------------------------------------------------------------

    async def claim_due(self, owner: str, *, limit: int | None = None) -> ClaimResult:
        """Claim the messages that may go out now (see the module docstring). Must run in a
        write transaction of its own: the claim lock is held until it commits."""
        limit = limit or self.settings.claim_batch
        await self.messages.lock_claims()
        now = self.clock.now()
        await self.messages.release_expired_claims(now)
        await self.messages.expire_sending(now, now + dt.timedelta(seconds=self.settings.reconcile_after))
        states = await read_mailbox_states(self.messages, await self.mailboxes.sendable(), now)
        stored = {state.id: state.usage.next_send_at for state in states}
        # Read only: a pass with nothing to do writes nothing (the row is made when needed).
        quota, used = await read_quota(now, self.messages)
        quota_left = quota_freed_at = None
        if quota is not None:
            quota_left = quota - len(used)
            if quota_left <= 0 and used and quota > 0:
                quota_freed_at = used[len(used) - quota] + DAY

        # How many due messages to read per mailbox that can send now: one for a paced mailbox
        # (its gap closes after one), else a fair share of the batch within its remaining room.
        open_states = [state for state in states if state.wait(now) is None]
        share = max(1, -(-limit // max(1, len(open_states))))
        allowances: dict[uuid.UUID, int] = {}
        open_pools: set[uuid.UUID] = set()
        for state in open_states:
            paced = state.limits.min_gap > 0 or state.limits.jitter > 0 or state.status == "quarantined"
            room = remaining_today(state.limits, state.usage, now)
            allowances[state.id] = 1 if paced else max(1, min(share, room))
            open_pools |= state.pools
        lease_until = now + dt.timedelta(seconds=self.settings.lease_seconds)
        sticky = await self.messages.due_for_mailboxes(allowances, now)
        fresh = await self.messages.due_without_mailbox(sorted(open_pools), now, limit)
        on_mailbox = await self.messages.mailboxes_of_enrollments(sorted({r["enrollment"] for r in fresh}))
        for row in fresh:
            row["mailbox"] = on_mailbox.get(row["enrollment"])
        # The suppression list is honoured at the hand-off (`OutboxSender`), the last moment.
        candidates = [candidate_of(r) for r in sticky + fresh]
        await read_domain_usage(self.messages, states, candidates, now)

        plan = plan_claims(states, candidates, now, quota_left=quota_left, quota_freed_at=quota_freed_at, limit=limit)
        await self.messages.claim([(c.id, m.id, c.recipient_domain) for c, m in plan.assigned], owner, lease_until, now)
        await self.messages.postpone(
            [(c.id, w.until if w.until and w.until > now else now + RECHECK, w.reason[:500]) for c, w in plan.waiting],
            now,
        )
        await self._record_pacing([(state, stored[state.id]) for state in states], now)
        return ClaimResult(claimed=[c.id for c, _ in plan.assigned])

    async def _record_pacing(
        self, states_with_stored: list[tuple[MailboxState, dt.datetime | None]], now: dt.datetime
    ) -> None:
        """Store each mailbox's next send time and why an active mailbox waits, where changed."""
        changes = []
        for state, stored_next_send_at in states_with_stored:
            wait = state.wait(now)
            if wait is not None and wait.reason.startswith("pacing"):
                wait = None  # the gap between sends is the normal rhythm, not worth a notice
            reason = state.status_reason if state.status != "active" else (wait.reason if wait else "")
            if state.usage.next_send_at != stored_next_send_at or reason != state.status_reason:
                changes.append((state.id, state.usage.next_send_at, reason))
        await self.mailboxes.set_pacing(changes)

    # -- a person's actions ---------------------------------------------------------------------

    async def get(self, message: uuid.UUID) -> OutboxMessage:
        row = await self.messages.get(message)
        if row is None:
            raise OutboxMessageNotFound()
        return row

    async def retry(self, message: uuid.UUID) -> OutboxMessage:
        """Send a dead letter (failed, not a hard bounce) or an uncertain message again. An
        uncertain one may then arrive twice: the page says so before the admin confirms."""
        row = await self.get(message)
        if row.state not in ("failed", "uncertain") or row.failure in ("bounced", "suppressed"):
            raise OutboxStateConflict(
                f"A {row.state} message{' (' + row.failure + ')' if row.failure else ''} cannot be retried.",
                details={"state": row.state, "failure": row.failure},
            )
        now = self.clock.now()
        if not await self.messages.settle(row.id, row.state, {
            "state": "retry", "due_at": now, "failure": "", "wait_reason": "retried by an admin",
            "reserved_at": None, "updated_at": now,
        }):
            raise OutboxStateConflict("The message changed meanwhile; reload and try again.")
        await self.audit.record("outbox.retried", target_type="outbox_message", target_id=str(row.id),
                                before={"state": row.state, "last_error": row.last_error})
        return await self.get(message)

    async def mark_sent(self, message: uuid.UUID) -> OutboxMessage:
        """An admin found an uncertain message in the mailbox: record it as sent, never resend."""
        row = await self.get(message)
        now = self.clock.now()
        if row.state != "uncertain" or not await self.messages.settle(row.id, "uncertain", {
            "state": "sent", "sent_at": now, "wait_reason": "", "updated_at": now,
        }):
            raise OutboxStateConflict("Only an uncertain message can be marked as sent.")
        await self.audit.record("outbox.marked_sent", target_type="outbox_message", target_id=str(row.id))
        return await self.get(message)

    async def cancel(self, message: uuid.UUID) -> OutboxMessage:
        row = await self.get(message)
        now = self.clock.now()
        if row.state not in ("queued", "retry", "paused", "uncertain") or not await self.messages.settle(
            row.id, row.state, {"state": "cancelled", "failure": "cancelled", "updated_at": now}
        ):
            raise OutboxStateConflict(f"A {row.state} message cannot be cancelled.")
        await self.audit.record("outbox.cancelled", target_type="outbox_message", target_id=str(row.id),
                                before={"state": row.state})
        return await self.get(message)

    async def send_test(self, mailbox: uuid.UUID, to: str) -> OutboxMessage:
        """A one-off test message from `mailbox` to `to`, through the ledger like any other, so
        it is sent once and within the mailbox's limits. The caller wakes the sender."""
        row = await self.mailboxes.get(mailbox)
        if row is None:
            raise MailboxNotFound()
        try:
            recipient = sender_address(to)
        except ValueError as error:
            raise ValidationFailed(f"{to!r} is not an email address: {error}", details={"to": to}) from None
        message = await self.enqueue(NewMessage(
            enrollment=uuid.uuid4(), step=0, mailbox=mailbox, recipient_email=recipient,
            subject=f"Test message from {row.from_name or row.email}",
            text=("This is a test message sent through Sales Copilot to check that this mailbox "
                  "sends. It went through the outbox like every campaign message: once, within "
                  "the mailbox's limits and sending window."),
        ))
        await self.audit.record("outbox.test_queued", target_type="outbox_message", target_id=str(message.id),
                                after={"mailbox": str(mailbox), "to": recipient})
        return message

    async def pause_campaign(self, campaign: uuid.UUID) -> int:
        """Hold every waiting message of the campaign, claimed ones too (their sender finds them
        paused and leaves them). Messages being handed off finish; nothing is resent on resume
        because nothing sent is ever queued again."""
        return await self.messages.set_state_where_campaign(
            campaign, ("queued", "retry"), {"state": "paused", "updated_at": self.clock.now()}
        )

    async def resume_campaign(self, campaign: uuid.UUID) -> int:
        return await self.messages.set_state_where_campaign(
            campaign, ("paused",), {"state": "queued", "updated_at": self.clock.now()}
        )

    # -- lists and bulk actions -----------------------------------------------------------------

    async def list_messages(self, query: ListQuery, states: tuple[str, ...] | None = None) -> Page[dict]:
        """One page of the ledger (filters: state, mailbox, campaign), optionally limited to
        `states`; the bodies are left out. A waiting message under a lease shows as `claimed`
        (and `state=claimed` lists those)."""
        leased = await self.messages.leased()
        conditions = [OutboxMessage.state.is_in(list(states))] if states else []
        if query.filters.get("state") == "claimed":
            query = replace(query, filters={k: v for k, v in query.filters.items() if k != "state"})
            conditions += [OutboxMessage.state.is_in(list(CLAIMABLE)),
                           OutboxMessage.id.is_in(list(leased)) if leased else OutboxMessage.id.is_null()]
        columns = [c for c in OutboxMessage._meta.columns if c._meta.name not in ("body_text", "body_html")]
        page = await self.messages.list_page(query, *conditions, columns=columns)
        leased_ids = {str(message) for message in leased}
        for row in page.items:
            if row["state"] in CLAIMABLE and str(row["id"]) in leased_ids:
                row["state"] = "claimed"
        return page

    async def counts(self) -> dict[str, int]:
        """Messages by state, every state named (0 when none)."""
        found = await self.messages.counts_by_state()
        return {state: int(found.get(state, 0)) for state in (*STATES, *sorted(set(found) - set(STATES)))}

    async def bulk(self, action: str, messages: list[uuid.UUID]) -> int:
        """`retry` or `cancel` every message, all or nothing: the first that cannot refuses the
        request (the caller's transaction is rolled back), naming it."""
        act = {"retry": self.retry, "cancel": self.cancel}[action]
        ids = list(dict.fromkeys(messages))
        found = {row.id for row in await self.messages.find(OutboxMessage.id.is_in(ids))} if ids else set()
        missing = [str(i) for i in ids if i not in found]
        if missing:
            raise OutboxMessageNotFound("Unknown messages.", details={"messages": missing})
        for message in ids:
            try:
                await act(message)
            except OutboxStateConflict as error:
                raise OutboxStateConflict(
                    f"Message {message}: {error.message}", details={"message": str(message), **error.details}
                ) from None
        return len(ids)
