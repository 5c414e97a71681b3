"""Building outgoing messages: one `MessageSpec` in, the complete RFC 5322 bytes out.

The bytes are what goes on the wire: CRLF line endings, every body part 7-bit clean
(quoted-printable or base64, whichever is shorter, so no line passes 998 octets), names and
subjects in RFC 2047 encoded words, IDN domains in their ASCII (punycode) form. Only when an
address itself has a non-ASCII local part is the message SMTPUTF8 (raw UTF-8 headers), since
nothing else can carry such an address.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import format_datetime
from html import escape

import idna

from salescopilot.errors import DomainError
from salescopilot.mail import tracking


class InvalidMessage(DomainError):
    code = "INVALID_MESSAGE"
    status_code = 400
    default_message = "The message cannot be built."


@dataclass(frozen=True, slots=True)
class Address:
    email: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class DkimKey:
    domain: str
    selector: str
    #: RSA (>= 1024 bits, usually 2048) or Ed25519 (RFC 8463), PEM.
    private_key_pem: bytes


@dataclass(frozen=True, slots=True)
class MessageSpec:
    #: "<...@domain>", fixed when the outbox row is created.
    message_id: str
    sender: Address
    recipient: Address
    subject: str
    #: The plain-text body (required).
    text: str
    #: Aware.
    date: dt.datetime
    #: When given: multipart/alternative with the text and this HTML.
    html: str | None = None
    reply_to: Address | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    #: https; List-Unsubscribe + RFC 8058 List-Unsubscribe-Post.
    unsubscribe_url: str | None = None
    #: Also listed in List-Unsubscribe when given.
    unsubscribe_mailto: str | None = None
    #: CAN-SPAM footer appended to the text and the HTML.
    postal_address: str = ""
    #: A 1x1 image appended to the HTML part.
    open_pixel_url: str | None = None
    #: (link index, original URL) -> tracked URL.
    click_url: Callable[[int, str], str] | None = None
    dkim: DkimKey | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()


#: Recommended line length (RFC 5322 section 2.1.1); only a single unbreakable token (a long
#: Message-ID or URL) may pass it, never the hard limit of 998.
_MAX_LINE = 78
#: RFC 5322 atext, and with SMTPUTF8 (RFC 6532) any non-ASCII character too.
_ATEXT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~"
_ATOM = re.compile(f"[{_ATEXT}]+")
_UTF8_ATOM = re.compile(f"[{_ATEXT}\u0080-\U0010ffff]+")
_DOT_ATOM = re.compile(f"[{_ATEXT}\u0080-\U0010ffff]+(?:\\.[{_ATEXT}\u0080-\U0010ffff]+)*")
#: Characters an RFC 2047 "Q" encoded word may carry as they are, even in a display name.
_Q_LITERAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
#: "=?utf-8?q?" + "?=": an encoded word is at most 75 characters (RFC 2047 section 2).
_EW_ROOM = 75 - 12

_MESSAGE_ID = re.compile(r"^<[\x21-\x3b\x3d\x3f-\x7e]{1,250}@[A-Za-z0-9.\-\[\]:]{1,253}>$")
_HEADER_NAME = re.compile(r"^[\x21-\x39\x3b-\x7e]{1,76}$")
#: Headers the builder writes itself; `extra_headers` may not set them a second time.
_OWN_HEADERS = frozenset(
    h.lower()
    for h in (
        "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
        "Content-Transfer-Encoding", "Reply-To", "In-Reply-To", "References", "List-Unsubscribe",
        "List-Unsubscribe-Post", "DKIM-Signature", "Sender", "Cc", "Bcc", "Return-Path",
    )
)

#: Reply prefixes of the mail clients of many languages ("Re", German "Aw", Nordic "Sv"/"Vs",
#: Dutch "Antw", Italian "Rif", Portuguese "Res", Polish "Odp", Turkish "Ynt", Greek "Απ",
#: Chinese "回复"/"答复"), optionally numbered ("Re[2]:", "Re(3):").
_REPLY_PREFIX = re.compile(
    r"^\s*(?:re|aw|sv|vs|antw|antwort|rif|res|odp|ynt|απ|回复|答复|回覆)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)


def new_message_id(domain: str, token: bytes | None = None) -> str:
    """A fresh, unguessable Message-ID "<random@domain>" (128 random bits: `token`, 16 bytes
    from the system's random source, when a batch drew them at once)."""
    if token is not None and len(token) != 16:
        raise ValueError("a Message-ID token is 16 random bytes")
    return f"<{(token or secrets.token_bytes(16)).hex()}@{_ascii_domain(domain)}>"


def message_id_domain(address: str) -> str:
    """The sending domain of an address, in its ASCII form, for the right side of Message-IDs."""
    _, at, domain = address.rpartition("@")
    if not at or not domain:
        raise InvalidMessage(f"{address!r} is not an email address")
    return _ascii_domain(domain)


def is_message_id(value: str) -> bool:
    """Whether `value` is a Message-ID this builder writes in In-Reply-To or References."""
    return bool(_MESSAGE_ID.match(value))


#: At most this many Message-IDs in the References of an answer: the thread's first message and
#: its latest ones (RFC 5322 section 3.6.4 lets a long chain be shortened; keeping its start
#: keeps the thread together in clients that group by the root).
MAX_REFERENCES = 20


def answer_threading(message_id: str, in_reply_to: str, references: str) -> tuple[str, str]:
    """In-Reply-To and References of an answer to a received message, from that message's own
    Message-ID, In-Reply-To and References (RFC 5322 section 3.6.4): its References (else its
    one In-Reply-To) followed by its Message-ID. What a sender wrote is not trusted: ids that are
    not Message-IDs are left out, and without a valid Message-ID the answer starts a new thread
    ("", "")."""
    message_id = message_id.strip()
    if not is_message_id(message_id) or len(message_id) > 255:
        return "", ""
    chain = [m for m in (references or "").split() if is_message_id(m)]
    if not chain:
        parent = (in_reply_to or "").split()
        chain = [parent[0]] if len(parent) == 1 and is_message_id(parent[0]) else []
    chain = [m for m in dict.fromkeys(chain) if m != message_id] + [message_id]
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1):]
    return message_id, " ".join(chain)


def reply_subject(subject: str) -> str:
    """ "Re: " + the subject without any reply prefixes it already has: never "Re: Re: x"
    (whitespace runs, as a folded header leaves them, become one space)."""
    core = " ".join(subject.split())
    while True:
        stripped = _REPLY_PREFIX.sub("", core, count=1)
        if stripped == core:
            break
        core = stripped
    return f"Re: {core}"


def build_message(spec: MessageSpec) -> bytes:
    """The complete message: RFC 5322 bytes with CRLF line endings, DKIM-signed when
    `spec.dkim` is given. Raises `InvalidMessage` for values that cannot go into a message.

    Written directly rather than through `email.message.EmailMessage`: the stdlib parses every
    header it is given and refolds it on output, which cost milliseconds per message on the send
    path. The shapes are few (text/plain, or multipart/alternative of text and HTML), and the
    tests parse the output back with the stdlib to check that every value round-trips."""
    raw, names = build_unsigned(spec)
    if spec.dkim is not None:
        from salescopilot.mail.dkim import sign_message

        raw = sign_message(raw, spec.dkim, headers=names)
    return raw


def build_unsigned(spec: MessageSpec) -> tuple[bytes, list[str]]:
    """The message as `build_message` makes it but without its DKIM signature (`spec.dkim` is
    not read), and the names of its header fields, in order: the sender signs it elsewhere."""
    _check_spec(spec)
    try:
        return _serialize(spec)
    except UnicodeEncodeError:
        raise InvalidMessage("the message holds text that is not valid Unicode") from None


def _serialize(spec: MessageSpec) -> tuple[bytes, list[str]]:
    """The unsigned message and the names of its header fields, in order."""
    sender = _checked_address(spec.sender)
    recipient = _checked_address(spec.recipient)
    reply_to = _checked_address(spec.reply_to) if spec.reply_to else None
    utf8 = any(not a[1].isascii() for a in (sender, recipient, reply_to) if a is not None)

    lines = [
        _address_header("From", sender, utf8),
        _address_header("To", recipient, utf8),
        _text_header("Subject", spec.subject, utf8),
        f"Date: {format_datetime(spec.date)}",
        f"Message-ID: {spec.message_id}",
    ]
    names = ["From", "To", "Subject", "Date", "Message-ID"]
    if reply_to is not None:
        lines.append(_address_header("Reply-To", reply_to, utf8))
        names.append("Reply-To")
    if spec.in_reply_to:
        lines.append(f"In-Reply-To: {spec.in_reply_to}")
        names.append("In-Reply-To")
    if spec.references:
        lines.append(_fold("References:", list(spec.references)))
        names.append("References")
    unsubscribe = [f"<{u}>" for u in (spec.unsubscribe_url, spec.unsubscribe_mailto) if u]
    if unsubscribe:
        # RFC 8058: the https URL is what the one-click POST goes to; mailto is for older clients.
        lines.append(_fold("List-Unsubscribe:", [u + "," for u in unsubscribe[:-1]] + unsubscribe[-1:]))
        names.append("List-Unsubscribe")
        if spec.unsubscribe_url:
            lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
            names.append("List-Unsubscribe-Post")
    for name, value in spec.extra_headers:
        lines.append(_text_header(name, value, utf8))
        names.append(name)
    lines.append("MIME-Version: 1.0")
    names += ["MIME-Version", "Content-Type"]

    text = _with_text_footer(spec.text, spec.postal_address)
    if spec.html is None:
        lines += _text_part("plain", text, boundary=None)
    else:
        html = spec.html
        if spec.click_url is not None:
            keep = tuple(u for u in (spec.unsubscribe_url,) if u)
            html = tracking.rewrite_links(html, spec.click_url, keep=keep)
        if spec.postal_address:
            html = tracking.insert_before_body_end(html, _html_footer(spec.postal_address))
        if spec.open_pixel_url:
            html = tracking.insert_open_pixel(html, spec.open_pixel_url)
        # Derived from the Message-ID, so building the same spec twice gives the same bytes. "=_"
        # cannot occur in quoted-printable or base64 text (7-bit text holding it is sent as
        # quoted-printable), so the boundary never clashes.
        boundary = "=_sc_" + hashlib.sha256(spec.message_id.encode()).hexdigest()[:32]
        lines += [
            "Content-Type: multipart/alternative;", f' boundary="{boundary}"', "",
            f"--{boundary}", *_text_part("plain", text, boundary), "",
            f"--{boundary}", *_text_part("html", html, boundary), "",
            f"--{boundary}--",
        ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8" if utf8 else "ascii"), names


# --- helpers -----------------------------------------------------------------------------------


def _ascii_domain(domain: str) -> str:
    domain = domain.strip().rstrip(".")
    if domain.startswith("[") and domain.endswith("]"):
        if not (domain.isascii() and domain.isprintable()):
            raise InvalidMessage(f"{domain!r} is not a valid address literal")
        return domain  # an address literal
    return _idna_domain(domain)


@functools.lru_cache(maxsize=4096)
def _idna_domain(domain: str) -> str:
    """Cached: IDNA 2008 with UTS 46 mapping runs in Python and cost more than the rest of the
    message; a campaign writes to the same few domains again and again."""
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise InvalidMessage(f"{domain!r} is not a valid domain name: {error}") from None
    return ascii_domain.lower()


def _checked_address(address: Address) -> tuple[str, str, str]:
    """(display name, local part, ASCII domain) of an address fit for a header."""
    email = address.email.strip()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or any(c in email for c in "\r\n<>\", \t\0"):
        raise InvalidMessage(f"{email!r} is not an email address")
    if len(local.encode()) > 64:
        raise InvalidMessage(f"{email!r}: the part before @ is longer than 64 octets")
    if any(c in address.name for c in "\r\n\0"):
        raise InvalidMessage("a display name must be one line")
    return address.name.strip(), local, _ascii_domain(domain)


def _address_header(name: str, address: tuple[str, str, str], utf8: bool) -> str:
    display, local, domain = address
    if not _DOT_ATOM.fullmatch(local):
        local = '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if not display:
        return f"{name}: {local}@{domain}"
    return _fold(f"{name}:", [*_phrase(display, utf8, _MAX_LINE - len(name) - 2), f"<{local}@{domain}>"])


def _phrase(name: str, utf8: bool, first_room: int) -> list[str]:
    """A display name as words to fold: atoms as they are, else one quoted string when it fits
    a line, else atoms as they are between RFC 2047 encoded words for the rest (also for any
    "=?" a reader would decode). Encoded words are never inside a quoted string."""
    atom = _UTF8_ATOM if utf8 else _ATOM
    words = name.split(" ")
    atoms = ["=?" not in w and bool(atom.fullmatch(w)) and len(w) <= first_room for w in words]
    if all(atoms):
        return words
    if "=?" not in name and name.isprintable() and (utf8 or name.isascii()) and len(name) + 2 <= first_room:
        return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    return _mixed_words(name, words, atoms, first_room)


def _text_header(name: str, value: str, utf8: bool) -> str:
    """An unstructured header (Subject, extra headers) folded at its spaces. Words that cannot
    go as they are (non-ASCII without SMTPUTF8, control characters, "=?", too long to fold)
    become encoded words, each run of them together; a value whose spacing folding could not
    keep (leading, trailing or double spaces) is encoded whole."""
    first_room = _MAX_LINE - len(name) - 2
    words = value.split(" ")
    plain = [_is_plain_word(w, utf8, first_room if i == 0 else _MAX_LINE - 1) for i, w in enumerate(words)]
    if all(plain):
        return _fold(f"{name}:", words)
    if not value:
        return f"{name}: "
    return _fold(f"{name}:", _mixed_words(value, words, plain, first_room))


def _mixed_words(value: str, words: list[str], plain: list[bool], first_room: int) -> list[str]:
    """The plain words as they are, each run of the others as encoded words. Readers keep the
    space between an encoded word and a plain one, so runs never need to carry their edges'
    spaces; a value with empty words (leading, trailing or double spaces) is encoded whole."""
    if not all(words):
        return _encoded_words(value, first_room)
    tokens: list[str] = []
    run: list[str] = []
    for word, is_plain in zip(words, plain, strict=True):
        if is_plain:
            if run:
                tokens += _encoded_words(" ".join(run), 75 if tokens else first_room)
                run = []
            tokens.append(word)
        else:
            run.append(word)
    if run:
        tokens += _encoded_words(" ".join(run), 75 if tokens else first_room)
    return tokens


def _is_plain_word(word: str, utf8: bool, limit: int) -> bool:
    return (
        0 < len(word) <= limit
        and (utf8 or word.isascii())
        and word.isprintable()
        and "=?" not in word
    )


def _encoded_words(text: str, first_room: int = 75) -> list[str]:
    """`text` as RFC 2047 UTF-8 encoded words of at most 75 characters (the first at most
    `first_room`, to fit beside the header name), each holding whole characters, each "Q" or
    "B", whichever is shorter. Readers drop the space between two encoded words, so the words
    may be folded anywhere."""
    words: list[str] = []
    room = max(first_room, 24) - 12
    chunk: list[str] = []
    q_length = octets = 0
    for char in text:
        encoded = char.encode()
        q_char = 1 if char in _Q_LITERAL or char == " " else 3 * len(encoded)
        if chunk and min(q_length + q_char, (octets + len(encoded) + 2) // 3 * 4) > room:
            words.append(_encoded_word("".join(chunk), q_length, octets))
            chunk, q_length, octets, room = [], 0, 0, _EW_ROOM
        chunk.append(char)
        q_length += q_char
        octets += len(encoded)
    if chunk:
        words.append(_encoded_word("".join(chunk), q_length, octets))
    return words


def _encoded_word(text: str, q_length: int, octets: int) -> str:
    if q_length <= (octets + 2) // 3 * 4:
        q = "".join(
            c if c in _Q_LITERAL else "_" if c == " " else "".join(f"={b:02X}" for b in c.encode())
            for c in text
        )
        return f"=?utf-8?q?{q}?="
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode('ascii')}?="


def _fold(head: str, tokens: list[str]) -> str:
    """`head` and the tokens separated by single spaces, a line break before a space wherever
    the next token would pass 78 characters (RFC 5322 folding: unfolding restores the value).
    The first token stays beside the header name: readers keep a folded leading space."""
    lines = []
    line = head
    for token in tokens:
        if len(line) + 1 + len(token) > _MAX_LINE and line != head:
            lines.append(line)
            line = " " + token
        else:
            line += " " + token
    lines.append(line)
    return "\r\n".join(lines)


def _text_part(subtype: str, text: str, boundary: str | None) -> list[str]:
    """The header lines, the blank line and the body (without its last CRLF) of a UTF-8 text
    part: 7bit when it is ASCII in lines of at most 78 characters, else quoted-printable or
    base64, whichever is shorter. Any line ending in the source becomes CRLF."""
    lines = text.encode("utf-8").splitlines()
    body = b"\r\n".join(lines) + b"\r\n"
    if (
        max(map(len, lines), default=0) <= _MAX_LINE
        and body.isascii()
        and (boundary is None or boundary.encode("ascii") not in body)
    ):
        encoding = "7bit"
    else:
        quoted = binascii.b2a_qp(body, istext=True)  # keeps the CRLFs, soft breaks at 76
        encoded = base64.encodebytes(body).replace(b"\n", b"\r\n")  # lines of 76
        encoding, body = ("quoted-printable", quoted) if len(quoted) <= len(encoded) else ("base64", encoded)
    return [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        f"Content-Transfer-Encoding: {encoding}",
        "",
        body[:-2].decode("ascii"),
    ]


def _check_spec(spec: MessageSpec) -> None:
    if not _MESSAGE_ID.match(spec.message_id):
        raise InvalidMessage(f"{spec.message_id!r} is not a Message-ID like <id@domain>")
    for name, value in (("in_reply_to", spec.in_reply_to), *(("references", r) for r in spec.references)):
        if value is not None and not _MESSAGE_ID.match(value):
            raise InvalidMessage(f"{name}: {value!r} is not a Message-ID like <id@domain>")
    if spec.date.tzinfo is None or spec.date.utcoffset() is None:
        raise InvalidMessage("the message date must be timezone-aware")
    if any(c in spec.subject for c in "\r\n\0"):
        raise InvalidMessage("the subject must be one line")
    if spec.unsubscribe_url is not None and not _is_header_safe_url(spec.unsubscribe_url, "https://"):
        raise InvalidMessage("unsubscribe_url must be an https URL without spaces or angle brackets")
    if spec.unsubscribe_mailto is not None and not _is_header_safe_url(spec.unsubscribe_mailto, "mailto:"):
        raise InvalidMessage("unsubscribe_mailto must be a mailto: URL")
    for name, value in spec.extra_headers:
        if not _HEADER_NAME.match(name) or name.lower() in _OWN_HEADERS:
            raise InvalidMessage(f"{name!r} cannot be set as an extra header")
        if any(c in value for c in "\r\n\0"):
            raise InvalidMessage(f"the {name} header must be one line")


def _is_header_safe_url(url: str, scheme: str) -> bool:
    return (
        url.lower().startswith(scheme)
        and len(url) > len(scheme)
        and url.isascii()
        and len(url) <= 900  # a header line stays far below 998 octets
        and not any(c in url for c in " \t\r\n<>\"\0")
    )


def _with_text_footer(text: str, postal_address: str) -> str:
    if not postal_address:
        return text
    return text.rstrip("\r\n") + "\n\n" + postal_address.strip() + "\n"


def _html_footer(postal_address: str) -> str:
    lines = "<br>".join(escape(line) for line in postal_address.strip().splitlines())
    return f'<p style="font-size:12px;color:#6b7280">{lines}</p>'
