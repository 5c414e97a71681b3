"""Tracking rules: which messages are tracked, recording and scoring opens and clicks, where a
click goes, and unsubscribing.

Everything here runs inside the tenant scope of the host the request came to: a token of another
tenant's message names a row this tenant cannot see, so it is simply unknown (a neutral answer),
and nothing of the other tenant changes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import structlog

from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock, system_clock
from salescopilot.errors import Conflict, NotFound
from salescopilot.tenancy.context import current_tenant, current_tenant_id
from salescopilot.tracking import scoring
from salescopilot.tracking.repository import TrackingEventRepository, TrackingSettingsRepository
from salescopilot.tracking.tables import TrackingEvent, TrackingSettings

log = structlog.get_logger("salescopilot.tracking")

#: Destinations of clicked links, by (tenant, message): a sent message's links never change, so
#: they are read from the database once per process, not on every click.
_LINK_CACHE: OrderedDict[tuple[uuid.UUID, uuid.UUID], tuple[str, ...]] = OrderedDict()
_LINK_CACHE_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class Hit:
    """One request for a tracking URL, as the endpoint saw it (buffered, then recorded)."""

    tenant_id: uuid.UUID
    tenant_slug: str
    kind: str  # open · click
    message: uuid.UUID
    link_index: int
    occurred_at: dt.datetime
    ip: str
    user_agent: str
    method: str
    url: str = ""


@dataclass(frozen=True, slots=True)
class TrackingSwitches:
    """The tenant's switches, as the sender applies them to each message."""

    opens_enabled: bool = True
    clicks_enabled: bool = True
    tracking_domain: str = ""
    mailboxes_off: frozenset[str] = field(default_factory=frozenset)

    def opens_for(self, campaign_wants: bool, mailbox: uuid.UUID | None) -> bool:
        return bool(campaign_wants and self.opens_enabled and str(mailbox) not in self.mailboxes_off)

    def clicks_for(self, campaign_wants: bool, mailbox: uuid.UUID | None) -> bool:
        return bool(campaign_wants and self.clicks_enabled and str(mailbox) not in self.mailboxes_off)

    def link_base(self, default: str) -> str:
        """Where the message's tracking and unsubscribe links point: the tenant's own tracking
        domain when it has one."""
        return f"https://{self.tracking_domain}" if self.tracking_domain else default


def cached_destination(tenant_id: uuid.UUID, message: uuid.UUID, link_index: int) -> str | None:
    """The destination of a link read before in this process, or None."""
    links = _LINK_CACHE.get((tenant_id, message))
    if links is not None and 0 <= link_index < len(links):
        return links[link_index]
    return None


def remember_destination(tenant_id: uuid.UUID, message: uuid.UUID, links: tuple[str, ...]) -> None:
    _LINK_CACHE[(tenant_id, message)] = links
    if len(_LINK_CACHE) > _LINK_CACHE_SIZE:
        _LINK_CACHE.popitem(last=False)


class TrackedMessageNotFound(NotFound):
    code = "MESSAGE_NOT_FOUND"
    default_message = "No such message."


class TrackingDomainTaken(Conflict):
    code = "TRACKING_DOMAIN_TAKEN"
    default_message = "This hostname already serves another workspace."


def _switches(row: TrackingSettings | None) -> TrackingSwitches:
    if row is None:
        return TrackingSwitches()
    off = row.mailboxes_off
    if isinstance(off, str):
        import json

        off = json.loads(off or "[]")
    return TrackingSwitches(
        opens_enabled=bool(row.opens_enabled), clicks_enabled=bool(row.clicks_enabled),
        tracking_domain=row.tracking_domain or "", mailboxes_off=frozenset(str(m) for m in off or ()),
    )


def switches_json(switches: TrackingSwitches) -> dict[str, Any]:
    return {
        "opensEnabled": switches.opens_enabled,
        "clicksEnabled": switches.clicks_enabled,
        "trackingDomain": switches.tracking_domain or None,
        "mailboxesOff": sorted(switches.mailboxes_off),
    }


def event_json(event: TrackingEvent) -> dict[str, Any]:
    return {
        "id": str(event.id), "message": str(event.message), "kind": event.kind,
        "linkIndex": event.link_index, "url": event.url or None,
        "occurredAt": event.occurred_at.isoformat() if event.occurred_at else None,
        "human": not event.machine, "reason": event.reason,
    }


class TrackingService:
    def __init__(self, clock: Clock = system_clock, plugin_manager: Any = None) -> None:
        self.clock = clock
        self.plugin_manager = plugin_manager
        self.events = TrackingEventRepository()
        self.settings_rows = TrackingSettingsRepository()

    # -- switches --------------------------------------------------------------------------------

    async def switches(self) -> TrackingSwitches:
        return _switches(await self.settings_rows.current())

    async def update_switches(
        self, *, opens_enabled: bool | None = None, clicks_enabled: bool | None = None,
        tracking_domain: str | None = None, mailboxes_off: list[uuid.UUID] | None = None,
    ) -> TrackingSwitches:
        """Change the tenant's switches. A tracking domain is also registered as one of the
        tenant's hostnames (so requests to it resolve to this tenant); it must point (CNAME) at
        this installation."""
        from salescopilot.mailboxes.domains import normalised_domain
        from salescopilot.tenancy.repository import TenantCatalogue

        row = await self.settings_rows.current()
        created = row is None
        if row is None:
            row = TrackingSettings(id=uuid.uuid4())
        before = switches_json(_switches(None if created else row))
        if opens_enabled is not None:
            row.opens_enabled = opens_enabled
        if clicks_enabled is not None:
            row.clicks_enabled = clicks_enabled
        if mailboxes_off is not None:
            row.mailboxes_off = sorted({str(m) for m in mailboxes_off})
        if tracking_domain is not None:
            new = normalised_domain(tracking_domain) if tracking_domain.strip() else ""
            old = row.tracking_domain or ""
            if new != old:
                catalogue = TenantCatalogue()
                tenant_id = current_tenant_id()
                if new:
                    owner = await catalogue.domain_owner(new)
                    if owner is not None and owner != tenant_id:
                        raise TrackingDomainTaken(details={"trackingDomain": new})
                    if owner is None:
                        await catalogue.add_domain(tenant_id, new)
                if old:
                    await catalogue.remove_domain(tenant_id, old)
                row.tracking_domain = new
        row.updated_at = self.clock.now()
        if created:
            await self.settings_rows.add(row)
        else:
            await self.settings_rows.save(row)
        after = _switches(row)
        await AuditService(self.clock).record(
            "tracking.settings_changed", target_type="tracking_settings", target_id=str(row.id),
            before=before, after=switches_json(after),
        )
        return after

    # -- clicks -------------------------------------------------------------------------------------

    async def links_of(self, message: uuid.UUID) -> tuple[str, ...] | None:
        """The original URLs of a sent message's tracked links by link index, or None when the
        tenant has no such sent message."""
        from salescopilot.mailboxes.repository import MailboxRepository
        from salescopilot.outbox.building import tracked_link_urls
        from salescopilot.outbox.repository import OutboxRepository

        row = await OutboxRepository().get(message)
        if row is None or row.sent_at is None:
            return None
        mailbox = await MailboxRepository().get(row.mailbox) if row.mailbox else None
        return tuple(tracked_link_urls(row, mailbox))

    # -- recording --------------------------------------------------------------------------------

    async def record_hits(self, hits: list[Hit]) -> int:
        """Score and store a batch of this tenant's opens and clicks; hits naming no message of
        this tenant are dropped. Returns how many were stored."""
        from salescopilot.outbox.repository import OutboxRepository

        facts = await OutboxRepository().tracking_facts([h.message for h in hits])
        known = [h for h in hits if h.message in facts]
        if not known:
            return 0
        verdicts = [
            scoring.score(scoring.Hit(
                kind=h.kind, user_agent=h.user_agent, ip=h.ip, method=h.method,
                occurred_at=h.occurred_at, sent_at=_aware(facts[h.message]["sent_at"]),
            ))
            for h in known
        ]
        await self._mark_sweeps(known, verdicts)
        # Plain values, not row objects: building and converting a table row per event cost
        # more CPU than everything else the batch writer does (benchmarks/tracking_cpu.py).
        values = []
        for hit, verdict in zip(known, verdicts):
            fact = facts[hit.message]
            values.append({
                "id": uuid.uuid4(), "message": hit.message, "campaign": fact["campaign"], "lead": fact["lead"],
                "mailbox": fact["mailbox"], "kind": hit.kind, "link_index": hit.link_index, "url": hit.url,
                "occurred_at": hit.occurred_at, "machine": verdict.machine, "reason": verdict.reason,
                "ip": hit.ip[:45], "user_agent": hit.user_agent[:512], "method": hit.method[:8],
            })
        await self.events.insert_values(values)
        # What the engagement summary and the announcements read of each event, by attribute.
        rows = [SimpleNamespace(**row) for row in values]
        await _note_engagement(rows)
        await self._announce(rows)
        return len(rows)

    async def _mark_sweeps(self, hits: list[Hit], verdicts: list[scoring.Verdict]) -> None:
        """Clicks of one message on several links within seconds (with the clicks stored just
        before this batch) are a scanner following every link."""
        clicks = [i for i, h in enumerate(hits) if h.kind == "click"]
        if not clicks:
            return
        earliest = min(hits[i].occurred_at for i in clicks) - scoring.ALL_LINKS_WINDOW
        # Only a message with enough distinct links clicked lately can hold a sweep: its stored
        # clicks are read one by one, the others' never (a link fetched thousands of times would
        # otherwise be read back in every batch).
        links: dict[uuid.UUID, set[int]] = defaultdict(set)
        for i in clicks:
            links[hits[i].message].add(hits[i].link_index)
        for row in await self.events.recent_click_links(list(links), earliest):
            links[_as_uuid(row["message"])].add(row["link_index"])
        candidates = [message for message, indexes in links.items() if len(indexes) >= scoring.ALL_LINKS_COUNT]
        if not candidates:
            return
        chosen = set(candidates)
        clicks = [i for i in clicks if hits[i].message in chosen]
        stored = await self.events.recent_clicks(candidates, earliest)
        by_message: dict[uuid.UUID, list[tuple[dt.datetime, int, int | None]]] = defaultdict(list)
        for row in stored:
            by_message[_as_uuid(row["message"])].append((_aware(row["occurred_at"]), row["link_index"], None))
        for i in clicks:
            by_message[hits[i].message].append((hits[i].occurred_at, hits[i].link_index, i))
        for entries in by_message.values():
            swept = scoring.mark_link_sweeps([(t, index) for t, index, _ in entries])
            for position in swept:
                batch_index = entries[position][2]
                if batch_index is not None and not verdicts[batch_index].machine:
                    verdicts[batch_index] = scoring.Verdict(True, "all_links_clicked")

    async def _announce(self, rows: list[Any]) -> None:
        """`rows`: events just stored (table rows, or their values by attribute)."""
        from salescopilot.webhooks.service import emit_events

        human = [row for row in rows if not row.machine]
        if human:
            await self.record_human_engagement(human)
        await emit_events(
            [(f"email.{'opened' if row.kind == 'open' else 'clicked'}", _event_payload(row)) for row in rows],
            clock=self.clock,
        )

    async def record_human_engagement(self, events: list[TrackingEvent]) -> None:
        """Opens and clicks a person made (machine ones never reach here): the one place a human
        open or click is recognised, so campaign rules that react to engagement are called from
        here. The campaign's enrollment notes the first open and click of its messages: the
        steps' "if opened" / "if clicked" conditions read them."""
        from salescopilot.campaigns.enrollments import EnrollmentService
        from salescopilot.settings import get_settings

        log.debug("human_engagement", tenant=current_tenant().slug, count=len(events))
        noted = sorted({(row.message, "opened" if row.kind == "open" else "clicked")
                        for row in events if row.campaign is not None and row.kind in ("open", "click")})
        if noted:
            enrollments = EnrollmentService(get_settings().outbox, clock=self.clock, plugin_manager=self.plugin_manager)
            for message, kind in noted:
                await enrollments.note_engagement(message, kind)

    # -- unsubscribing ------------------------------------------------------------------------------

    async def unsubscribe(self, message: uuid.UUID, *, source: str) -> bool | None:
        """Unsubscribe the recipient of `message`: suppressed tenant-wide and the lead marked
        `unsubscribed`, at once. None when the tenant has no such message; False when it was
        already done (idempotent), True when done now."""
        from salescopilot.leads.service import LeadService
        from salescopilot.outbox.repository import OutboxRepository
        from salescopilot.suppression.service import SuppressionService

        facts = (await OutboxRepository().tracking_facts([message])).get(message)
        if facts is None:
            return None
        address = facts["recipient_email"]
        suppression = SuppressionService(self.clock)
        already = bool(await suppression.blocked([address])) and await self.events.has_unsubscribe(message)
        await suppression.add(address, reason="unsubscribe", source=f"{source}:{message}"[:200])
        lead_id = _as_uuid(facts["lead"]) if facts["lead"] else None
        if lead_id is not None:
            leads = LeadService(clock=self.clock, plugin_manager=self.plugin_manager)
            lead = await leads.leads.get(lead_id)
            if lead is not None and lead.status != "unsubscribed":
                await leads.update(lead_id, {"status": "unsubscribed"})
        if already:
            return False
        from salescopilot.actor import current_actor

        actor = current_actor()
        row = TrackingEvent(
            id=uuid.uuid4(), message=message, campaign=facts["campaign"], lead=facts["lead"],
            mailbox=facts["mailbox"], kind="unsubscribe", occurred_at=self.clock.now(),
            machine=False, reason=source[:60], ip=(actor.ip or "")[:45],
            user_agent=(actor.user_agent or "")[:512], method="POST",
        )
        await self.events.add(row)
        await _note_engagement([row])
        from salescopilot.webhooks.service import emit_events

        await emit_events([("lead.unsubscribed", {
            "emailId": str(message), "leadId": str(lead_id) if lead_id else None,
            "campaignId": str(facts["campaign"]) if facts["campaign"] else None,
            "email": address, "source": source,
        })], clock=self.clock)
        return True

    async def known_message(self, message: uuid.UUID) -> bool:
        from salescopilot.outbox.repository import OutboxRepository

        return message in await OutboxRepository().tracking_facts([message])

    async def events_of(self, message: uuid.UUID) -> list[TrackingEvent]:
        if not await self.known_message(message):
            raise TrackedMessageNotFound()
        return await self.events.of_message(message)


async def _note_engagement(rows: list[Any]) -> None:
    """Keep analytics' per-message summary up to date with the events just written."""
    from salescopilot.analytics.counters import counting
    from salescopilot.analytics.repository import MessageEngagementRepository

    async with counting([r.message for r in rows]):
        await MessageEngagementRepository().note([(r.message, r.campaign, r.kind, r.machine) for r in rows])


def _event_payload(row: Any) -> dict[str, Any]:
    return {
        "emailId": str(row.message),
        "campaignId": str(row.campaign) if row.campaign else None,
        "leadId": str(row.lead) if row.lead else None,
        "linkIndex": row.link_index if row.kind == "click" else None,
        "url": row.url or None,
        "occurredAt": row.occurred_at.isoformat(),
        "human": not row.machine,
        "reason": row.reason,
    }


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

