"""Complaints and provider notifications: RFC 5965 abuse reports (ARF), Microsoft's JMRP reports
(the complained-of message attached, marked with X-HmXmrOriginalRecipient), and Amazon SES
bounce/complaint notifications delivered by email (SES's JSON, optionally inside an SNS envelope).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from salescopilot.mail import status_codes as codes
from salescopilot.mail.classify_bounce import BounceFindings
from salescopilot.mail.classify_parse import (
    Inbound,
    address_of,
    first_message_id,
    header_text,
)
from salescopilot.mail.classify_reports import field_blocks, part_source

#: Feedback types that are not a complaint about our mail (RFC 6650 "not-spam" undoes one).
NOT_COMPLAINTS = frozenset({"not-spam"})
_MAX_JSON_CHARS = 256 * 1024
_SES_SUBTYPE_REASONS = {
    "noemail": codes.USER_UNKNOWN,
    "suppressed": codes.USER_UNKNOWN,
    "onaccountsuppressionlist": codes.USER_UNKNOWN,
    "mailboxfull": codes.MAILBOX_FULL,
    "messagetoolarge": codes.MESSAGE_TOO_LARGE,
    "contentrejected": codes.CONTENT_REJECTED,
    "attachmentrejected": codes.CONTENT_REJECTED,
}


@dataclass(frozen=True, slots=True)
class ComplaintFindings:
    feedback_type: str
    recipients: tuple[str, ...]
    original_message_id: str | None


def from_arf(inbound: Inbound) -> ComplaintFindings | None:
    """The complaint an RFC 5965 report or a JMRP report states, else None."""
    report = inbound.part_of_type("message/feedback-report")
    original_id, original = inbound.original()
    if report is None:
        if original is None or original.get("X-HmXmrOriginalRecipient") is None:
            return None
        recipient = address_of(header_text(original, "X-HmXmrOriginalRecipient"))
        return ComplaintFindings("abuse", (recipient,) if recipient else (), original_id)
    fields: dict[str, str] = {}
    for block in field_blocks(part_source(report)):
        for name, value in block.items():
            fields.setdefault(name, value)
    feedback_type = fields.get("feedback-type", "abuse").lower().split()[0] if fields.get(
        "feedback-type", "").strip() else "abuse"
    recipient = address_of(fields.get("original-rcpt-to", "")) or (
        address_of(header_text(original, "To")) if original is not None else None
    )
    return ComplaintFindings(feedback_type, (recipient,) if recipient else (), original_id)


_SES_MARKER = re.compile(r'"notificationType"\s*:|\\"notificationType\\"\s*:')


def ses_notification(text: str) -> BounceFindings | ComplaintFindings | None:
    """An Amazon SES bounce or complaint notification (JSON in the body), else None."""
    if not _SES_MARKER.search(text[:_MAX_JSON_CHARS]):
        return None
    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        document = json.loads(text[start:end + 1][:_MAX_JSON_CHARS])
        if isinstance(document, dict) and isinstance(document.get("Message"), str):
            document = json.loads(document["Message"])  # SNS envelope
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    kind = str(document.get("notificationType") or document.get("eventType") or "").lower()
    mail = document.get("mail") if isinstance(document.get("mail"), dict) else {}
    original = _ses_message_id(mail)
    if kind == "bounce":
        return _ses_bounce(document.get("bounce"), original)
    if kind == "complaint":
        complaint = document.get("complaint") if isinstance(document.get("complaint"), dict) else {}
        recipients = _ses_addresses(complaint.get("complainedRecipients"))
        feedback = str(complaint.get("complaintFeedbackType") or "abuse").lower()
        return ComplaintFindings(feedback, tuple(recipients), original)
    return None


def _ses_bounce(bounce: object, original: str | None) -> BounceFindings | None:
    if not isinstance(bounce, dict):
        return None
    permanent = str(bounce.get("bounceType", "")).lower() == "permanent"
    subtype = str(bounce.get("bounceSubType", "")).lower()
    bounced = bounce.get("bouncedRecipients")
    first = bounced[0] if isinstance(bounced, list) and bounced and isinstance(
        bounced[0], dict) else {}
    status = str(first.get("status") or "") or None
    if codes.parse_status(status) is None:
        status = "5.0.0" if permanent else "4.0.0"
    diagnostic = str(first.get("diagnosticCode", ""))
    reason = (_SES_SUBTYPE_REASONS.get(subtype) or codes.reason_in_text(diagnostic)
              or codes.describe_status(status).reason)
    meaning = codes.meaning_for(status, reason)
    return BounceFindings(
        hard=permanent and meaning.hard, status=status, reason=reason,
        recipients=tuple(_ses_addresses(bounced)), original_message_id=original,
    )


def _ses_addresses(entries: object) -> list[str]:
    found = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            address = address_of(str(entry.get("emailAddress", "")))
            if address and address not in found:
                found.append(address)
    return found


def _ses_message_id(mail: dict) -> str | None:
    common = mail.get("commonHeaders")
    if isinstance(common, dict) and common.get("messageId"):
        return first_message_id(str(common["messageId"]))
    for header in mail.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            return first_message_id(str(header.get("value", "")))
    return None
