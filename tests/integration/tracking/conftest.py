"""Fixtures of the tracking tests: a message really sent through the outbox (scripted provider),
and the tracking URLs found in the bytes that went out."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from dataclasses import dataclass

import pytest

from salescopilot.tenancy.context import tenant_scope
from tests.integration.outbox.conftest import Desk, clock, fresh_providers, script  # noqa: F401

BODY = (
    '<html><body><p>Hello,</p><p><a href="https://example.com/pricing?a=1&amp;b=2">pricing</a> '
    '<a href="https://example.org/case-study">case study</a> '
    '<a href="mailto:sales@example.com">write</a> '
    '<a href="https://example.net/demo">demo</a></p></body></html>'
)
LINKS = ["https://example.com/pricing?a=1&b=2", "https://example.org/case-study", "https://example.net/demo"]


@dataclass
class SentMessage:
    id: uuid.UUID
    lead: uuid.UUID | None
    raw: bytes
    pixel: str | None
    clicks: list[str]
    unsubscribe: str
    html: str


def tracking_paths(raw: bytes) -> tuple[str | None, list[str], str, str]:
    """(pixel path, click paths in order, unsubscribe path, html) of one sent message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    html_part = message.get_body(("html",))
    html = html_part.get_content() if html_part is not None else ""
    pixel = re.search(r'src="https?://[^/"]+(/t/o/[A-Za-z0-9_-]+)"', html)
    clicks = re.findall(r'href="https?://[^/"]+(/t/c/[A-Za-z0-9_-]+)"', html)
    unsubscribe = re.search(r"<https?://[^/>]+(/u/[A-Za-z0-9_-]+)>", str(message["List-Unsubscribe"]))
    return (pixel.group(1) if pixel else None), clicks, unsubscribe.group(1), html


async def make_lead(tenant, address: str) -> uuid.UUID:
    from salescopilot.leads.service import LeadService
    from salescopilot.clock import system_clock

    async with tenant_scope(tenant):
        lead = await LeadService(clock=system_clock).create({"email": address, "first_name": "Lee"})
        return lead.id


async def send_one(desk: Desk, script, *, address: str = "lead@customer.example.com",  # noqa: F811
                   lead: uuid.UUID | None = None,
                   track_opens: bool = True, track_clicks: bool = True, html: str = BODY,
                   mailbox: uuid.UUID | None = None) -> SentMessage:
    mailbox = mailbox or await desk.mailbox(f"rep{uuid.uuid4().hex[:6]}@seller.example.com")
    before = len(script.accepted)
    message_id = await desk.enqueue(mailbox=mailbox, recipient_email=address, html=html, lead=lead,
                                    track_opens=track_opens, track_clicks=track_clicks)
    await desk.run_pass()
    assert len(script.accepted) == before + 1, "the message was not sent"
    raw = script.accepted[-1][2]
    pixel, clicks, unsubscribe, body = tracking_paths(raw)
    return SentMessage(message_id, lead, raw, pixel, clicks, unsubscribe, body)


@pytest.fixture(autouse=True)
def _no_scheduler(no_scheduler):
    """The app's own minutely sender pass would race the desk's."""


@pytest.fixture
async def desk(settings, db, tenant_a, clock, script, fresh_providers) -> Desk:  # noqa: F811
    return Desk(tenant_a, settings, clock)


@pytest.fixture
async def desk_b(settings, db, tenant_b, clock, script, fresh_providers) -> Desk:  # noqa: F811
    return Desk(tenant_b, settings, clock)
