"""What an inbound message is: a person's reply, an automatic reply (out-of-office), a bounce, a
complaint, an unsubscribe request, or unknown. A pure function over the raw bytes, shared by every
mail provider and by `salescopilot mail classify`.

Order of the checks, each stopping at the first fit: complaint (ARF/JMRP/SES) → bounce (RFC 3464
report, SES notification, or a mail daemon's plain-text report) → automatic reply (RFC 3834 and
vendor headers, subject, the sender's own words) → other machine mail (bulk, lists, RFC 3834
auto-generated: unknown, never a reply) → unsubscribe request → reply. A message that cannot be
read, or has neither sender nor text, is unknown.

Hostile input is the normal case here: at most `MAX_MESSAGE_BYTES` are read, parts and text are
capped, and any input gives a verdict, never an exception.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Literal

from salescopilot.mail.classify_bounce import (
    BounceFindings,
    dsn_part,
    from_dsn,
    from_text,
    looks_like_bounce,
)
from salescopilot.mail.classify_complaint import (
    NOT_COMPLAINTS,
    ComplaintFindings,
    from_arf,
    ses_notification,
)
from salescopilot.mail.classify_cues import (
    AUTO_REPLY_BODY,
    AWAY_BODY,
    AUTO_REPLY_SUBJECT,
    auto_reply_header,
    machine_generated,
    unsubscribe_requested,
)
from salescopilot.mail.classify_dates import return_date
from salescopilot.mail.classify_parse import (
    MAX_MESSAGE_BYTES,
    Inbound,
    address_of,
    body_text,
    first_message_id,
    header_date,
    message_ids,
    new_text,
    parse_message,
)

__all__ = ["MAX_MESSAGE_BYTES", "AutoReply", "Bounce", "Complaint", "Kind", "Verdict",
           "classify_message"]

Kind = Literal["reply", "auto_reply", "bounce", "complaint", "unsubscribe", "unknown"]
KINDS: tuple[str, ...] = ("reply", "auto_reply", "bounce", "complaint", "unsubscribe", "unknown")

logger = logging.getLogger(__name__)

#: Characters of the sender's own text searched for cues and dates.
_CUE_TEXT_CHARS = 8 * 1024


@dataclass(frozen=True, slots=True)
class Bounce:
    """`hard`: stop mailing the address (see `status_codes`); `status`: the RFC 3463 enhanced code
    ("5.1.1") when the report gives one; `reason`: one of `status_codes.REASONS`;
    `recipients`: the addresses that failed, lowercased."""

    hard: bool
    status: str | None
    reason: str
    recipients: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"hard": self.hard, "status": self.status, "reason": self.reason,
                "recipients": list(self.recipients)}


@dataclass(frozen=True, slots=True)
class AutoReply:
    """`return_date`: the return (or last day away) the text states, else None."""

    return_date: dt.date | None

    def to_dict(self) -> dict[str, Any]:
        return {"return_date": self.return_date.isoformat() if self.return_date else None}


@dataclass(frozen=True, slots=True)
class Complaint:
    """`feedback_type`: the ARF type ("abuse", "fraud", ...); `recipients`: who complained, when
    the report says (providers often redact it)."""

    feedback_type: str
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classification of one message. Message-IDs are given as "<id>".

    `message_id`, `in_reply_to` and `references` are the message's own headers;
    `original_message_id` is the Message-ID of the message a bounce or complaint is about (from
    the report, else the report's In-Reply-To). `to_dict()` is the stable JSON shape of
    `salescopilot mail classify --json` (without "file"); `references`, `from_address`,
    `message_id` and `complaint` are for the matcher and stay out of it."""

    kind: Kind
    bounce: Bounce | None = None
    auto_reply: AutoReply | None = None
    complaint: Complaint | None = None
    in_reply_to: str | None = None
    original_message_id: str | None = None
    references: tuple[str, ...] = ()
    from_address: str | None = None
    message_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "bounce": self.bounce.to_dict() if self.bounce else None,
            "auto_reply": self.auto_reply.to_dict() if self.auto_reply else None,
            "in_reply_to": self.in_reply_to,
            "original_message_id": self.original_message_id,
        }


UNREADABLE = Verdict(kind="unknown")


def classify_message(raw: bytes, *, reference_date: dt.date | None = None) -> Verdict:
    """The verdict for one raw RFC 5322 message. Never raises for any bytes.

    `reference_date` places a return date written without a year when the message has no
    readable Date header (the sync passes the day it fetched the message)."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError("classify_message takes the raw message bytes")
    try:
        return classify_strict(bytes(raw), reference_date=reference_date)
    # A verdict for every input; the fuzz tests call classify_strict, so nothing hides there.
    except Exception:  # noqa: BLE001
        logger.warning("inbound message could not be classified", exc_info=True)
        return UNREADABLE


def classify_strict(raw: bytes, *, reference_date: dt.date | None = None) -> Verdict:
    """`classify_message` without the last-resort guard, so tests see any error it hides."""
    message = Inbound(parse_message(raw))
    from_address = address_of(message.header("From"))
    subject = message.header("Subject")
    threading = {
        "in_reply_to": first_message_id(message.header("In-Reply-To")),
        "references": message_ids(message.header("References")),
        "from_address": from_address,
        "message_id": first_message_id(message.header("Message-ID")),
    }
    body = body_text(message)

    complaint = from_arf(message)
    notification = ses_notification(body) if complaint is None else None
    if isinstance(notification, ComplaintFindings):
        complaint = notification
    if complaint is not None and complaint.feedback_type in NOT_COMPLAINTS:
        return Verdict(kind="unknown", **threading)
    if complaint is not None:
        return Verdict(
            kind="complaint",
            complaint=Complaint(complaint.feedback_type, complaint.recipients),
            original_message_id=complaint.original_message_id, **threading,
        )

    bounce = notification if isinstance(notification, BounceFindings) else None
    report = dsn_part(message) if bounce is None else None
    if report is not None:
        bounce = from_dsn(message, report, body)
        if bounce is None:  # a success report (delivered/relayed): nothing to act on
            return Verdict(kind="unknown", **threading)
    elif bounce is None and looks_like_bounce(message, from_address, subject, body):
        bounce = from_text(message, body)
    if bounce is not None:
        return Verdict(
            kind="bounce",
            bounce=Bounce(bounce.hard, bounce.status, bounce.reason, bounce.recipients),
            original_message_id=bounce.original_message_id, **threading,
        )

    own_words = new_text(body)[:_CUE_TEXT_CHARS]
    lowered = own_words.lower()
    certain = (auto_reply_header(message) or AUTO_REPLY_SUBJECT.match(subject)
               or AUTO_REPLY_BODY.search(lowered))
    if certain or AWAY_BODY.search(lowered):
        sent = _sent_date(message) or reference_date
        back = return_date(subject + "\n" + own_words, sent, month_first=_english(own_words))
        # "I'm away until Friday" alone is an out-of-office; with a question it is a person.
        if certain or (back is not None and "?" not in own_words):
            return Verdict(kind="auto_reply", auto_reply=AutoReply(back), **threading)

    if machine_generated(message):
        return Verdict(kind="unknown", **threading)
    if unsubscribe_requested(subject, own_words):
        return Verdict(kind="unsubscribe", **threading)
    if from_address is None or not (own_words.strip() or subject.strip()):
        return Verdict(kind="unknown", **threading)
    return Verdict(kind="reply", **threading)


def _sent_date(message: Inbound) -> dt.date | None:
    sent = header_date(message.header("Date"))
    return sent.date() if sent is not None else None


def _english(text: str) -> bool:
    """Whether ambiguous numeric dates read month first: the text is English."""
    lowered = text.lower()
    return sum(lowered.count(w) for w in (" the ", " i ", " and ", " will ", " you ")) >= 2
