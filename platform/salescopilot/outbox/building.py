"""From a ledger row to the bytes handed to the provider: sender, signature, footer, threading,
unsubscribe and tracking links, DKIM. Rebuilt identically on every attempt from the row, so a
retry sends the same message (same Message-ID) again."""

from __future__ import annotations

import datetime as dt
import functools
import html as html_lib
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

from salescopilot.crypto import SecretBox
from salescopilot.mail.message import Address, DkimKey, MessageSpec, build_unsigned
from salescopilot.mail.tracking import TrackingTokens, trackable_links
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
    #: The tracking the message gets after the tenant's and the mailbox's switches (None: the
    #: row's own flags, as its campaign set them).
    track_opens: bool | None = None
    track_clicks: bool | None = None


@dataclass(frozen=True, slots=True)
class BuiltMessage:
    """A message complete but for its DKIM signature, which the sender adds (in its signing
    pool) when `dkim` is set."""

    raw: bytes
    #: The names of its header fields, in order (what the signature may cover).
    header_names: list[str]
    dkim: DkimKey | None


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


def _with_signature(row: OutboxMessage | SimpleNamespace, mailbox: Mailbox) -> tuple[str, str | None]:
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
    row: OutboxMessage | SimpleNamespace, context: SenderContext, tokens: TrackingTokens, box: SecretBox, now: dt.datetime
) -> BuiltMessage:
    """The message of a ledger row (or of the plain values `OutboxRepository.to_build` reads)."""
    mailbox = context.mailbox
    unsubscribe, pixel, click = tracking_links(tokens, context.link_base, row.id)
    text, html = _with_signature(row, mailbox)
    opens = row.track_opens if context.track_opens is None else context.track_opens
    clicks = row.track_clicks if context.track_clicks is None else context.track_clicks
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
        open_pixel_url=pixel if opens and html else None,
        click_url=click if clicks and html else None,  # type: ignore[arg-type]
    )
    raw, names = build_unsigned(spec)
    return BuiltMessage(raw, names, dkim)


def tracked_link_urls(row: OutboxMessage, mailbox: Mailbox | None) -> list[str]:
    """The original URLs of a sent message's tracked links, by link index: the links
    `build_outgoing` rewrote, found again in the same HTML (body plus the mailbox's signature).
    (A signature edited after the send could shift the indexes of the signature's own links;
    the body's links come first and never move.)"""
    if not row.track_clicks or not row.body_html:
        return []
    if mailbox is None:
        html = row.body_html
    else:
        _, html = _with_signature(row, mailbox)
    return trackable_links(html or "")
