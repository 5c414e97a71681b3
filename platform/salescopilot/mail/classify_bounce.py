"""Bounces: RFC 3464 delivery status notifications, and the plain-text reports of MTAs and
providers that send none (qmail, older Exim and Sendmail, Yahoo, Lotus Domino, Exchange's
human-readable part, ...).

Three sources, best first: the DSN's per-recipient fields (Action, Status, Diagnostic-Code,
Final-Recipient); headers some MTAs add (X-Failed-Recipients); the human-readable text, searched
for recipients, an enhanced or basic SMTP code and the words of the failure. The reason comes
from the diagnostic words when they say something the code does not ("5.7.1 ... listed at
Spamhaus" is `blocked`), else from the code (see `status_codes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from salescopilot.mail import status_codes as codes
from salescopilot.mail.classify_parse import (
    Inbound,
    address_of,
    addresses_in,
    first_message_id,
)
from salescopilot.mail.classify_reports import field_blocks, message_id_in_text, part_source
from salescopilot.mail.phrases import Phrases

_MAX_RECIPIENTS = 50


@dataclass(frozen=True, slots=True)
class BounceFindings:
    hard: bool
    status: str | None
    reason: str
    recipients: tuple[str, ...]
    original_message_id: str | None


_BASIC = re.compile(
    r"(?im)(?:^|said:|error:|reason:|\(reason:|#|response:|returned\s'?|<\S+@\S+>:)\s*"
    r"([45][0-5]\d)(?=[\s:-])"
)

_DELAY_CUES = Phrases(
    r"delivery (?:has been |is )?delayed|delayed mail|message delayed|delivery incomplete|"
    r"will (?:continue to |keep )?(?:try|trying|retry)|still trying|this is a warning message only|"
    r"temporary (?:failure|problem|error)|not yet been delivered|has not been delivered yet|"
    r"is delayed|mail delivery delayed|warning: message .{1,80} delayed|"
    r"will be retried|retrying|attempts will continue|zustellung verzögert|remise différée"
)
_PERMANENT_CUES = Phrases(
    r"permanent (?:error|failure|fatal)|fatal errors?|i've given up|has failed|"
    r"could not be delivered|couldn't be delivered|wasn't delivered|was not delivered|"
    r"undeliverable|unable to deliver|not delivered to|delivery failed|failed permanently"
)

#: The text after which a report quotes the returned message (not ours to read as the report).
_ORIGINAL_FOLLOWS = re.compile(
    r"(?im)^[ \t]*(?:-{2,}\s*below this line is a copy of the message\.?|-+\s*this is a copy of "
    r"the message.*|-+\s*(?:original|unsent) message(?: follows)?\s*-+|-+\s*the original message.*"
    r"|-+\s*the header of the original message.*|original message headers:)"
)
_RECIPIENT_LINES = tuple(
    re.compile(pattern, re.IGNORECASE | re.MULTILINE)
    for pattern in (
        r"^\s*[<\"]([^<>\s\"]+@[^<>\s\"]+)[>\"]\s*:?\s*$",  # qmail, Yahoo, Sendmail, GMX
        r"^[ \t]*<?([^<>\s:]+@[^<>\s:]+?)>?[ \t]*(?:\([^)]*\))?[ \t]*$",  # Exim, Exchange, Domino
        r"(?:message|mail) (?:to|for) <?([^<>\s]+@[^<>\s]+?)>? (?:couldn't|could not|wasn't|"
        r"was not|cannot|can't)",
        r"(?:wasn't|was not|couldn't be|could not be|not) delivered to <?([^<>\s]+@[^<>\s]+?)>?"
        r"(?=[\s.,;]|$)",
        r"(?:failed recipient|recipient address|original recipient|final recipient)s?:\s*"
        r"(?:rfc822;\s*)?<?([^<>\s]+@[^<>\s]+?)>?\s*$",
        r"^\s*<?([^<>\s,;:\"]+@[^<>\s,;:\"]+?)>?[,:;]\s+\S",  # "x@y, ERROR CODE: 550 ..."
    )
)
#: Senders of reports, and (with the rest) addresses in a report that are never the recipient.
_DAEMON_SENDERS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_NEVER_RECIPIENTS = _DAEMON_SENDERS | {"bounce", "bounces", "noreply", "no-reply",
                                       "double-bounce", "root"}


def dsn_part(inbound: Inbound) -> Message | None:
    return inbound.part_of_type("message/delivery-status", "message/global-delivery-status")


def from_dsn(inbound: Inbound, part: Message, human: str) -> BounceFindings | None:
    """The bounce an RFC 3464 report states, or None when it reports only success
    (delivered/relayed/expanded)."""
    blocks = field_blocks(part_source(part))
    per_recipient = [b for b in blocks if "final-recipient" in b or "action" in b or "status" in b]
    failed: list[dict[str, str]] = []
    delayed: list[dict[str, str]] = []
    for block in per_recipient:
        action = block.get("action", "").lower().split(" ")[0]
        status = codes.enhanced_code_in(block.get("status", ""))
        if action == "failed" or (not action and status and status.startswith("5")):
            failed.append(block)
        elif action == "delayed" or (not action and status and status.startswith("4")):
            delayed.append(block)
    chosen = failed or delayed
    if not chosen:
        if per_recipient:
            return None
        # A report part without per-recipient fields: fall back to the words around it.
        return from_text(inbound, human)
    first = chosen[0]
    diagnostic = first.get("diagnostic-code", "")
    status = codes.enhanced_code_in(first.get("status", ""))
    if status in (None, "5.0.0", "4.0.0"):
        status = codes.enhanced_code_in(diagnostic) or status
    recipients = []
    for block in chosen:
        # Original-Recipient is the address as we sent it; Final-Recipient may be the alias or
        # forward it led to.
        recipient = address_of(block.get("original-recipient", "")) or address_of(
            block.get("final-recipient", "")
        )
        if recipient and recipient not in recipients:
            recipients.append(recipient)
    if not recipients:
        recipients = _recipients_in_text(inbound, human)
    is_delay = not failed
    text_reason = codes.reason_in_text(diagnostic) or (
        None if diagnostic else codes.reason_in_text(human)
    )
    # Gmail names the original in the per-message fields.
    named = next((first_message_id(b["x-original-message-id"]) for b in blocks
                  if "x-original-message-id" in b), None)
    return _findings(inbound, human, status, text_reason, recipients, is_delay, named)


def from_text(inbound: Inbound, human: str) -> BounceFindings:
    """The bounce a plain-text report (no DSN part) states, as far as it can be read."""
    report = _report_section(human)
    status = codes.enhanced_code_in(report)
    if status is None:
        basic = _BASIC.search(report)
        status = codes.status_from_basic_code(int(basic[1])) if basic else None
    lowered = report.lower()
    is_delay = bool(_DELAY_CUES.search(lowered)) and not _PERMANENT_CUES.search(lowered)
    if is_delay and status and status.startswith("5"):
        is_delay = False
    recipients = [
        a.lower() for a in inbound.header("X-Failed-Recipients").replace(",", " ").split()
        if "@" in a
    ] or _recipients_in_text(inbound, report)
    return _findings(inbound, human, status, codes.reason_in_text(report), recipients, is_delay)


def _findings(inbound: Inbound, human: str, status: str | None, text_reason: str | None,
              recipients: list[str], is_delay: bool, named_original: str | None = None,
              ) -> BounceFindings:
    if is_delay:
        reason = codes.DELAYED
        hard = False
    else:
        code_reason = codes.describe_status(status).reason if status else codes.UNKNOWN
        reason = text_reason or code_reason
        hard = codes.meaning_for(status, reason).hard
    original, _ = inbound.original()
    original = (original or named_original or message_id_in_text(_after_report(human))
                or message_id_in_text(human) or _bounce_thread_id(inbound))
    return BounceFindings(
        hard=hard, status=status, reason=reason,
        recipients=tuple(recipients[:_MAX_RECIPIENTS]), original_message_id=original,
    )


def _report_section(human: str) -> str:
    """The report's own words, without the returned copy of the message that follows them."""
    match = _ORIGINAL_FOLLOWS.search(human)
    return human[: match.start()] if match else human


def _after_report(human: str) -> str:
    match = _ORIGINAL_FOLLOWS.search(human)
    return human[match.start():] if match else ""


def _bounce_thread_id(inbound: Inbound) -> str | None:
    """Gmail and some others thread the report under the original: In-Reply-To/References."""
    return first_message_id(inbound.header("In-Reply-To")) or first_message_id(
        inbound.header("References")
    )


def _recipients_in_text(inbound: Inbound, text: str) -> list[str]:
    """Failed recipients named in report text: lines that are just an address, or phrases like
    "wasn't delivered to x@y"; never the report's own sender or recipient or a daemon."""
    own = {address_of(inbound.header(name)) for name in ("From", "To", "Return-Path")}
    found: list[str] = []
    for pattern in _RECIPIENT_LINES:
        for match in pattern.finditer(text):
            for candidate in addresses_in(match[1]):
                local = candidate.split("@", 1)[0]
                if candidate in own or local in _NEVER_RECIPIENTS or candidate in found:
                    continue
                found.append(candidate)
        if found:
            return found
    return found


def looks_like_bounce(inbound: Inbound, from_address: str | None, subject: str,
                      human: str) -> bool:
    """A report without a DSN part: sent by a mail daemon or titled as a failure, and saying so."""
    if inbound.header("X-Failed-Recipients"):
        return True
    local = (from_address or "").split("@", 1)[0]
    display = inbound.header("From").lower()
    from_daemon = local in _DAEMON_SENDERS or any(
        word in display for word in ("mail delivery", "postmaster", "mailer-daemon")
    )
    titled = bool(_BOUNCE_SUBJECT.match(subject))
    if not (from_daemon or titled):
        return False
    report = _report_section(human)
    lowered = report.lower()
    return bool(codes.enhanced_code_in(report) or _PERMANENT_CUES.search(lowered)
                or _DELAY_CUES.search(lowered) or _BODY_MARKERS.search(lowered))


_BOUNCE_SUBJECT = re.compile(
    r"(?i)^\s*(?:\[[^\]]{0,40}\]\s*)?(?:undeliver(?:able|ed)|delivery (?:status notification|"
    r"failure|failed|has failed|incomplete|problem|notification)|mail delivery (?:failed|failure|"
    r"system|subsystem)|returned mail|failure notice|non[- ]?delivery|could not be delivered|"
    r"message (?:not delivered|delivery failed|delayed)|delivery delayed|delayed mail|"
    r"warning: (?:could not send|message .* delayed)|mail system error|delivery report|"
    r"unzustellbar|nicht zustellbar|non remis|non distribuable|échec de (?:la )?remise|"
    r"no se puede entregar|no entregado|não (?:foi )?entregue|onbestelbaar|olevererbar|"
    r"kunde inte levereras|delivery failure)"
)
_BODY_MARKERS = Phrases(
    r"this is the mail system at host|created automatically by mail delivery software|"
    r"wasn't able to deliver your message|the original message was received at|"
    r"delivery has failed to these recipients|unable to deliver your message|"
    r"this is the qmail-send program|sorry,? we were unable to deliver"
)
