"""What an inbound message does, by its kind. Each effect is idempotent (asking twice changes
nothing the second time) and audited, and runs in the transaction that stores the message, so a
message is never stored without its effects or given them twice.

- reply: the lead's status becomes `replied`, its sequence stops (optionally every lead of the
  same company domain), and `on_reply_received` fires after the commit;
- auto_reply: the lead's sequence pauses until the return date (or the tenant's default) and
  resumes after it;
- bounce: hard: the address is suppressed tenant-wide, the lead is `bounced`, its sequence stops,
  and the sending mailbox's health counts a bounce; soft: nothing, until the address has bounced
  softly `soft_bounce_limit` times, which suppresses it;
- complaint: the address is suppressed, the lead `unsubscribed`, its sequence stops, and the
  sending mailbox's health counts a complaint;
- unsubscribe: the address is suppressed, the lead `unsubscribed`, its sequence stops.

Sequences are stopped and paused through `EnrollmentService` (the sequence's stop rules decide
what a reply or an out-of-office does); messages outside any campaign (one-off sends) waiting for
the lead are cancelled or held directly.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from salescopilot.audit.service import AuditService
from salescopilot.campaigns.enrollments import EnrollmentService
from salescopilot.clock import Clock
from salescopilot.crypto import SecretBox
from salescopilot.inbound.matching import Match
from salescopilot.inbound.repository import ReceivedMessageRepository
from salescopilot.inbound.tables import InboundPolicy, ReceivedMessage
from salescopilot.leads.repository import LeadRepository
from salescopilot.leads.service import LeadService
from salescopilot.mailboxes.service import MailboxService
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.settings import get_settings
from salescopilot.suppression.service import SuppressionService

#: Lead statuses a reply does not overwrite: they say more than "replied".
_KEEPS_STATUS_ON_REPLY = ("replied", "interested", "not_interested", "meeting_booked", "unsubscribed", "bounced")
#: Mailbox providers whose domain is not a company: "stop the company" never stops them all.
FREEMAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com",
    "yahoo.co.uk", "yahoo.fr", "ymail.com", "aol.com", "icloud.com", "me.com", "mac.com",
    "proton.me", "protonmail.com", "gmx.de", "gmx.net", "gmx.com", "web.de", "t-online.de",
    "orange.fr", "free.fr", "laposte.net", "libero.it", "mail.ru", "yandex.ru", "qq.com", "163.com",
    "zoho.com", "fastmail.com", "hey.com", "seznam.cz", "wp.pl", "o2.pl", "outlook.de", "hotmail.de",
})
#: The furthest ahead a stated return date may hold a lead (a misread year must not park it).
MAX_PAUSE = dt.timedelta(days=120)


class InboundEffects:
    def __init__(self, clock: Clock, policy: InboundPolicy, *, plugin_manager: Any = None,
                 box: SecretBox | None = None) -> None:
        self.clock = clock
        self.policy = policy
        self.plugin_manager = plugin_manager
        self.box = box
        self.audit = AuditService(clock)
        self.outbox = OutboxRepository()
        self.leads = LeadRepository()
        self.messages = ReceivedMessageRepository()

    async def apply(self, row: ReceivedMessage, kind: str, match: Match, verdict: dict) -> list[str]:
        """Apply the effects of `kind` to what the message matched; returns their names."""
        done: list[str] = []
        if kind == "reply":
            await self._reply(row, match, done)
        elif kind == "auto_reply":
            await self._out_of_office(row, match, verdict, done)
        elif kind == "bounce":
            await self._bounce(row, match, verdict, done)
        elif kind == "complaint":
            await self._complaint(row, match, verdict, done)
        elif kind == "unsubscribe":
            await self._unsubscribe(row, match, done)
        if done:
            await self.audit.record(
                "inbound.effects_applied", target_type="inbound_message", target_id=str(row.id),
                after={"kind": kind, "effects": done, "lead": str(match.lead) if match.lead else None,
                       "match": match.method},
            )
        return done

    # -- by kind ----------------------------------------------------------------------------------

    async def _reply(self, row: ReceivedMessage, match: Match, done: list[str]) -> None:
        if match.lead is None:
            return
        if await self._set_status(match.lead, "replied", keep=_KEEPS_STATUS_ON_REPLY):
            done.append("lead_replied")
        domain = match.address.rpartition("@")[2]
        company = bool(self.policy.stop_company_on_reply and domain and domain not in FREEMAIL_DOMAINS)
        if await self._stop(match.lead, "replied", company_domain=company):
            done.append("sequence_stopped")
        await self._announce("email.replied", row, match)
        done.append("reply_announced")

    async def _out_of_office(self, row: ReceivedMessage, match: Match, verdict: dict, done: list[str]) -> None:
        if match.lead is None:
            return
        now = self.clock.now()
        stated = (verdict.get("auto_reply") or {}).get("return_date")
        until = None
        if stated:
            back = dt.date.fromisoformat(stated)
            until = dt.datetime(back.year, back.month, back.day, 9, tzinfo=dt.UTC)
            if until <= now or until - now > MAX_PAUSE:
                until = None
        if until is None:
            until = now + dt.timedelta(days=max(0, self.policy.out_of_office_days))
        reason = f"out of office until {until.date().isoformat()}"
        held = await self.enrollments().pause_for_lead(match.lead, until=until, reason=reason)
        held += await self.outbox.postpone_waiting_of_lead(match.lead, until, reason, now)
        if held:
            done.append(f"paused_until:{until.date().isoformat()}")

    async def _bounce(self, row: ReceivedMessage, match: Match, verdict: dict, done: list[str]) -> None:
        bounce = verdict.get("bounce") or {}
        addresses = [a for a in bounce.get("recipients") or [] if a] or ([match.address] if match.address else [])
        if bounce.get("hard"):
            for address in addresses:
                await SuppressionService(self.clock).add(address, reason="hard_bounce", source="inbound")
            if addresses:
                done.append("suppressed")
            if match.lead is not None:
                if await self._set_status(match.lead, "bounced"):
                    done.append("lead_bounced")
                if await self._stop(match.lead, "bounced"):
                    done.append("sequence_stopped")
            if await self._count_health(row, match, "bounced", bounce.get("status") or "", bounce.get("reason") or ""):
                done.append("mailbox_health")
            await self._announce("email.bounced", row, match, hard=True, status=bounce.get("status") or "",
                                 reason=bounce.get("reason") or "")
            await self._guard_campaign(match)
            return
        await self._announce("email.bounced", row, match, hard=False, status=bounce.get("status") or "",
                             reason=bounce.get("reason") or "")
        for address in addresses:
            if await self.messages.soft_bounces_of(address) >= max(1, self.policy.soft_bounce_limit):
                await SuppressionService(self.clock).add(address, reason="soft_bounce", source="inbound")
                done.append("suppressed")
                if match.lead is not None and await self._stop(match.lead, "bounced"):
                    done.append("sequence_stopped")

    async def _complaint(self, row: ReceivedMessage, match: Match, verdict: dict, done: list[str]) -> None:
        complaint = verdict.get("complaint") or {}
        addresses = [a for a in complaint.get("recipients") or [] if a] or ([match.address] if match.address else [])
        for address in addresses:
            await SuppressionService(self.clock).add(address, reason="complaint", source="inbound")
        if addresses:
            done.append("suppressed")
        if match.lead is not None:
            if await self._set_status(match.lead, "unsubscribed"):
                done.append("lead_unsubscribed")
            if await self._stop(match.lead, "complained"):
                done.append("sequence_stopped")
        if await self._count_health(row, match, "complaint", "", complaint.get("feedback_type") or "abuse"):
            done.append("mailbox_health")
        if "lead_unsubscribed" in done:
            await self._announce("lead.unsubscribed", row, match, source="complaint")
        await self._guard_campaign(match)

    async def _unsubscribe(self, row: ReceivedMessage, match: Match, done: list[str]) -> None:
        addresses = list(dict.fromkeys(a for a in (match.address, row.from_address) if a))
        for address in addresses:
            await SuppressionService(self.clock).add(address, reason="unsubscribe", source="inbound")
        if addresses:
            done.append("suppressed")
        if match.lead is not None:
            if await self._set_status(match.lead, "unsubscribed"):
                done.append("lead_unsubscribed")
            if await self._stop(match.lead, "unsubscribed"):
                done.append("sequence_stopped")
        if "lead_unsubscribed" in done:
            await self._announce("lead.unsubscribed", row, match, source="reply")

    # -- shared -----------------------------------------------------------------------------------

    async def _announce(self, kind: str, row: ReceivedMessage, match: Match, **extra: Any) -> None:
        """The outbound webhook of this effect (queued with it, in the same transaction)."""
        from salescopilot.webhooks.service import emit_event

        sent = match.outbox_message
        await emit_event(kind, {
            "emailId": str(sent.id) if sent is not None else None,
            "campaignId": str(sent.campaign) if sent is not None and sent.campaign else None,
            "leadId": str(match.lead) if match.lead else None,
            "inboundMessageId": str(row.id), **extra,
        }, clock=self.clock)

    async def _guard_campaign(self, match: Match) -> None:
        """A bounce or complaint counts against the campaign too: past its threshold its
        waiting messages pause (`deliverability.guard`)."""
        from salescopilot.deliverability.guard import CampaignGuard

        sent = match.outbox_message
        if sent is not None and sent.campaign:
            await CampaignGuard(self.clock).check([sent.campaign])

    async def _set_status(self, lead: uuid.UUID, status: str, keep: tuple[str, ...] = ()) -> bool:
        found = await self.leads.get(lead)
        if found is None or found.status == status or found.status in keep:
            return False
        await LeadService(clock=self.clock, plugin_manager=self.plugin_manager).update(lead, {"status": status})
        return True

    def enrollments(self) -> EnrollmentService:
        return EnrollmentService(get_settings().outbox, clock=self.clock, plugin_manager=self.plugin_manager)

    async def _stop(self, lead: uuid.UUID, reason: str, *, company_domain: bool = False) -> int:
        """Stop the lead's sequences (`reason`: replied · bounced · complained · unsubscribed), as
        their stop rules say, and cancel its waiting messages outside any campaign; with
        `company_domain`, every lead at the same domain too. Returns what stopped."""
        stopped = await self.enrollments().stop_for_lead(lead, reason=reason, company_domain=company_domain)
        leads = [lead]
        if company_domain:
            found = await self.leads.get(lead)
            domain = found.email_normalised.rpartition("@")[2] if found is not None else ""
            leads += [other for other in await self.leads.ids_at_domain(domain) if other != lead] if domain else []
        cancelled = await self.outbox.cancel_waiting_of_leads(leads, f"the lead's sequence stopped: {reason}",
                                                              self.clock.now())
        if cancelled:
            await self.audit.record("inbound.messages_cancelled", target_type="lead", target_id=str(lead),
                                    after={"leads": len(leads), "messages_cancelled": cancelled, "reason": reason})
        return stopped + cancelled

    async def _count_health(self, row: ReceivedMessage, match: Match, outcome: str, code: str, detail: str) -> bool:
        """Count the bounce or complaint against the mailbox that sent the message (else the one
        that received the report), as a send-time failure counts: its circuit breaker judges."""
        sent = match.outbox_message
        mailbox = sent.mailbox if sent is not None and sent.mailbox else row.mailbox
        if mailbox is None:
            return False
        await MailboxService(self.clock, self.box).record_outcome(
            mailbox, sent.id if sent is not None else row.id, outcome, code=code, detail=f"inbound: {detail}"
        )
        return True
