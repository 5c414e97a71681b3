"""The rules of inbound mail: store each message once (keyed by its Message-ID, else a hash of
its bytes), classify it, match it to what we sent, apply its effects; list the unified inbox;
let a person correct a classification; the tenant's inbound policy."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from salescopilot.ai.schemas import INTENTS
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock, system_clock
from salescopilot.crypto import SecretBox
from salescopilot.db.json_column import json_dict, json_list
from salescopilot.errors import NotFound, ValidationFailed
from salescopilot.inbound.effects import InboundEffects
from salescopilot.inbound.matching import Match, Matcher
from salescopilot.inbound.repository import (
    InboundPolicyRepository,
    MailboxSyncStateRepository,
    ReceivedMessageRepository,
)
from salescopilot.inbound.tables import InboundPolicy, ReceivedMessage
from salescopilot.listing import ListQuery, Page
from salescopilot.mail.classify import KINDS, Verdict, classify_message
from salescopilot.mail.classify_parse import Inbound, body_text, header_date, new_text, parse_message
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.plugin_system.interfaces import InboundMessage

#: Characters of the sender's own text kept as the excerpt.
EXCERPT_CHARS = 2000
#: Headers kept with each message, for people and support.
KEPT_HEADERS = ("Date", "Auto-Submitted", "Precedence", "List-Id", "List-Unsubscribe", "X-Autoreply",
                "Return-Path", "Reply-To", "Content-Type", "X-Failed-Recipients")


class InboundMessageNotFound(NotFound):
    code = "INBOUND_MESSAGE_NOT_FOUND"
    default_message = "No such inbound message."


class InvalidClassification(ValidationFailed):
    code = "INVALID_CLASSIFICATION"
    default_message = f"Choose one of: {', '.join(KINDS)}."


class InvalidIntent(ValidationFailed):
    code = "INVALID_INTENT"
    default_message = f"Choose one of: {', '.join(INTENTS)}."


@dataclass(slots=True)
class StoredBatch:
    stored: list[ReceivedMessage] = field(default_factory=list)
    #: Messages seen before (a re-read after a UIDVALIDITY change, a retried fetch): untouched.
    already_known: int = 0
    #: (lead, message, in_reply_to) of human replies: `on_reply_received` after the commit.
    replies: list[tuple[uuid.UUID | None, InboundMessage, str]] = field(default_factory=list)


def dedupe_key(raw: bytes, verdict: Verdict) -> str:
    if verdict.message_id and len(verdict.message_id) <= 500:
        return "mid:" + verdict.message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _counting(row: ReceivedMessage):
    """Analytics' counters kept right across writing an inbound message or its new kind: what
    is counted of the message it answers, and of its lead's messages (a status it sets)."""
    from salescopilot.analytics.counters import counting

    return counting([row.outbox_message] if row.outbox_message else [], leads=[row.lead] if row.lead else [])


def effective_kind(row: ReceivedMessage | dict) -> str:
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    return get("corrected_kind") or get("kind")


class InboundService:
    SORTABLE = ReceivedMessageRepository.sortable

    def __init__(self, clock: Clock = system_clock, *, plugin_manager: Any = None,
                 box: SecretBox | None = None) -> None:
        self.clock = clock
        self.plugin_manager = plugin_manager
        self.box = box
        self.messages = ReceivedMessageRepository()
        self.policies = InboundPolicyRepository()
        self.sync_states = MailboxSyncStateRepository()
        self.audit = AuditService(clock)

    # -- storing ----------------------------------------------------------------------------------

    async def store(self, mailbox: uuid.UUID, fetched: list[InboundMessage]) -> StoredBatch:
        """Store the messages not stored before, each with its verdict, match and effects, in
        the caller's transaction. A message seen before changes nothing."""
        batch = StoredBatch()
        if not fetched:
            return batch
        now = self.clock.now()
        verdicts = [
            classify_message(m.raw, reference_date=(m.received_at or now).date()) for m in fetched
        ]
        keys = [dedupe_key(m.raw, v) for m, v in zip(fetched, verdicts, strict=True)]
        known = await self.messages.known_keys(keys)
        policy = await self.policies.current()
        effects = InboundEffects(self.clock, policy, plugin_manager=self.plugin_manager, box=self.box)
        matcher = Matcher()
        for message, verdict, key in zip(fetched, verdicts, keys, strict=True):
            if key in known:
                batch.already_known += 1
                continue
            known.add(key)
            match = await matcher.match(verdict)
            row = self._row(mailbox, message, verdict, key, match, now)
            async with _counting(row):
                await self.messages.add(row)
                row.effects = await effects.apply(row, verdict.kind, match, row.verdict)
            if row.effects:
                await self.messages.update_where({"effects": row.effects}, ReceivedMessage.id == row.id)
            batch.stored.append(row)
            if verdict.kind == "reply" and match.lead is not None:
                batch.replies.append((match.lead, message, verdict.in_reply_to or ""))
        return batch

    def _row(self, mailbox: uuid.UUID, message: InboundMessage, verdict: Verdict, key: str,
             match: Match, now: dt.datetime) -> ReceivedMessage:
        parsed = Inbound(parse_message(message.raw))
        name, _ = email.utils.parseaddr(parsed.header("From"))
        details = verdict.to_dict()
        if verdict.complaint is not None:
            details["complaint"] = {"feedback_type": verdict.complaint.feedback_type,
                                    "recipients": list(verdict.complaint.recipients)}
        bounce_type = ""
        about = verdict.from_address or ""
        if verdict.bounce is not None:
            bounce_type = "hard" if verdict.bounce.hard else "soft"
            about = (verdict.bounce.recipients[:1] or (match.address,))[0]
        elif verdict.complaint is not None:
            about = (verdict.complaint.recipients[:1] or (match.address,))[0]
        return ReceivedMessage(
            id=uuid.uuid4(),
            mailbox=mailbox,
            dedupe_key=key,
            provider_message_id=message.provider_message_id[:600],
            folder=message.folder[:255],
            message_id=(verdict.message_id or "")[:500],
            in_reply_to=(verdict.in_reply_to or "")[:500],
            references=" ".join(verdict.references)[:10_000],
            from_address=(verdict.from_address or "")[:320],
            from_name=name[:200],
            to_addresses=parsed.header("To")[:2000],
            subject=parsed.header("Subject")[:1000],
            excerpt=new_text(body_text(parsed)).strip()[:EXCERPT_CHARS],
            headers={h: parsed.header(h)[:1000] for h in KEPT_HEADERS if parsed.has(h)},
            raw_size=message.size if message.size is not None else len(message.raw),
            sent_at=header_date(parsed.header("Date")),
            received_at=message.received_at or now,
            kind=verdict.kind,
            verdict=details,
            bounce_type=bounce_type,
            about_address=(about or "").lower()[:320],
            lead=match.lead,
            outbox_message=match.outbox_message.id if match.outbox_message is not None else None,
            campaign=match.campaign,
            match_method=match.method,
            effects=[],
            created_at=now,
        )

    # -- the inbox --------------------------------------------------------------------------------

    async def page(self, query: ListQuery, *, kind: str | None = None, campaign: uuid.UUID | None = None,
                   intent: str | None = None) -> Page[dict]:
        """One page of the inbox, filtered by classification, campaign and the reply's intent."""
        if kind is not None and kind not in KINDS:
            raise InvalidClassification(details={"field": "kind", "value": kind[:40]})
        if intent is not None and intent not in INTENTS:
            raise InvalidIntent(details={"field": "intent", "value": intent[:40]})
        return await self.messages.page(query, kind=kind, campaign=campaign, intent=intent)

    async def get(self, message: uuid.UUID) -> ReceivedMessage:
        row = await self.messages.get(message)
        if row is None:
            raise InboundMessageNotFound()
        return row

    async def thread(self, row: ReceivedMessage) -> list[dict[str, Any]]:
        """What we sent the lead and what came back, oldest first: the conversation."""
        items: list[dict[str, Any]] = []
        if row.lead is not None:
            for sent in await OutboxRepository().of_lead(row.lead):
                if sent.state == "sent":
                    items.append({"direction": "out", "at": sent.sent_at or sent.created_at,
                                  "subject": sent.subject, "text": sent.body_text[:EXCERPT_CHARS],
                                  "messageId": sent.message_id, "id": str(sent.id)})
            received = await self.messages.of_leads([row.lead])
        else:
            received = [row]
        for other in received:
            items.append({"direction": "in", "at": other.received_at, "subject": other.subject,
                          "text": other.excerpt, "messageId": other.message_id, "id": str(other.id),
                          "kind": effective_kind(other), "intent": other.intent})
        items.sort(key=lambda item: item["at"] or dt.datetime.min.replace(tzinfo=dt.UTC))
        return items

    async def correct(self, message: uuid.UUID, kind: str, *, by: uuid.UUID | None) -> ReceivedMessage:
        """A person's classification replaces the classifier's (both are kept). The effects of
        the new kind are applied where they were not already; those of the old one stay (an
        unsuppression or a restarted sequence is a person's own decision)."""
        row = await self.get(message)
        if kind not in KINDS:
            raise InvalidClassification(details={"field": "kind", "value": str(kind)[:40]})
        before = effective_kind(row)
        if kind == before:
            return row
        now = self.clock.now()
        row.corrected_kind = "" if kind == row.kind else kind
        row.corrected_by = by
        row.corrected_at = now
        await self.audit.record("inbound.reclassified", target_type="inbound_message", target_id=str(row.id),
                                before={"kind": before}, after={"kind": kind})
        verdict = json_dict(row.verdict)
        match = await self._match_of(row)
        policy = await self.policies.current()
        async with _counting(row):
            applied = await InboundEffects(self.clock, policy, plugin_manager=self.plugin_manager,
                                           box=self.box).apply(row, kind, match, verdict)
            effects = json_list(row.effects)
            row.effects = [*effects, *(e for e in applied if e not in effects)]
            await self.messages.save(row)
        return row

    async def _match_of(self, row: ReceivedMessage) -> Match:
        sent = await OutboxRepository().get(row.outbox_message) if row.outbox_message else None
        address = row.about_address or (sent.recipient_email.lower() if sent else row.from_address)
        return Match(method=row.match_method, outbox_message=sent, lead=row.lead, address=address)

    async def sync_status(self) -> list[dict[str, Any]]:
        """Each mailbox's sync position: last read, last error, failures, next try."""
        return [
            {"mailbox": str(row.mailbox), "lastSyncedAt": _iso(row.last_synced_at),
             "lastError": row.last_error or None, "failures": row.failures,
             "nextAttemptAt": _iso(row.next_attempt_at), "messagesStored": row.messages_stored}
            for row in sorted((await self.sync_states.all_by_mailbox()).values(), key=lambda r: str(r.mailbox))
        ]

    # -- the policy -------------------------------------------------------------------------------

    async def policy(self) -> InboundPolicy:
        return await self.policies.read()

    async def set_policy(self, *, stop_company_on_reply: bool, out_of_office_days: int,
                         soft_bounce_limit: int) -> InboundPolicy:
        if not 0 <= out_of_office_days <= 90:
            raise ValidationFailed("The out-of-office pause is 0 to 90 days.",
                                   details={"field": "outOfOfficeDays"})
        if not 1 <= soft_bounce_limit <= 50:
            raise ValidationFailed("The soft bounce limit is 1 to 50.", details={"field": "softBounceLimit"})
        row = await self.policies.current()
        before = policy_json(row)
        row.stop_company_on_reply = stop_company_on_reply
        row.out_of_office_days = out_of_office_days
        row.soft_bounce_limit = soft_bounce_limit
        await self.policies.save(row)
        await self.audit.record("inbound_policy.changed", target_type="inbound_policy", target_id=str(row.id),
                                before=before, after=policy_json(row))
        return row


def policy_json(row: InboundPolicy) -> dict[str, Any]:
    return {"stopCompanyOnReply": bool(row.stop_company_on_reply),
            "outOfOfficeDays": row.out_of_office_days, "softBounceLimit": row.soft_bounce_limit}


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else value
