"""Which of our messages (and so which lead and campaign) an inbound message answers.

In order, the first that finds something wins:
1. thread: In-Reply-To, then References (newest first), against our outbox Message-IDs;
2. report: a bounce's or complaint's original Message-ID, then its failed recipients;
3. sender: the From address, as a lead's address (never for a bounce or complaint, whose
   sender is a mail daemon or a feedback loop).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from salescopilot.addresses import normalise_address
from salescopilot.leads.repository import LeadRepository
from salescopilot.mail.classify import Verdict
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.outbox.tables import OutboxMessage


@dataclass(frozen=True, slots=True)
class Match:
    method: str  # thread · report · sender · "" (none)
    outbox_message: OutboxMessage | None = None
    lead: uuid.UUID | None = None
    #: The lead's (or recipient's) address the message is about.
    address: str = ""

    @property
    def campaign(self) -> uuid.UUID | None:
        return self.outbox_message.campaign if self.outbox_message is not None else None


NO_MATCH = Match(method="")


class Matcher:
    def __init__(self) -> None:
        self.outbox = OutboxRepository()
        self.leads = LeadRepository()

    async def match(self, verdict: Verdict) -> Match:
        thread = [m for m in (verdict.in_reply_to, *reversed(verdict.references)) if m]
        found = await self._by_message_ids(thread)
        if found is not None:
            return await self._from_outbox("thread", found)
        if verdict.kind in ("bounce", "complaint"):
            return await self._by_report(verdict)
        if verdict.from_address:
            return await self._by_address("sender", verdict.from_address)
        return NO_MATCH

    async def _by_report(self, verdict: Verdict) -> Match:
        if verdict.original_message_id:
            found = await self._by_message_ids([verdict.original_message_id])
            if found is not None:
                return await self._from_outbox("report", found)
        recipients = (verdict.bounce.recipients if verdict.bounce else
                      verdict.complaint.recipients if verdict.complaint else ())
        for address in recipients:
            match = await self._by_address("report", address)
            if match.method:
                return match
        return NO_MATCH

    async def _by_message_ids(self, ids: list[str]) -> OutboxMessage | None:
        if not ids:
            return None
        rows = {row.message_id: row for row in await self.outbox.by_message_ids(ids)}
        return next((rows[m] for m in ids if m in rows), None)

    async def _from_outbox(self, method: str, row: OutboxMessage) -> Match:
        lead = row.lead
        address = normalise_address(row.recipient_email)
        if lead is None:
            found = await self.leads.by_email(address)
            lead = found.id if found is not None else None
        return Match(method=method, outbox_message=row, lead=lead, address=address)

    async def _by_address(self, method: str, address: str) -> Match:
        address = normalise_address(address)
        if not address:
            return NO_MATCH
        lead = await self.leads.by_email(address)
        sent = await self.outbox.latest_to(lead=lead.id if lead else None, address=address)
        if lead is None and sent is None:
            return NO_MATCH
        return Match(method=method, outbox_message=sent, lead=lead.id if lead else sent.lead,
                     address=address)
