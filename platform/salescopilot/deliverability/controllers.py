"""JSON API of deliverability: verify addresses, check a draft for spam, domain health."""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, post

from salescopilot.deliverability.addresses import AddressVerifier
from salescopilot.deliverability.dns import DnsLookup
from salescopilot.deliverability.domain_health import check_domain
from salescopilot.deliverability.spam import check_draft


class VerifyInput(msgspec.Struct, forbid_unknown_fields=True):
    addresses: Annotated[list[Annotated[str, msgspec.Meta(max_length=320)]], msgspec.Meta(min_length=1, max_length=100)]


class DraftInput(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    subject: Annotated[str, msgspec.Meta(max_length=998)] = ""
    text: Annotated[str, msgspec.Meta(max_length=200_000)] = ""
    html: Annotated[str, msgspec.Meta(max_length=500_000)] = ""
    #: The message will carry an unsubscribe link or header anyway (every campaign send does).
    has_unsubscribe: bool = False


def dns_lookup(request: Request) -> DnsLookup:
    """One cached resolver per app (MX and TXT answers are reused for an hour)."""
    state = request.app.state
    lookup = state.get("dns_lookup")
    if lookup is None:
        lookup = state.dns_lookup = DnsLookup()
    return lookup


class DeliverabilityController(Controller):
    path = "/api/v1/deliverability"
    tags = ["deliverability"]

    @post("/verify", opt={"permission": "deliverability.use"}, status_code=200)
    async def verify(self, request: Request, data: VerifyInput) -> dict:
        """Verdicts (deliverable, risky, undeliverable) with their reasons, one per address."""
        verifier = AddressVerifier(dns_lookup(request))
        gate = asyncio.Semaphore(10)

        async def one(address: str) -> dict:
            async with gate:
                return (await verifier.verify(address)).as_json()

        return {"data": await asyncio.gather(*(one(a) for a in data.addresses))}

    @post("/spam-check", opt={"permission": "deliverability.use"}, status_code=200)
    async def spam_check(self, data: DraftInput) -> dict:
        """The content rules a draft trips, with points and what to change."""
        return {"data": check_draft(data.subject, data.text, data.html, has_unsubscribe=data.has_unsubscribe).as_json()}

    @get("/domains", opt={"permission": "deliverability.use"})
    async def domains(self, request: Request) -> dict:
        """MX, SPF, DKIM and DMARC of each sending domain, with what to fix."""
        from salescopilot.mailboxes.domains import SendingDomainService

        services = request.app.state.services
        service = SendingDomainService(services.clock, services.secret_box)
        lookup = dns_lookup(request)
        results = []
        for row in await service.all():
            record = service.dns_record(row)
            health = await check_domain(lookup, row.domain, dkim_selector=row.dkim_selector or None,
                                        dkim_record=record.value if record else None)
            results.append(health.as_json())
        return {"data": results}
