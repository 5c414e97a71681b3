"""What an SMTP enhanced status code (RFC 3463, plus the later codes of the IANA registry) means for
a sender: is the address itself dead (a hard bounce, suppress it), and why did delivery fail.

Shared by the inbound classifier (codes and diagnostic words in bounce reports) and the sending
side (4xx/5xx replies at RCPT/DATA: `describe_reply`), so both speak of one failure in the same
words.

`hard` means "stop mailing this address": the status class is 5 (permanent) AND the reason is about
the recipient or its domain, or is not known. A permanent failure that says nothing bad about the
address — a full mailbox (RFC 3463 itself calls X.2.2 a "persistent transient failure"), a message
too large, content or sender reputation refused, authentication (DMARC/SPF/DKIM) failed — is soft:
the address may take the next message, and repeated soft bounces suppress it after N (a policy
of the caller). Large senders classify these the same way (content-rejected and mailbox-full are
"transient" bounces in their feedback), which keeps one unlucky campaign from suppressing real
people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from salescopilot.mail.phrases import Phrases

#: Reasons, in the product's words. Stable: they appear in the classifier's JSON.
USER_UNKNOWN = "user_unknown"
BAD_DOMAIN = "bad_domain"
BAD_ADDRESS = "bad_address"
MAILBOX_DISABLED = "mailbox_disabled"
MAILBOX_FULL = "mailbox_full"
MESSAGE_TOO_LARGE = "message_too_large"
BLOCKED = "blocked"
SPAM_REJECTED = "spam_rejected"
AUTH_FAILED = "auth_failed"
POLICY_REJECTED = "policy_rejected"
RELAY_DENIED = "relay_denied"
ROUTING = "routing"
EXPIRED = "expired"
MAIL_LOOP = "mail_loop"
SYSTEM_ERROR = "system_error"
CONTENT_REJECTED = "content_rejected"
DELAYED = "delayed"
UNKNOWN = "unknown"

REASONS = (
    USER_UNKNOWN, BAD_DOMAIN, BAD_ADDRESS, MAILBOX_DISABLED, MAILBOX_FULL, MESSAGE_TOO_LARGE,
    BLOCKED, SPAM_REJECTED, AUTH_FAILED, POLICY_REJECTED, RELAY_DENIED, ROUTING, EXPIRED,
    MAIL_LOOP, SYSTEM_ERROR, CONTENT_REJECTED, DELAYED, UNKNOWN,
)

#: Reasons whose permanent (5.x.x) form still does not prove the address dead.
SOFT_EVEN_IF_PERMANENT = frozenset(
    {MAILBOX_FULL, MESSAGE_TOO_LARGE, BLOCKED, SPAM_REJECTED, AUTH_FAILED, CONTENT_REJECTED,
     POLICY_REJECTED, DELAYED, EXPIRED}
)
#: Reasons that condemn the address even when no status code was given.
ADDRESS_REASONS = frozenset({USER_UNKNOWN, BAD_DOMAIN, BAD_ADDRESS, MAILBOX_DISABLED})

#: Exact subject.detail codes first, then the subject alone ("x.1.*" is an addressing problem).
_DETAIL_REASONS: dict[str, str] = {
    "1.0": USER_UNKNOWN,
    "1.1": USER_UNKNOWN,
    "1.2": BAD_DOMAIN,
    "1.3": BAD_ADDRESS,
    "1.4": USER_UNKNOWN,  # ambiguous destination
    "1.6": USER_UNKNOWN,  # mailbox has moved, no forwarding address
    "1.7": POLICY_REJECTED,  # our sender address refused
    "1.8": POLICY_REJECTED,
    "1.10": BAD_DOMAIN,  # RFC 7505: the domain publishes a null MX
    "2.0": MAILBOX_DISABLED,
    "2.1": MAILBOX_DISABLED,
    "2.2": MAILBOX_FULL,
    "2.3": MESSAGE_TOO_LARGE,
    "2.4": SYSTEM_ERROR,  # mailing-list expansion problem
    "3.1": MAILBOX_FULL,  # mail system full
    "3.4": MESSAGE_TOO_LARGE,
    "4.4": ROUTING,
    "4.6": MAIL_LOOP,
    "4.7": EXPIRED,
    "5.3": POLICY_REJECTED,  # too many recipients
    "7.1": BLOCKED,
    "7.2": POLICY_REJECTED,
    "7.7": CONTENT_REJECTED,
    "7.13": MAILBOX_DISABLED,  # user account disabled (RFC 7372 era codes)
    "7.14": MAILBOX_DISABLED,
    "7.23": AUTH_FAILED,
    "7.24": AUTH_FAILED,
    "7.25": AUTH_FAILED,
    "7.26": AUTH_FAILED,
    "7.27": AUTH_FAILED,
    "7.28": SPAM_REJECTED,  # mail flood
}
_SUBJECT_REASONS: dict[str, str] = {
    "0": UNKNOWN,
    "1": BAD_ADDRESS,
    "2": MAILBOX_DISABLED,
    "3": SYSTEM_ERROR,
    "4": ROUTING,
    "5": SYSTEM_ERROR,  # mail delivery protocol
    "6": CONTENT_REJECTED,
    "7": POLICY_REJECTED,
}

_CODE = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")


@dataclass(frozen=True, slots=True)
class StatusMeaning:
    """What one enhanced status code means. `code` is the normalised code, or None when the input
    was not one; `permanent` is the status class (5), `hard` the stop-mailing decision above."""

    code: str | None
    permanent: bool
    hard: bool
    reason: str


def parse_status(code: str | None) -> tuple[int, int, int] | None:
    """(class, subject, detail) of an enhanced status code like "5.1.1", or None."""
    if not code:
        return None
    match = _CODE.match(code.strip())
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3])


def describe_status(code: str) -> StatusMeaning:
    """The meaning of an enhanced status code ("5.1.1", "4.2.2", ...). A string that is not one
    (garbage, "2.0.0" success) gives reason "unknown", not hard."""
    parts = parse_status(code)
    if parts is None:
        return StatusMeaning(code=None, permanent=False, hard=False, reason=UNKNOWN)
    klass, subject, detail = parts
    normalised = f"{klass}.{subject}.{detail}"
    if klass == 2:
        return StatusMeaning(code=normalised, permanent=False, hard=False, reason=UNKNOWN)
    reason = _DETAIL_REASONS.get(f"{subject}.{detail}") or _SUBJECT_REASONS.get(
        str(subject), UNKNOWN
    )
    return meaning_for(normalised, reason)


def meaning_for(code: str | None, reason: str) -> StatusMeaning:
    """The meaning of `code` with a reason found elsewhere (the diagnostic text often says more
    than the code: "5.7.1 ... listed at Spamhaus" is `blocked`, "5.1.10 RecipientNotFound" is
    `user_unknown`). Without a code only an address reason (user unknown, bad domain, ...) counts
    as permanent: a bare "could not deliver" proves nothing about the address.
    """
    parts = parse_status(code)
    permanent = parts[0] == 5 if parts else reason in ADDRESS_REASONS
    hard = permanent and reason not in SOFT_EVEN_IF_PERMANENT
    return StatusMeaning(
        code=code if parts else None, permanent=permanent, hard=hard, reason=reason
    )


def status_from_basic_code(basic: int) -> str | None:
    """An enhanced code for a bare SMTP reply code (some MTAs give only "550"): class and
    "unspecified" subject, so that the reason comes from the text."""
    if 400 <= basic < 500:
        return "4.0.0"
    if 500 <= basic < 600:
        return "5.0.0"
    return None


# -- the words of a reply or report --------------------------------------------------------------

_ENHANCED_IN_TEXT = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")


def enhanced_code_in(text: str) -> str | None:
    """The first enhanced status code of class 4 or 5 written in `text` ("... 550 5.1.1 ..."),
    not a piece of an IP address or version number."""
    match = _ENHANCED_IN_TEXT.search(text)
    return f"{match[1]}.{match[2]}.{match[3]}" if match else None


#: Diagnostic words → reason, first match wins (so "mailbox full" beats a generic "rejected").
#: Lower case, no leading \b: see `Phrases`.
_TEXT_REASONS: tuple[tuple[str, Phrases], ...] = tuple(
    (reason, Phrases(pattern))
    for reason, pattern in (
        (MAILBOX_FULL,
         r"mailbox (?:is )?full|over ?quota|quota (?:exceeded|full)|exceeded (?:its|the|his|her|"
         r"their) (?:storage |mailbox )?(?:quota|allocation|limit)|insufficient (?:disk |system )?"
         r"(?:space|storage)|over (?:the )?(?:allowed )?quota|mailbox size limit|out of storage|"
         r"storage (?:space )?(?:is )?full|"
         r"postfach (?:ist )?voll|speicherplatz|"
         r"boîte (?:aux lettres |de réception )?(?:est )?pleine"
         r"|buzón (?:está )?lleno|caixa (?:postal )?(?:está )?cheia|mailbox is over"),
        (BAD_DOMAIN,
         r"domain (?:name )?(?:not found|does not exist|doesn't exist)|host (?:or domain name )?"
         r"not found|host unknown|no (?:mx|mail exchanger)|nxdomain|unrouteable mail domain|"
         r"null mx|domain (?:is )?not (?:valid|reachable)|(?:couldn't|could not) find any host|"
         r"name or service not known|"
         r"dns (?:error|lookup failed)"),
        (USER_UNKNOWN,
         r"user unknown|unknown user|no such (?:user|mailbox|recipient|address|account|person)|"
         r"user (?:not found|does not exist|doesn't exist)|(?:mailbox|address|recipient|account|"
         r"user) (?:\S+ )?(?:not found|does not exist|doesn't exist|unavailable|is unavailable|"
         r"invalid|unknown)|invalid (?:recipient|mailbox|address)|not a valid (?:mailbox|recipient|"
         r"user)|unrouteable address|undeliverable address|recipientnotfound|recipnotfound|"
         r"account that you tried to reach does not exist|doesn't have an? \S+ account|"
         r"no mailbox here by that name|not listed in (?:the )?(?:domino )?directory|"
         r"unknown (?:local[- ]part|recipient|mailbox)|nosuchuser|address rejected|"
         r"does not like recipient|couldn't be found|could not be found|"
         r"benutzer (?:unbekannt|existiert nicht)|utilisateur inconnu|usuario desconocido"),
        (MAILBOX_DISABLED,
         r"(?:account|mailbox|user) (?:has been |is )?(?:disabled|deactivated|suspended|inactive|"
         r"closed|locked|blocked due to inactivity)|no longer (?:active|available|in use|valid)"),
        (MESSAGE_TOO_LARGE,
         r"message (?:size )?(?:is )?too (?:big|large)|exceeds (?:the )?(?:maximum )?(?:message )?"
         r"size|maximum message size|size limit|message is larger than|too large"),
        (AUTH_FAILED,
         r"dmarc|spf (?:check )?fail|dkim|not authenticated|unauthenticated|authentication "
         r"(?:failed|required)|sender (?:address )?(?:verification|authentication) failed"),
        (RELAY_DENIED,
         r"relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited)|unable to "
         r"relay|we do not relay|not permitted to relay"),
        (SPAM_REJECTED,
         r"spam\b|junk mail|unsolicited|considered (?:as )?(?:bulk|junk)|suspicious|phishing|"
         r"virus|malware|content (?:rejected|refused)"),
        (BLOCKED,
         r"spamhaus|spamcop|barracuda|sorbs|surbl|block ?list|black ?list|rbl\b|dnsbl|"
         r"blocked\b|listed (?:at|on|in|by)|reputation|banned|rejected (?:due to|by) (?:local )?"
         r"policy|policy reasons|access denied|not (?:allowed|authori[sz]ed|permitted) to send|"
         r"too many (?:messages|connections|recipients)|rate limit|throttl"),
        (EXPIRED,
         r"delivery time expired|retry (?:time(?:out)?|period) (?:exceeded|expired)|"
         r"in the queue too long|too long in (?:the )?queue|message expired|"
         r"could not be delivered within|retry timeout exceeded"),
        (ROUTING,
         r"connection (?:refused|timed out)|could not connect|unable to connect|no route to host|"
         r"host unreachable|network is unreachable|unable to deliver to"),
        (MAIL_LOOP,
         r"mail loop|loops back to myself|too many hops|hop count exceeded|routing loop"),
    )
)


def reason_in_text(text: str) -> str | None:
    """The reason the words of a diagnostic or report give, or None."""
    if not text:
        return None
    lowered = text.lower()
    for reason, pattern in _TEXT_REASONS:
        if pattern.search(lowered):
            return reason
    return None


def describe_reply(reply_code: int | None, text: str) -> StatusMeaning:
    """The meaning of an SMTP reply as a whole: its enhanced code when the text carries one (else
    the class of the basic code), with the reason its words give when they say more than the
    code — "550 5.7.1 Client host blocked using zen.spamhaus.org" is `blocked` and soft, not a
    dead address. For the sending side's 4xx/5xx replies at RCPT and DATA."""
    code = enhanced_code_in(text) or (status_from_basic_code(reply_code) if reply_code else None)
    reason = reason_in_text(text) or (describe_status(code).reason if code else UNKNOWN)
    return meaning_for(code, reason)
