"""The spam score of content being written (composer and template editor): rendered for a lead,
built as the outbox would send it from the chosen mailbox (its signature, the tenant's postal
footer, List-Unsubscribe, tracking when on, DKIM when the domain has a key), then scored by
`mail.spam_score.spam_check`. Nothing is stored or sent."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from salescopilot.clock import Clock
from salescopilot.composer.service import sender_of
from salescopilot.crypto import SecretBox
from salescopilot.errors import ValidationFailed
from salescopilot.leads.service import LeadService, lead_values
from salescopilot.mail.dkim import sign_message
from salescopilot.mail.message import Address, message_id_domain, new_message_id
from salescopilot.mail.sanitize import clean_email_html, text_from_html
from salescopilot.mail.spam_score import SpamVerdict, spam_check
from salescopilot.mail.tracking import TrackingTokens
from salescopilot.mailboxes.repository import MailboxRepository, SendingDomainRepository
from salescopilot.mailboxes.service import MailboxNotFound
from salescopilot.mailboxes.tables import Mailbox
from salescopilot.outbox.building import SenderContext, build_outgoing
from salescopilot.outbox.tables import OutboxMessage
from salescopilot.settings import Settings
from salescopilot.templates.renderer import render_template
from salescopilot.tenancy.context import current_tenant
from salescopilot.tenancy.repository import TenantCatalogue

#: Who the message is addressed to when no lead is chosen.
SAMPLE_RECIPIENT = Address("alex.morgan@example.com", "Alex Morgan")


async def content_spam_verdict(
    *, subject: str, html: str, text: str, lead_id: uuid.UUID | None, mailbox_id: uuid.UUID | None,
    sender: Mapping[str, Any], track: bool, settings: Settings, clock: Clock, box: SecretBox,
) -> SpamVerdict:
    """SpamAssassin's verdict on this content as `lead_id` would receive it from `mailbox_id`
    (the first mailbox of the tenant, or a stand-in with the writer's address, when none)."""
    mailboxes = MailboxRepository()
    mailbox: Mailbox | None
    if mailbox_id is not None:
        mailbox = await mailboxes.get(mailbox_id)
        if mailbox is None:
            raise MailboxNotFound()
    else:
        mailbox = next(iter(await mailboxes.find(Mailbox.status == "active")), None)
    stand_in = mailbox is None
    if mailbox is None:
        mailbox = Mailbox(email=str(sender.get("email") or "sender@example.com"),
                          from_name=str(sender.get("fullName") or ""), provider="smtp")
    values: dict[str, Any] = {}
    recipient = SAMPLE_RECIPIENT
    if lead_id is not None:
        lead = await LeadService(clock=clock).get(lead_id)
        values = lead_values(lead)
        recipient = Address(lead.email, values.get("fullName", ""))
    values["sender"] = sender_of(None if stand_in else mailbox, sender)
    html = clean_email_html(html)
    rendered = render_template(subject, html, text or (text_from_html(html) if html else ""), values)
    if not rendered.text.strip():
        raise ValidationFailed("Write the email before checking its spam score.", details={"field": "text"})
    domain = mailbox.email.rpartition("@")[2].lower()
    key = next((k for k in await SendingDomainRepository().all() if k.domain == domain), None)
    tenant = await TenantCatalogue().by_id(current_tenant().id)
    link_base = settings.mail.tracking_base_url or f"https://{current_tenant().slug}.{settings.base_domain}"
    row = OutboxMessage(
        id=uuid.uuid4(), enrollment=uuid.uuid4(), step=0,
        message_id=new_message_id(message_id_domain(mailbox.email)),
        recipient_email=recipient.email, recipient_name=recipient.name,
        recipient_domain=recipient.email.rpartition("@")[2].lower(),
        subject=rendered.subject, body_text=rendered.text, body_html=clean_email_html(rendered.html) if rendered.html else "",
        track_opens=track, track_clicks=track,
    )
    context = SenderContext(mailbox, key, tenant.postal_address if tenant else "", link_base)
    built = build_outgoing(row, context, TrackingTokens.from_settings(settings), box, clock.now())
    # Signed as the sender signs it (a signature is part of what a filter sees).
    raw = sign_message(built.raw, built.dkim, built.header_names) if built.dkim else built.raw
    return await spam_check(raw)
