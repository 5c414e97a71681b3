"""Sending claimed messages: claimed → sending (committed) → hand-off → sent / retry / failed /
uncertain (committed), each step a short transaction of its own, and the reconciliation of
uncertain messages through the mailbox's Sent folder before any retry.

Exactly once rests on three things: the unique (enrollment, step) row, the lease checked by every
transition (a worker whose lease was taken over changes nothing), and never retrying a message
that may have left without first searching for it by its Message-ID.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
import hashlib
import os
import random
import socket
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

import structlog

from salescopilot.analytics.counters import count_new
from salescopilot.clock import Clock, system_clock
from salescopilot.crypto import SecretBox
from salescopilot.mail.status_codes import StatusMeaning, describe_reply
from salescopilot.mail.tracking import TrackingTokens
from salescopilot.deliverability.guard import CampaignGuard
from salescopilot.tracking.service import TrackingService
from salescopilot.webhooks.service import emit_events
from salescopilot.mailboxes.providers import provider_instances
from salescopilot.mailboxes.repository import MailboxRepository, SendingDomainRepository
from salescopilot.mailboxes.service import MailboxService
from salescopilot.mailboxes.tables import Mailbox
from salescopilot.mail.dkim import dkim_signer
from salescopilot.outbox.building import BuiltMessage, SenderContext, build_outgoing
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.outbox.service import OutboxService
from salescopilot.outbox.tables import OutboxMessage
from salescopilot.plugin_system.interfaces import (
    DeliveryUncertain,
    MailProvider,
    OutgoingMessage,
    SendFailure,
    SendResult,
)
from salescopilot.settings import Settings
from salescopilot.suppression.service import SuppressionService
from salescopilot.tenancy.context import TenantRef, current_tenant, tenant_scope
from salescopilot.tenancy.repository import TenantCatalogue

log = structlog.get_logger(__name__)

#: Chunks a pass prepares (marks `sending`, builds, signs) ahead of the one being handed off.
PREPARED_AHEAD = 2

def worker_identity() -> str:
    """Names this process's claims: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Prepared:
    message: uuid.UUID
    mailbox: uuid.UUID
    outgoing: OutgoingMessage
    provider: MailProvider
    #: For `on_email_sent`, read with the row here rather than read again after the send.
    lead: uuid.UUID | None = None


def bounce_meaning(failure: SendFailure) -> StatusMeaning:
    return describe_reply(failure.smtp_code, failure.reason)


def is_hard_bounce(failure: SendFailure) -> bool:
    """A permanent refusal that says the address is dead (not a block, a full mailbox, spam)."""
    return failure.permanent and bounce_meaning(failure).hard


def retry_delay(attempts: int, base: float, maximum: float, message: uuid.UUID) -> dt.timedelta:
    """Exponential backoff with jitter, seeded by the message so a plan is reproducible."""
    ceiling = min(maximum, base * 2 ** max(0, attempts - 1))
    seed = hashlib.sha256(f"{message}:{attempts}".encode()).digest()
    return dt.timedelta(seconds=random.Random(seed).uniform(ceiling / 2, ceiling))


class OutboxSender:
    def __init__(self, settings: Settings, clock: Clock = system_clock, *, owner: str | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.owner = owner or worker_identity()
        self.box = SecretBox.from_settings(settings)
        self.tokens = TrackingTokens.from_settings(settings)
        self.signer = dkim_signer(settings.outbox.signing_processes)

    @property
    def tenant(self) -> TenantRef:
        return current_tenant()

    async def run_pass(self) -> int:
        """Claim what may go now and send it; returns how many were claimed. Runs for the tenant
        of the current `tenant_context` (not inside a transaction)."""
        await self.reconcile_uncertain()
        async with tenant_scope(self.tenant, write=False):
            if not await OutboxRepository().has_work(self.clock.now()):
                return 0
        async with tenant_scope(self.tenant):
            claimed = (await OutboxService(self.settings.outbox, self.clock).claim_due(self.owner)).claimed
        # Chunks: one transaction marks a chunk `sending`, one records its outcomes, instead of
        # two per message; small enough that every hand-off of a chunk fits in half a lease.
        size = max(1, self.settings.outbox.concurrency * 4)
        chunks = [claimed[start:start + size] for start in range(0, len(claimed), size)]
        # Pipelined: while one chunk is with the mail servers, the next ones are marked
        # `sending`, built and signed, and the previous chunk's outcomes are written, so the
        # connections do not sit idle through that work. Two chunks are prepared ahead: a
        # signature comes back from the signing pool only when this busy process lets the pool's
        # thread and then the event loop take it, often a chunk's hand-off later.
        following = iter(chunks)
        upcoming: deque[asyncio.Task] = deque()
        recording: asyncio.Task | None = None

        def prepare_ahead() -> None:
            while len(upcoming) < PREPARED_AHEAD and (chunk := next(following, None)) is not None:
                upcoming.append(asyncio.create_task(self._prepare(chunk)))

        try:
            prepare_ahead()
            while upcoming:
                prepared, states, leased_at = await upcoming.popleft()
                prepare_ahead()
                outcomes = await self._send(prepared, leased_at)
                if recording is not None:
                    await recording  # outcomes are written one chunk at a time, in order
                recording = asyncio.create_task(self._settle(outcomes, states))
        finally:
            if recording is not None:
                await recording
            while upcoming:
                await self._abandon(upcoming.popleft())
        return len(claimed)

    async def _abandon(self, upcoming: asyncio.Task) -> None:
        """A pass that failed midway gives back the chunk it had already prepared (never handed
        over: queued again at once) rather than leave it `sending` until its lease runs out. The
        preparation is let finish (it is short): cancelled after its commit, during the signing,
        it would strand the chunk in just that way."""
        try:
            prepared, _, _ = await upcoming
        except BaseException:  # noqa: BLE001 - it failed (or we are cancelled): nothing to give back
            return
        await self._record([(item, "not_started", None) for item in prepared])

    async def send_claimed(self, message: uuid.UUID) -> str:
        """Hand one claimed message to its provider and record the outcome; returns its state
        ("lost" when this worker no longer holds it)."""
        return (await self.send_chunk([message])).get(message, "lost")

    async def send_chunk(self, messages: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Hand claimed messages to their providers (`concurrency` at a time) and record the
        outcomes; returns each message's new state."""
        return await self._hand_off(*await self._prepare(messages))

    async def _hand_off(
        self, prepared: list[Prepared], states: dict[uuid.UUID, str], leased_at: float
    ) -> dict[uuid.UUID, str]:
        """Send what `_prepare` built and record the outcomes."""
        return await self._settle(await self._send(prepared, leased_at), states)

    async def _send(self, prepared: list[Prepared], leased_at: float) -> list[tuple[Prepared, str, object]]:
        """Hand what `_prepare` built to the providers, `concurrency` at a time: each message's
        (item, outcome kind, result). Hand-offs start only within half a lease of `leased_at`
        (the loop time the lease was renewed), however long the chunk waited its turn: one that
        starts later could still be running when the lease ends and another worker takes the
        message for uncertain."""
        if not prepared:
            return []
        budget = self.settings.outbox.lease_seconds / 2
        loop = asyncio.get_running_loop()
        deadline = leased_at + budget
        gate = asyncio.Semaphore(max(1, self.settings.outbox.concurrency))

        async def hand_off(item: Prepared) -> tuple[Prepared, str, object]:
            async with gate:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return item, "not_started", None
                try:
                    return item, "sent", await asyncio.wait_for(item.provider.send(item.outgoing), remaining)
                except SendFailure as failure:
                    return item, "failed", failure
                except DeliveryUncertain as error:
                    return item, "uncertain", str(error) or "the connection was lost after the hand-off"
                except asyncio.TimeoutError:
                    return item, "uncertain", f"no answer from the server within {budget:.0f} seconds"
                except Exception as error:  # noqa: BLE001 - a provider bug must not lose the outcome
                    log.exception("mail_provider_crashed", message=str(item.message))
                    return item, "uncertain", f"the mail provider failed: {error!r}"[:500]

        return await asyncio.gather(*(hand_off(item) for item in prepared))

    async def _settle(
        self, outcomes: list[tuple[Prepared, str, object]], states: dict[uuid.UUID, str]
    ) -> dict[uuid.UUID, str]:
        """Record the outcomes of a chunk's hand-offs, then announce what was sent; returns every
        message's new state (`states` holds those `_prepare` settled)."""
        if not outcomes:
            return states
        states.update(await self._record(outcomes))
        for item, _, _ in outcomes:
            if states.get(item.message) == "sent":
                await self._announce_sent(item, self.clock.now())
        return states

    async def _prepare(self, ids: list[uuid.UUID]) -> tuple[list[Prepared], dict[uuid.UUID, str], float]:
        """Mark the messages `sending` (renewing their lease) and build them in one committed
        transaction, then sign them, before any hand-off. Messages this worker no longer holds
        are left alone. Returns the messages ready to send, the states of those that could not be
        built, and the loop time just before the lease was renewed."""
        states: dict[uuid.UUID, str] = {}
        built: list[tuple[SimpleNamespace, Mailbox, MailProvider, BuiltMessage]] = []
        leased_at = asyncio.get_running_loop().time()
        async with tenant_scope(self.tenant):
            now = self.clock.now()
            messages = OutboxRepository()
            lease_until = now + dt.timedelta(seconds=self.settings.outbox.lease_seconds)
            held = await messages.start_sending_many(ids, self.owner, now, lease_until)
            for lost in set(ids) - set(held):
                log.info("outbox_claim_lost", message=str(lost))
            if not held:
                return [], states, leased_at
            rows = await messages.to_build(held)
            # The suppression list is honoured at the last moment (an unsubscribe may be seconds
            # old): a message to a suppressed address fails here, never handed to a server.
            blocked = await SuppressionService(self.clock).blocked(row.recipient_email for row in rows)
            if blocked:
                suppressed = {row.id for row in rows if row.recipient_email.lower() in blocked}
                await messages.fail_suppressed(sorted(suppressed), self.owner, now)
                states.update(dict.fromkeys(suppressed, "failed"))
                rows = [row for row in rows if row.id not in suppressed]
                if not rows:
                    return [], states, leased_at
            mailboxes = {m.id: m for m in await MailboxRepository().find(Mailbox.id.is_in(list({r.mailbox for r in rows})))}
            keys = {k.domain: k for k in await SendingDomainRepository().all()}
            tenant = await TenantCatalogue().by_id(self.tenant.id)
            switches = await TrackingService(self.clock).switches()
            link_base = switches.link_base(
                self.settings.mail.tracking_base_url or f"https://{self.tenant.slug}.{self.settings.base_domain}"
            )
            for row in rows:
                mailbox = mailboxes.get(row.mailbox)
                try:
                    if mailbox is None:
                        raise LookupError("its mailbox was removed")
                    context = SenderContext(
                        mailbox=mailbox, domain_key=keys.get(mailbox.email.rpartition("@")[2]),
                        postal_address=tenant.postal_address if tenant else "", link_base=link_base,
                        track_opens=switches.opens_for(row.track_opens, row.mailbox),
                        track_clicks=switches.clicks_for(row.track_clicks, row.mailbox),
                    )
                    message = build_outgoing(row, context, self.tokens, self.box, now)
                    provider = await provider_instances.for_mailbox(mailbox, self.box)
                except Exception as error:  # noqa: BLE001 - this message cannot be sent as it is
                    await self._fail_unbuildable(messages, row.id, error, now)
                    states[row.id] = "failed"
                    continue
                built.append((row, mailbox, provider, message))
        # Signed after the commit, so the transaction (on SQLite the database's write lock) is not
        # held through the CPU work, which runs in the signing pool beside this event loop.
        to_sign = [message for *_, message in built if message.dkim is not None]
        signatures = iter(await self.signer.sign_many(
            [(message.raw, message.dkim, tuple(message.header_names)) for message in to_sign]  # type: ignore[misc]
        ))
        signed = [next(signatures) if message.dkim is not None else message.raw for *_, message in built]
        prepared: list[Prepared] = []
        unsignable: list[tuple[uuid.UUID, BaseException]] = []
        for (row, mailbox, provider, _), raw in zip(built, signed, strict=True):
            if isinstance(raw, BaseException):
                unsignable.append((row.id, raw))
                continue
            prepared.append(Prepared(
                message=row.id, mailbox=mailbox.id, provider=provider, lead=row.lead,
                outgoing=OutgoingMessage(
                    message_id=row.message_id, envelope_from=mailbox.email,
                    recipients=(row.recipient_email,), raw=raw,
                ),
            ))
        if unsignable:
            async with tenant_scope(self.tenant):
                for message_id, error in unsignable:
                    await self._fail_unbuildable(OutboxRepository(), message_id, error, self.clock.now())
                    states[message_id] = "failed"
        return prepared, states, leased_at

    async def _fail_unbuildable(
        self, messages: OutboxRepository, message: uuid.UUID, error: BaseException, now: dt.datetime
    ) -> None:
        await messages.finish(message, self.owner, {
            "state": "failed", "failure": "rejected",
            "last_error": f"cannot build the message: {error}"[:1000], "updated_at": now})

    async def _record(self, outcomes: list[tuple[Prepared, str, object]]) -> dict[uuid.UUID, str]:
        """Write every outcome of a chunk and its send attempt in one transaction."""
        states: dict[uuid.UUID, str] = {}
        attempts: list[tuple[uuid.UUID, uuid.UUID, str, str, str]] = []
        hard_bounced: list[str] = []
        sent = [o for o in outcomes if o[1] == "sent"]
        others = [o for o in outcomes if o[1] != "sent"]
        async with tenant_scope(self.tenant):
            now = self.clock.now()
            messages = OutboxRepository()
            # The common case in one statement: accepted messages.
            recorded = await messages.finish_sent_many(
                [(item.message, (result.provider_message_id or "")[:255], result.response[:1000])  # type: ignore[union-attr]
                 for item, _, result in sent],
                self.owner, now,
            )
            for item, _, _ in sent:
                if item.message in recorded:
                    states[item.message] = "sent"
                    attempts.append((item.mailbox, item.message, "sent", "", ""))
            ids = [o[0].message for o in others]
            rows = {r.id: r for r in await messages.find(OutboxMessage.id.is_in(ids))} if ids else {}
            for item, kind, result in others:
                row = rows.get(item.message)
                if row is None:
                    continue
                values, state, attempt = self._outcome_values(row, kind, result, now)
                if await messages.finish(item.message, self.owner, values):
                    states[item.message] = state
                    if attempt is not None:
                        attempts.append((item.mailbox, item.message, *attempt))
                    if kind == "failed" and is_hard_bounce(result):  # type: ignore[arg-type]
                        hard_bounced.append(row.recipient_email)
            await MailboxService(self.clock, self.box).record_outcomes(attempts)
            # Analytics' counters, in the same transaction as the outcomes they count.
            await count_new([m for m, state in states.items() if state in ("sent", "failed")])
            # Webhooks: queued in the same transaction as the outcome (delivered after commit).
            await emit_events([("email.sent", {
                "emailId": str(item.message), "leadId": str(item.lead) if item.lead else None,
                "mailboxId": str(item.mailbox), "messageId": item.outgoing.message_id, "sentAt": now.isoformat(),
            }) for item, _, _ in sent if states.get(item.message) == "sent"], clock=self.clock)
            # A dead address is suppressed tenant-wide at once: no other campaign mails it again.
            for address in hard_bounced:
                await SuppressionService(self.clock).add(address, reason="hard_bounce", source="outbox")
            bounced_campaigns = [rows[o[0].message].campaign for o in others
                                 if o[1] == "failed" and o[0].message in rows and rows[o[0].message].campaign]
            if bounced_campaigns:
                # Past its bounce threshold a campaign's waiting messages pause at once.
                await CampaignGuard(self.clock).check(bounced_campaigns)
        return states

    def _outcome_values(
        self, row: OutboxMessage, kind: str, result: object, now: dt.datetime
    ) -> tuple[dict, str, tuple[str, str, str] | None]:
        """(the row's new values, its state, the send attempt (outcome, code, detail) or None)."""
        if kind == "sent":
            assert isinstance(result, SendResult)
            return ({"state": "sent", "sent_at": now, "provider_message_id": (result.provider_message_id or "")[:255],
                     "provider_response": result.response[:1000], "last_error": "", "wait_reason": "",
                     "updated_at": now}, "sent", ("sent", "", ""))
        if kind == "not_started":
            # Never handed over: safe to claim again at once (its capacity is given back).
            return ({"state": "queued", "reserved_at": None, "attempts": max(0, row.attempts - 1),
                     "wait_reason": "", "updated_at": now}, "queued", None)
        if kind == "uncertain":
            reason = str(result)
            return ({"state": "uncertain",
                     "due_at": now + dt.timedelta(seconds=self.settings.outbox.reconcile_after),
                     "wait_reason": reason[:500], "last_error": reason[:1000], "updated_at": now},
                    "uncertain", ("uncertain", "", reason))
        assert isinstance(result, SendFailure)
        failure = result
        code = failure.enhanced_status or str(failure.smtp_code or "")
        common = {"last_error": failure.reason[:1000], "error_status": (failure.enhanced_status or "")[:20],
                  "updated_at": now}
        outcome = "mailbox_error" if failure.mailbox_fault else "deferred"
        if failure.permanent:
            # Never retried. RFC 3463 says why ("user_unknown", "mailbox_full", "blocked", ...);
            # only a dead address is a hard bounce that suppresses it for good.
            meaning = bounce_meaning(failure)
            values = {**common, "state": "failed", "failure": "bounced",
                      "error_status": (failure.enhanced_status or meaning.code or "")[:20],
                      "last_error": f"{'hard' if meaning.hard else 'soft'} bounce ({meaning.reason}): "
                                    f"{failure.reason}"[:1000]}
            return values, "failed", ("bounced", code or meaning.code or "", f"{meaning.reason}: {failure.reason}")
        if row.attempts >= self.settings.outbox.max_attempts:
            return {"state": "failed", "failure": "max_attempts", **common}, "failed", (outcome, code, failure.reason)
        delay = retry_delay(row.attempts, self.settings.outbox.retry_base_delay,
                            self.settings.outbox.retry_max_delay, row.id)
        return ({"state": "retry", "due_at": now + delay,
                 "wait_reason": f"retry {row.attempts + 1} after: {failure.reason}"[:500], **common},
                "retry", (outcome, code, failure.reason))

    async def reconcile_uncertain(self, limit: int = 20) -> int:
        """Settle uncertain messages whose grace time passed: found in the Sent folder → sent;
        searched and not found → retry (same Message-ID); search impossible → stays uncertain
        for an admin (who can retry or mark it sent)."""
        async with tenant_scope(self.tenant, write=False):
            now = self.clock.now()
            rows = [r for r in await OutboxRepository().in_state("uncertain", limit) if r.due_at <= now and r.mailbox]
            mailboxes = {m.id: m for m in await MailboxRepository().all()}
            providers = {}
            for row in rows:
                if row.mailbox in mailboxes and row.mailbox not in providers:
                    providers[row.mailbox] = await provider_instances.for_mailbox(mailboxes[row.mailbox], self.box)
        settled = 0
        for row in rows:
            provider = providers.get(row.mailbox)
            if provider is None:
                continue
            try:
                found = await asyncio.wait_for(provider.find_sent_by_message_id(row.message_id), 60)
                problem = None
            except Exception as error:  # noqa: BLE001 - any failure to search leaves it uncertain
                found, problem = None, str(error) or type(error).__name__
            async with tenant_scope(self.tenant):
                now = self.clock.now()
                messages = OutboxRepository()
                log.info("outbox_reconciled", message=str(row.id), message_id=row.message_id,
                         found=found is not None, problem=problem)
                if problem is not None:
                    await messages.settle(row.id, "uncertain", {
                        "due_at": now + dt.timedelta(minutes=30),
                        "wait_reason": f"cannot search the Sent folder ({problem[:300]}); "
                                       "an admin can retry it or mark it sent", "updated_at": now})
                    continue
                if found is not None:
                    done = await messages.settle(row.id, "uncertain", {
                        "state": "sent", "sent_at": found.sent_at or now,
                        "provider_message_id": (found.provider_message_id or "")[:255],
                        "wait_reason": "", "updated_at": now})
                    if done:
                        await MailboxService(self.clock, self.box).record_outcome(row.mailbox, row.id, "sent",
                                                                                  detail="found in the Sent folder")
                else:
                    done = await messages.settle(row.id, "uncertain", {
                        "state": "retry", "due_at": now, "reserved_at": None,
                        "wait_reason": "not found in the Sent folder: sending again", "updated_at": now})
                settled += int(done)
        return settled

    async def _announce_sent(self, prepared: Prepared, sent_at: dt.datetime) -> None:
        """`on_email_sent` for the tenant's enabled plugins, after the commit (a plugin's failure
        is logged by `fire_event` and never undoes the send)."""
        from salescopilot.plugin_system.manager import fire_event, get_plugin_manager

        try:
            await fire_event(
                get_plugin_manager(), "on_email_sent", tenant=self.tenant, outbox_message_id=prepared.message,
                lead_id=prepared.lead, mailbox_id=prepared.mailbox,
                message_id=prepared.outgoing.message_id, sent_at=sent_at,
            )
        except Exception:  # noqa: BLE001 - events are best effort after the fact
            log.exception("on_email_sent_failed", message=str(prepared.message))
