"""JSON API of sending mailboxes and their pools (`/api/v1/mailboxes`, `/api/v1/mailbox-pools`).

Secrets never leave: a mailbox is shown through `mailbox_view`, which holds only the readable part
of the provider's account settings; a change that leaves a secret out keeps the stored one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.di import Provide
from litestar.params import Parameter

from salescopilot.mailboxes.domains import SendingDomainService
from salescopilot.mailboxes.policy import SendingPolicyService
from salescopilot.mailboxes.schemas import MailboxInput
from salescopilot.mailboxes.service import (
    STATUS_OF_ACTION,
    Health,
    MailboxService,
    PoolService,
    mailbox_view,
)
from salescopilot.outbox.service import MailboxLoad, mailbox_loads
from salescopilot.plugin_system.interfaces import ConnectionCheck
from salescopilot.web.idempotency import idempotent
from salescopilot.web.openapi import error_responses
from salescopilot.web.params import ListParams, provide_list_params

IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False, max_length=255)]
IDEMPOTENT = error_responses(409, 422)
BULK_MAX = 500
Status = Literal["active", "paused", "quarantined", "disabled"]


class MailboxBulk(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["pause", "resume", "disable"]
    ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=BULK_MAX)]


class PoolCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    mailboxes: Annotated[list[uuid.UUID], msgspec.Meta(max_length=BULK_MAX)] = []


class PoolMembers(msgspec.Struct, forbid_unknown_fields=True):
    mailboxes: Annotated[list[uuid.UUID], msgspec.Meta(max_length=BULK_MAX)]


Selector = Annotated[str, msgspec.Meta(min_length=1, max_length=63)]


class DomainCreate(msgspec.Struct, forbid_unknown_fields=True):
    domain: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    selector: Selector = "sc1"
    algorithm: Literal["rsa", "ed25519"] = "rsa"


class KeyRotation(msgspec.Struct, forbid_unknown_fields=True):
    selector: Selector
    algorithm: Literal["rsa", "ed25519"] = "rsa"


class TestMessage(msgspec.Struct, forbid_unknown_fields=True):
    to: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]


async def queue_test_message(request: Request, mailbox_id: uuid.UUID, to: str):
    """Queue a test message and wake the sender a moment after this request commits."""
    from salescopilot.outbox.service import OutboxService
    from salescopilot.outbox.tasks import wake_sender
    from salescopilot.tenancy.context import current_tenant_id

    services = request.app.state.services
    message = await OutboxService(request.app.state.settings.outbox, services.clock).send_test(mailbox_id, to)
    await wake_sender(current_tenant_id(), services.clock.now() + dt.timedelta(seconds=1))
    return message


def mailbox_service(request: Request) -> MailboxService:
    services = request.app.state.services
    return MailboxService(services.clock, services.secret_box)


def pool_service(request: Request) -> PoolService:
    return PoolService(request.app.state.services.clock)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def load_json(load: MailboxLoad | None) -> dict[str, Any] | None:
    if load is None:
        return None
    return {
        "sent24h": load.sent_24h,
        "sent1h": load.sent_1h,
        "dailyCapToday": load.daily_cap_today,
        "remaining": load.remaining,
        "nextSendAt": _iso(load.next_send_at),
    }


def health_json(health: Health, row) -> dict[str, Any]:
    view = mailbox_view(row)
    return {
        "windowDays": row.health_window_days,
        "attempts": health.attempts,
        "counts": dict(sorted(health.counts.items())),
        "rates": {"bounce": health.bounce_rate, "complaint": health.complaint_rate, "error": health.error_rate},
        "thresholds": {name: view[f"{name}_threshold"] for name in ("bounce", "complaint", "error")},
        "status": row.status,
        "statusReason": row.status_reason,
        "quarantinedAt": _iso(row.quarantined_at),
        "probeAt": _iso(row.probe_at),
        "probeSuccesses": row.probe_successes,
    }


def check_json(check: ConnectionCheck) -> dict[str, Any]:
    return {"ok": check.ok, "message": check.message, "problems": list(check.problems)}


class MailboxController(Controller):
    path = "/api/v1/mailboxes"
    tags = ["mailboxes"]
    dependencies = {"listing": Provide(provide_list_params)}

    @get("/", opt={"permission": "mailboxes.view"})
    async def list_mailboxes(
        self, request: Request, listing: ListParams,
        status: Status | None = Parameter(query="status", default=None),
        provider: Annotated[str | None, Parameter(query="provider", required=False, max_length=63)] = None,
    ) -> dict:
        """Sending mailboxes with today's use of their limits; filter by status or provider."""
        service = mailbox_service(request)
        page = await service.list(
            listing.query(sortable=MailboxService.SORTABLE, filters={"status": status, "provider": provider})
        )
        loads = await mailbox_loads(page.items, request.app.state.services.clock.now())
        return page.envelope([{**mailbox_view(row), "load": load_json(loads.get(row.id))} for row in page.items])

    @post("/", opt={"permission": "mailboxes.manage"}, status_code=201, responses=IDEMPOTENT)
    async def create_mailbox(
        self, request: Request, data: MailboxInput, idempotency_key: IdempotencyKey = None
    ) -> Response:
        """Connect a mailbox. `account` follows the provider's account model; its secrets are
        stored encrypted and never shown again."""

        async def produce() -> tuple[int, dict]:
            row = await mailbox_service(request).create(data)
            return 201, {"data": mailbox_view(row)}

        return await idempotent(request, idempotency_key, data.model_dump(mode="json"), produce)

    @post("/bulk", opt={"permission": "mailboxes.manage"}, status_code=200)
    async def bulk(self, request: Request, data: MailboxBulk) -> dict:
        """Pause, resume or disable several mailboxes, all or nothing."""
        processed = await mailbox_service(request).set_status_many(data.ids, STATUS_OF_ACTION[data.action])
        return {"data": {"action": data.action, "processed": processed}}

    @get("/{mailbox_id:uuid}", opt={"permission": "mailboxes.view"})
    async def get_mailbox(self, request: Request, mailbox_id: uuid.UUID) -> dict:
        """One mailbox, its use of its limits and its health."""
        service = mailbox_service(request)
        row = await service.get(mailbox_id)
        loads = await mailbox_loads([row], request.app.state.services.clock.now())
        return {"data": {**mailbox_view(row), "load": load_json(loads[row.id]),
                         "health": health_json(await service.health(row), row)}}

    @put("/{mailbox_id:uuid}", opt={"permission": "mailboxes.manage"})
    async def replace_mailbox(self, request: Request, mailbox_id: uuid.UUID, data: MailboxInput) -> dict:
        """Replace the mailbox's settings. Secret account fields left out keep their stored value
        (while the provider stays the same)."""
        row = await mailbox_service(request).update(mailbox_id, data)
        return {"data": mailbox_view(row)}

    @patch("/{mailbox_id:uuid}", opt={"permission": "mailboxes.manage"})
    async def change_mailbox(self, request: Request, mailbox_id: uuid.UUID, data: dict[str, Any]) -> dict:
        """Change some settings: only the fields given; `account`, `window` and `warmup` merge
        key by key (JSON merge patch), so secrets left out are kept."""
        row = await mailbox_service(request).patch(mailbox_id, data)
        return {"data": mailbox_view(row)}

    @post("/{mailbox_id:uuid}/check", opt={"permission": "mailboxes.manage"}, status_code=200)
    async def check_connection(self, request: Request, mailbox_id: uuid.UUID) -> dict:
        """Log in to the mailbox's servers without sending: the verdict and each problem found."""
        return {"data": check_json(await mailbox_service(request).check_connection(mailbox_id))}

    @post("/{mailbox_id:uuid}/test-message", opt={"permission": "mailboxes.manage"}, status_code=202)
    async def test_message(self, request: Request, mailbox_id: uuid.UUID, data: TestMessage) -> dict:
        """Queue a test message from this mailbox to `to`; it goes through the outbox (see
        `/api/v1/outbox/{id}` for its state)."""
        message = await queue_test_message(request, mailbox_id, data.to)
        return {"data": {"id": str(message.id), "message_id": message.message_id, "state": message.state}}

    @post("/{mailbox_id:uuid}/pause", opt={"permission": "mailboxes.manage"}, status_code=200)
    async def pause(self, request: Request, mailbox_id: uuid.UUID) -> dict:
        """Stop sending from the mailbox until it is resumed."""
        return {"data": mailbox_view(await mailbox_service(request).set_status(mailbox_id, "paused"))}

    @post("/{mailbox_id:uuid}/resume", opt={"permission": "mailboxes.manage"}, status_code=200)
    async def resume(self, request: Request, mailbox_id: uuid.UUID) -> dict:
        """Send from the mailbox again (also ends a quarantine)."""
        return {"data": mailbox_view(await mailbox_service(request).set_status(mailbox_id, "active"))}

    @post("/{mailbox_id:uuid}/disable", opt={"permission": "mailboxes.manage"}, status_code=200)
    async def disable(self, request: Request, mailbox_id: uuid.UUID) -> dict:
        """Take the mailbox out of sending for good (it can be resumed)."""
        return {"data": mailbox_view(await mailbox_service(request).set_status(mailbox_id, "disabled"))}

    @get("/{mailbox_id:uuid}/health", opt={"permission": "mailboxes.view"})
    async def health(self, request: Request, mailbox_id: uuid.UUID) -> dict:
        """Bounce, complaint and error rates over the health window, with the counts behind them
        and the quarantine state."""
        service = mailbox_service(request)
        row = await service.get(mailbox_id)
        return {"data": health_json(await service.health(row), row)}

    @get("/{mailbox_id:uuid}/warmup", opt={"permission": "mailboxes.view"})
    async def warmup(
        self, request: Request, mailbox_id: uuid.UUID,
        days: Annotated[int, Parameter(query="days", ge=1, le=365)] = 30,
    ) -> dict:
        """The warmup ramp: the daily cap of each day from the start (empty when warmup is off)."""
        service = mailbox_service(request)
        row = await service.get(mailbox_id)
        curve = service.warmup_curve(row, days)
        return {"data": {"enabled": bool(curve), "settings": mailbox_view(row)["warmup"],
                         "curve": [{"date": day.isoformat(), "cap": cap} for day, cap in curve]}}


def pool_json(pool, members: list[uuid.UUID]) -> dict[str, Any]:
    return {"id": str(pool.id), "name": pool.name, "mailboxes": [str(m) for m in members],
            "createdAt": _iso(pool.created_at)}


class MailboxPoolController(Controller):
    path = "/api/v1/mailbox-pools"
    tags = ["mailboxes"]

    @get("/", opt={"permission": "mailboxes.view"})
    async def list_pools(self, request: Request) -> dict:
        """Every mailbox pool with its mailboxes, by name."""
        return {"data": [pool_json(pool, members) for pool, members in await pool_service(request).all()]}

    @post("/", opt={"permission": "mailboxes.manage"}, status_code=201, responses=IDEMPOTENT)
    async def create_pool(self, request: Request, data: PoolCreate, idempotency_key: IdempotencyKey = None) -> Response:
        """Create a pool of mailboxes for campaigns to send from."""

        async def produce() -> tuple[int, dict]:
            service = pool_service(request)
            pool = await service.create(data.name, data.mailboxes)
            return 201, {"data": pool_json(pool, (await service.with_members([pool]))[0][1])}

        return await idempotent(request, idempotency_key, data, produce)

    @get("/{pool_id:uuid}", opt={"permission": "mailboxes.view"})
    async def get_pool(self, request: Request, pool_id: uuid.UUID) -> dict:
        """One pool with its mailboxes."""
        service = pool_service(request)
        pool, members = (await service.with_members([await service.get(pool_id)]))[0]
        return {"data": pool_json(pool, members)}

    @put("/{pool_id:uuid}/members", opt={"permission": "mailboxes.manage"})
    async def set_members(self, request: Request, pool_id: uuid.UUID, data: PoolMembers) -> dict:
        """Replace the pool's mailboxes."""
        service = pool_service(request)
        await service.set_members(pool_id, data.mailboxes)
        pool, members = (await service.with_members([await service.get(pool_id)]))[0]
        return {"data": pool_json(pool, members)}


def domain_service(request: Request) -> SendingDomainService:
    services = request.app.state.services
    return SendingDomainService(services.clock, services.secret_box)


def domain_json(service: SendingDomainService, row) -> dict[str, Any]:
    """A sending domain with the DKIM record to publish (never the private key)."""
    record = service.dns_record(row)
    return {
        "id": str(row.id),
        "domain": row.domain,
        "selector": row.dkim_selector,
        "dkimEnabled": row.dkim_enabled,
        "dnsRecord": {"name": record.name, "type": record.type, "value": record.value} if record else None,
        "createdAt": _iso(row.created_at),
    }


class SendingPolicyBody(msgspec.Struct, forbid_unknown_fields=True):
    #: Most messages in any 24 hours over all mailboxes; null: no quota.
    daily_quota: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] | None


class SendingPolicyController(Controller):
    path = "/api/v1/sending-policy"
    tags = ["mailboxes"]

    @get("/", opt={"permission": "mailboxes.view"})
    async def show(self, request: Request) -> dict:
        """The tenant's daily sending quota over all its mailboxes (null: none)."""
        return {"data": {"daily_quota": await SendingPolicyService(request.app.state.services.clock).daily_quota()}}

    @put("/", opt={"permission": "mailboxes.manage"})
    async def change(self, request: Request, data: SendingPolicyBody) -> dict:
        """Set or clear the daily quota; it holds from the next claim on."""
        quota = await SendingPolicyService(request.app.state.services.clock).set_daily_quota(data.daily_quota)
        return {"data": {"daily_quota": quota}}


class SendingDomainController(Controller):
    path = "/api/v1/sending-domains"
    tags = ["mailboxes"]

    @get("/", opt={"permission": "mailboxes.view"})
    async def list_domains(self, request: Request) -> dict:
        """The tenant's sending domains with their DKIM DNS records."""
        service = domain_service(request)
        return {"data": [domain_json(service, row) for row in await service.all()]}

    @post("/", opt={"permission": "mailboxes.manage"}, status_code=201, responses=IDEMPOTENT)
    async def add_domain(self, request: Request, data: DomainCreate, idempotency_key: IdempotencyKey = None) -> Response:
        """Set up a domain: a DKIM key is generated and stored encrypted; publish the returned TXT
        record, then enable signing."""

        async def produce() -> tuple[int, dict]:
            service = domain_service(request)
            return 201, {"data": domain_json(service, await service.add(data.domain, data.selector, data.algorithm))}

        return await idempotent(request, idempotency_key, data, produce)

    @get("/{domain_id:uuid}", opt={"permission": "mailboxes.view"})
    async def get_domain(self, request: Request, domain_id: uuid.UUID) -> dict:
        """One sending domain."""
        service = domain_service(request)
        return {"data": domain_json(service, await service.get(domain_id))}

    @post("/{domain_id:uuid}/enable", opt={"permission": "mailboxes.manage"}, status_code=200)
    async def enable(self, request: Request, domain_id: uuid.UUID) -> dict:
        """Sign messages from this domain with its key (publish the DNS record first)."""
        service = domain_service(request)
        return {"data": domain_json(service, await service.set_enabled(domain_id, True))}

    @post("/{domain_id:uuid}/disable", opt={"permission": "mailboxes.manage"}, status_code=200)
    async def disable(self, request: Request, domain_id: uuid.UUID) -> dict:
        """Stop signing messages from this domain."""
        service = domain_service(request)
        return {"data": domain_json(service, await service.set_enabled(domain_id, False))}

    @post("/{domain_id:uuid}/rotate", opt={"permission": "mailboxes.manage"}, status_code=200)
    async def rotate(self, request: Request, domain_id: uuid.UUID, data: KeyRotation) -> dict:
        """Replace the DKIM key under a new selector; signing is off until enabled again."""
        service = domain_service(request)
        return {"data": domain_json(service, await service.rotate_key(domain_id, data.selector, data.algorithm))}
