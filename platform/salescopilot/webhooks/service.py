"""Webhook rules: endpoints, emitting events, delivering them with retries, the dead-letter list.

`emit_event(kind, payload)` is the one way to announce an event; call it inside the tenant scope
of the change it announces (the delivery rows commit with the change, or not at all):

    email.sent          outbox sender, once a message is accepted
    email.opened        tracking, each open (with "human" and "reason": machine opens included)
    email.clicked       tracking, each click (same)
    lead.unsubscribed   tracking, an unsubscribe link or one-click POST
    email.replied       inbound sync, a human reply          (to be called by inbound)
    email.bounced       inbound sync / sender, a bounce       (to be called by inbound)
    campaign.completed  campaigns, the last lead finished     (to be called by campaigns)

The body delivered is `{"id", "event", "timestamp", "tenant", "data": payload}`; `id` is the
event's id, the same in every retry, for the receiver to deduplicate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

import structlog

from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock, system_clock
from salescopilot.crypto import SecretBox
from salescopilot.errors import NotFound, ValidationFailed
from salescopilot.settings import Settings, get_settings
from salescopilot.tenancy.context import current_tenant, tenant_scope
from salescopilot.webhooks.delivery import Outcome, check_url, post_signed
from salescopilot.webhooks.repository import WebhookDeliveryRepository, WebhookEndpointRepository
from salescopilot.webhooks.tables import WebhookDelivery, WebhookEndpoint

log = structlog.get_logger("salescopilot.webhooks")

EVENT_KINDS = (
    "email.sent", "email.opened", "email.clicked", "email.replied", "email.bounced",
    "lead.unsubscribed", "campaign.completed",
)
ALL = "*"
#: Deliveries one pass sends at most, and how many at once.
PASS_LIMIT = 100
CONCURRENCY = 8


class WebhookEndpointNotFound(NotFound):
    code = "WEBHOOK_ENDPOINT_NOT_FOUND"
    default_message = "No such webhook endpoint."


class WebhookDeliveryNotFound(NotFound):
    code = "WEBHOOK_DELIVERY_NOT_FOUND"
    default_message = "No such webhook delivery."


class UnknownWebhookEvent(ValidationFailed):
    code = "UNKNOWN_WEBHOOK_EVENT"
    default_message = f"Unknown event. Choose among: {', '.join(EVENT_KINDS)} (or * for all)."


def _events(value: Any) -> list[str]:
    if isinstance(value, str):
        value = json.loads(value or "[]")
    return list(value or [])


def check_events(events: Iterable[str]) -> list[str]:
    chosen = sorted(set(events))
    unknown = [e for e in chosen if e != ALL and e not in EVENT_KINDS]
    if unknown or not chosen:
        raise UnknownWebhookEvent(details={"events": unknown or chosen})
    return [ALL] if ALL in chosen else chosen


def endpoint_json(row: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": str(row.id), "url": row.url, "description": row.description, "events": _events(row.events),
        "enabled": bool(row.enabled), "createdAt": row.created_at.isoformat() if row.created_at else None,
    }


def delivery_json(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": str(row.id), "endpointId": str(row.endpoint), "eventId": str(row.event_id), "event": row.kind,
        "state": row.state, "attempts": row.attempts, "lastStatus": row.last_status,
        "lastError": row.last_error or None, "durationMs": row.duration_ms,
        "nextAttemptAt": row.next_attempt_at.isoformat() if row.state == "pending" and row.next_attempt_at else None,
        "createdAt": row.created_at.isoformat() if row.created_at else None,
        "deliveredAt": row.delivered_at.isoformat() if row.delivered_at else None,
    }


async def emit_event(kind: str, payload: dict[str, Any], *, clock: Clock = system_clock) -> int:
    """Queue `kind` with `payload` for every enabled endpoint of the current tenant that
    subscribed to it; returns how many deliveries were queued. Call inside the tenant scope."""
    return await emit_events([(kind, payload)], clock=clock)


async def emit_events(events: list[tuple[str, dict[str, Any]]], *, clock: Clock = system_clock) -> int:
    """`emit_event` for a batch (one query for the endpoints)."""
    if not events:
        return 0
    for kind, _ in events:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown webhook event {kind!r}")
    endpoints = await WebhookEndpointRepository().enabled()
    if not endpoints:
        return 0
    now = clock.now()
    tenant = current_tenant()
    rows = []
    for kind, payload in events:
        event_id = uuid.uuid4()
        body = json.dumps({"id": str(event_id), "event": kind, "timestamp": now.isoformat(),
                           "tenant": tenant.slug, "data": payload}, separators=(",", ":"), default=str)
        for endpoint in endpoints:
            wanted = _events(endpoint.events)
            if ALL in wanted or kind in wanted:
                rows.append(WebhookDelivery(id=uuid.uuid4(), endpoint=endpoint.id, event_id=event_id, kind=kind,
                                            body=body, next_attempt_at=now, created_at=now))
    await WebhookDeliveryRepository().insert_many(rows)
    if rows:
        await _kick(tenant.id)
    return len(rows)


async def _kick(tenant_id: uuid.UUID) -> None:
    """Ask a worker to deliver soon (after this transaction commits; the minutely sweep delivers
    anyway if the wake-up is lost)."""
    from salescopilot.webhooks.tasks import deliver_due

    try:
        await deliver_due.kicker().with_labels(delay=1).kiq(tenant_id)
    except Exception:  # noqa: BLE001 - a lost wake-up only delays delivery until the sweep
        log.warning("webhook_wake_up_not_queued", exc_info=True)


def retry_delay(attempts: int, settings: Settings) -> dt.timedelta:
    seconds = settings.webhooks.retry_base_delay * (4 ** max(0, attempts - 1))
    return dt.timedelta(seconds=min(seconds, settings.webhooks.retry_max_delay))


class WebhookService:
    def __init__(self, clock: Clock = system_clock, box: SecretBox | None = None,
                 settings: Settings | None = None) -> None:
        self.clock = clock
        self.settings = settings or get_settings()
        self.box = box or SecretBox.from_settings(self.settings)
        self.endpoints = WebhookEndpointRepository()
        self.deliveries = WebhookDeliveryRepository()
        self.audit = AuditService(clock)

    # -- endpoints --------------------------------------------------------------------------------

    async def all(self) -> list[WebhookEndpoint]:
        return sorted(await self.endpoints.find(), key=lambda e: e.created_at)

    async def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        row = await self.endpoints.get(endpoint_id)
        if row is None:
            raise WebhookEndpointNotFound()
        return row

    async def create(self, url: str, events: list[str], description: str = "") -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its signing secret (shown only now)."""
        url = check_url(url, allow_private=self.settings.webhooks.allow_private)
        secret = "whsec_" + secrets.token_urlsafe(32)
        now = self.clock.now()
        row = WebhookEndpoint(id=uuid.uuid4(), url=url, description=description[:200], secret=self.box.encrypt(secret),
                              events=check_events(events), enabled=True, created_at=now, updated_at=now)
        await self.endpoints.add(row)
        await self.audit.record("webhook.created", target_type="webhook_endpoint", target_id=str(row.id),
                                after={"url": url, "events": _events(row.events)})
        return row, secret

    async def update(self, endpoint_id: uuid.UUID, *, url: str | None = None, events: list[str] | None = None,
                     enabled: bool | None = None, description: str | None = None) -> WebhookEndpoint:
        row = await self.get(endpoint_id)
        before = endpoint_json(row)
        if url is not None:
            row.url = check_url(url, allow_private=self.settings.webhooks.allow_private)
        if events is not None:
            row.events = check_events(events)
        if enabled is not None:
            row.enabled = enabled
        if description is not None:
            row.description = description[:200]
        row.updated_at = self.clock.now()
        await self.endpoints.save(row)
        after = endpoint_json(row)
        await self.audit.record("webhook.updated", target_type="webhook_endpoint", target_id=str(row.id),
                                before={k: before[k] for k in ("url", "events", "enabled")},
                                after={k: after[k] for k in ("url", "events", "enabled")})
        return row

    async def rotate_secret(self, endpoint_id: uuid.UUID) -> str:
        row = await self.get(endpoint_id)
        secret = "whsec_" + secrets.token_urlsafe(32)
        row.secret = self.box.encrypt(secret)
        row.updated_at = self.clock.now()
        await self.endpoints.save(row)
        await self.audit.record("webhook.secret_rotated", target_type="webhook_endpoint", target_id=str(row.id))
        return secret

    async def delete(self, endpoint_id: uuid.UUID) -> None:
        row = await self.get(endpoint_id)
        await self.deliveries.delete_where(WebhookDelivery.endpoint == row.id)
        await self.endpoints.delete_where(WebhookEndpoint.id == row.id)
        await self.audit.record("webhook.deleted", target_type="webhook_endpoint", target_id=str(row.id),
                                before={"url": row.url})

    # -- log and dead letters -----------------------------------------------------------------------

    async def log_of(self, endpoint_id: uuid.UUID, *, page: int, limit: int) -> tuple[list[WebhookDelivery], int]:
        await self.get(endpoint_id)
        return await self.deliveries.of_endpoint(endpoint_id, limit, (page - 1) * limit)

    async def dead_letters(self, *, page: int, limit: int) -> tuple[list[WebhookDelivery], int]:
        return await self.deliveries.dead(limit, (page - 1) * limit)

    async def replay(self, delivery_id: uuid.UUID) -> WebhookDelivery:
        """Send a dead (or delivered) event again, as a fresh series of tries with the same body."""
        row = await self.deliveries.get(delivery_id)
        if row is None:
            raise WebhookDeliveryNotFound()
        now = self.clock.now()
        row.state, row.attempts, row.next_attempt_at, row.last_error = "pending", 0, now, ""
        await self.deliveries.save(row)
        await self.audit.record("webhook.replayed", target_type="webhook_delivery", target_id=str(row.id))
        await _kick(row.tenant)
        return row

    # -- delivering --------------------------------------------------------------------------------

    async def deliver_due(self, *, transport: Any = None) -> int:
        """One pass: claim the due deliveries, POST them (outside any transaction), record the
        outcomes. Call in the tenant's context, outside a scope. Returns how many were tried."""
        tenant = current_tenant()
        timeout = self.settings.webhooks.timeout
        async with tenant_scope(tenant):
            now = self.clock.now()
            claimed = await self.deliveries.claim_due(now, now + dt.timedelta(seconds=timeout * 3 + 30), PASS_LIMIT)
            endpoints = {e.id: e for e in await self.endpoints.find(
                WebhookEndpoint.id.is_in(list({d.endpoint for d in claimed})))} if claimed else {}
        if not claimed:
            return 0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def attempt(row: WebhookDelivery) -> tuple[WebhookDelivery, Outcome]:
            endpoint = endpoints.get(row.endpoint)
            if endpoint is None or not endpoint.enabled:
                return row, Outcome(False, None, "the endpoint is disabled", 0)
            async with gate:
                return row, await post_signed(
                    endpoint.url, row.body.encode(), secret=self.box.decrypt(endpoint.secret), event=row.kind,
                    delivery_id=str(row.id), timeout=timeout,
                    allow_private=self.settings.webhooks.allow_private, transport=transport,
                )

        outcomes = await asyncio.gather(*(attempt(row) for row in claimed))
        async with tenant_scope(tenant):
            now = self.clock.now()
            for row, outcome in outcomes:
                attempts = row.attempts + 1
                values: dict[str, Any] = {"attempts": attempts, "last_status": outcome.status,
                                          "last_error": outcome.error, "duration_ms": outcome.duration_ms}
                if outcome.ok:
                    values.update(state="delivered", delivered_at=now)
                elif attempts >= self.settings.webhooks.max_attempts:
                    values.update(state="dead")
                    log.warning("webhook_dead_letter", delivery=str(row.id), error=outcome.error)
                else:
                    values.update(next_attempt_at=now + retry_delay(attempts, self.settings))
                await self.deliveries.update_where(values, WebhookDelivery.id == row.id)
        return len(outcomes)

    async def has_due(self) -> bool:
        return await self.deliveries.exists(WebhookDelivery.state == "pending",
                                            WebhookDelivery.next_attempt_at <= self.clock.now())
