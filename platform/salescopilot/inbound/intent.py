"""What a reply wants (its intent: interested, meeting request, objection, ...), read by the AI
copilot (`AiService.classify_reply_intent`) and kept on the inbound message for the inbox; and a
draft answer to it (`AiService.suggest_reply`).

The text read is the message's excerpt: the sender's own text with the quoted history left out
(`mail.classify_parse.new_text`, applied when the message was stored). It is untrusted data; the
AI service fences it. The model is called outside any transaction: each database step opens its
own short scope.

Read automatically after a sync (`inbound.classify_intent`, one task per message, only when the
tenant has a model) or when a person asks. An automatic reading that fails (no model, budget
used up, the provider's circuit open, an invalid answer) leaves the intent empty and is logged;
the message itself was committed before and is never touched by it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import structlog

from salescopilot.ai.engine import AiResult
from salescopilot.ai.errors import AiCircuitOpen, AiProviderRateLimited, AiRateLimited
from salescopilot.ai.schemas import INTENTS
from salescopilot.ai.service import AiService
from salescopilot.clock import Clock
from salescopilot.errors import DomainError
from salescopilot.inbound.repository import ReceivedMessageRepository
from salescopilot.inbound.service import InboundService, effective_kind
from salescopilot.inbound.tables import ReceivedMessage
from salescopilot.tenancy.context import current_tenant, tenant_scope

log = structlog.get_logger(__name__)

#: The kinds of message that have an intent: a person's reply, and an out-of-office answer (read
#: without a model for its return date).
INTENT_KINDS = ("reply", "auto_reply")
INTENT_LABELS = {
    "interested": "Interested", "meeting_request": "Meeting request", "question": "Question",
    "objection": "Objection", "referral": "Referral", "not_interested": "Not interested",
    "out_of_office": "Out of office", "unsubscribe": "Unsubscribe",
}
assert set(INTENT_LABELS) == set(INTENTS)
#: Failures worth another try a little later (the tenant's per-minute rate, the provider's).
RETRY_LATER = (AiRateLimited, AiProviderRateLimited, AiCircuitOpen)


class NoIntentToRead(DomainError):
    code = "INBOUND_NO_INTENT"
    status_code = 409
    default_message = "Only replies and out-of-office answers with text of their own have an intent."


def can_have_intent(row: ReceivedMessage | dict) -> bool:
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    return effective_kind(row) in INTENT_KINDS and bool((get("excerpt") or "").strip())


def intent_badge(intent: str | None) -> str:
    """The badge class of an intent in the inbox."""
    if intent in ("interested", "meeting_request"):
        return "badge-success"
    if intent in ("not_interested", "unsubscribe"):
        return "badge-danger"
    return "badge-muted"


def intent_values(verdict: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The message's intent columns from `classify_reply_intent`'s answer."""
    back = verdict.get("returnDate")
    provenance = verdict.get("provenance") or {}
    draft = provenance.get("draftId")
    return {
        "intent": verdict["intent"],
        "intent_return_date": dt.date.fromisoformat(back) if back else None,
        "intent_confidence": float(verdict["confidence"]) if verdict.get("confidence") is not None else None,
        "intent_summary": (verdict.get("summary") or "")[:600] or None,
        "intent_source": verdict.get("source") or "model",
        "intent_ai_draft": uuid.UUID(draft) if draft else None,
        "intent_classified_at": now,
    }


class ReplyIntents:
    """Reads and keeps the intent of inbound messages, and drafts answers, for the current tenant."""

    def __init__(self, ai: AiService, clock: Clock) -> None:
        self.ai = ai
        self.clock = clock
        self.messages = ReceivedMessageRepository()

    async def _message(self, message: uuid.UUID) -> ReceivedMessage:
        async with tenant_scope(current_tenant(), write=False):
            return await InboundService(self.clock).get(message)

    async def classify(self, message: uuid.UUID) -> ReceivedMessage:
        """Read the message's intent and keep it (a second reading replaces the first). Raises
        `InboundMessageNotFound` (another tenant's message is unknown), `NoIntentToRead`, and the
        AI's errors (nothing is changed then)."""
        row = await self._message(message)
        if not can_have_intent(row):
            raise NoIntentToRead(details={"kind": effective_kind(row)})
        received = row.sent_at or row.received_at or self.clock.now()
        verdict = await self.ai.classify_reply_intent(row.excerpt, today=received.date())
        values = intent_values(verdict, self.clock.now())
        async with tenant_scope(current_tenant()):
            await self.messages.update_where(values, ReceivedMessage.id == row.id)
            return await InboundService(self.clock).get(row.id)

    async def classify_in_background(self, message: uuid.UUID) -> str:
        """The automatic reading after a sync: skips a message already read (a redelivered task)
        or without an intent; a failure is logged and leaves the intent empty. Returns what
        happened: the intent, "skipped", "retry" (try later) or "failed"."""
        try:
            row = await self._message(message)
        except DomainError:
            return "skipped"  # deleted meanwhile
        if row.intent or not can_have_intent(row):
            return "skipped"
        try:
            stored = await self.classify(message)
        except RETRY_LATER as error:
            log.info("inbound.intent_retry_later", message=str(message), code=error.code)
            return "retry"
        except DomainError as error:
            log.warning("inbound.intent_failed", message=str(message), code=error.code, reason=error.message)
            return "failed"
        return stored.intent or "failed"

    async def suggest_reply(self, message: uuid.UUID) -> tuple[ReceivedMessage, AiResult]:
        """A draft answer to the message, from its thread (the AI's errors raise)."""
        row = await self._message(message)
        if not can_have_intent(row):
            raise NoIntentToRead(details={"kind": effective_kind(row)})
        async with tenant_scope(current_tenant(), write=False):
            thread = await InboundService(self.clock).thread(row)
        earlier = [item for item in thread if item.get("id") != str(row.id) and
                   (item["at"] is None or row.received_at is None or item["at"] <= row.received_at)]
        result = await self.ai.suggest_reply(reply=row.excerpt, thread=earlier, lead_id=row.lead, intent=row.intent)
        return row, result
