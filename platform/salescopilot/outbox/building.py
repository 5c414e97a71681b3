"""From a ledger row to the bytes handed to the provider: sender, signature, footer, threading,
unsubscribe and tracking links, DKIM. Rebuilt identically on every attempt from the row, so a
retry sends the same message (same Message-ID) again."""

from __future__ import annotations

import datetime as dt
import functools
import html as html_lib
import uuid
from dataclasses import dataclass

from salescopilot.crypto import SecretBox
from salescopilot.mail.message import Address, DkimKey, MessageSpec, build_message
from salescopilot.mail.tracking import TrackingTokens
from salescopilot.mailboxes.tables import Mailbox, SendingDomain
from salescopilot.outbox.tables import OutboxMessage

#: Paths of the public tracking endpoints (served by the tracking domain).
OPEN_PATH = "/t/o/"
CLICK_PATH = "/t/c/"
UNSUBSCRIBE_PATH = "/u/"


@dataclass(frozen=True, slots=True)
class SenderContext:
    """What the build needs besides the row: read once per send inside the tenant scope."""

    mailbox: Mailbox
    domain_key: SendingDomain | None
    postal_address: str
    #: "https://host" the tracking and unsubscribe links point at.
    link_base: str


def tracking_links(tokens: TrackingTokens, base: str, message: uuid.UUID) -> tuple[str, str, object]:
    """(unsubscribe URL, open pixel URL, click URL maker) of one message."""
    base = base.rstrip("/")

    def click(index: int, _original: str) -> str:
        return base + CLICK_PATH + tokens.make("click", message, index)

    return (
        base + UNSUBSCRIBE_PATH + tokens.make("unsubscribe", message),
        base + OPEN_PATH + tokens.make("open", message),
        click,
    )


def _with_signature(row: OutboxMessage, mailbox: Mailbox) -> tuple[str, str | None]:
    text = row.body_text
    html = row.body_html or None
    if mailbox.signature_text:
        text = f"{text.rstrip()}\n\n-- \n{mailbox.signature_text}"
    if html is not None and (mailbox.signature_html or mailbox.signature_text):
        signature = mailbox.signature_html or html_lib.escape(mailbox.signature_text).replace("\n", "<br>")
        html = f"{html}\n<div class=\"signature\">{signature}</div>"
    return text, html


@functools.lru_cache(maxsize=64)
def _dkim_pem(box: SecretBox, sealed: str) -> bytes:
    """The sending domain's private key, decrypted once per key rather than for every message
    (the DKIM signer keeps the key it reads from it in the same way)."""
    return box.decrypt(sealed).encode()


def build_outgoing(
    row: OutboxMessage, context: SenderContext, tokens: TrackingTokens, box: SecretBox, now: dt.datetime
) -> bytes:
    mailbox = context.mailbox
    unsubscribe, pixel, click = tracking_links(tokens, context.link_base, row.id)
    text, html = _with_signature(row, mailbox)
    dkim = None
    key = context.domain_key
    if key is not None and key.dkim_enabled and key.dkim_private_key and key.dkim_selector:
        dkim = DkimKey(key.domain, key.dkim_selector, _dkim_pem(box, key.dkim_private_key))
    spec = MessageSpec(
        message_id=row.message_id,
        sender=Address(mailbox.email, mailbox.from_name),
        recipient=Address(row.recipient_email, row.recipient_name),
        subject=row.subject,
        text=text,
        html=html,
        date=now,
        in_reply_to=row.in_reply_to or None,
        references=tuple(row.references.split()) if row.references else (),
        unsubscribe_url=unsubscribe,
        postal_address=context.postal_address,
        open_pixel_url=pixel if row.track_opens and html else None,
        click_url=click if row.track_clicks and html else None,  # type: ignore[arg-type]
        dkim=dkim,
    )
    return build_message(spec)
