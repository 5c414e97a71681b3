"""Reading a hostile inbound message cheaply: bounded parsing, tolerant header and body decoding,
and the "new text" of a reply (what the sender wrote, without the quoted thread or signature).

Every function here returns something usable for any input: a wrong charset decodes with
replacement characters, a broken RFC 2047 word stays as it was, a truncated multipart yields the
parts that arrived.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email
import email.errors
import email.header
import email.parser
import email.utils
import html
import re
from email.message import Message

#: Bytes of a message the classifier reads. Bounce reports put what matters before the returned
#: message, so a huge attachment costs nothing beyond this.
MAX_MESSAGE_BYTES = 512 * 1024
#: Characters of decoded text kept per body part.
MAX_TEXT_CHARS = 64 * 1024
#: MIME parts visited per message (a message can nest thousands).
MAX_PARTS = 64
#: More multiparts than this and only the headers are parsed: real mail nests a handful, and the
#: parser's cost (and recursion) grows with the nesting.
MAX_MULTIPARTS = 200

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,900})>")
_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
)
_ANGLE_ADDRESS = re.compile(r"<([^<>@\s]{1,64}@[^<>\s]{1,255})>")
_HTML_DROP = re.compile(r"(?is)<(script|style|head)\b.*?</\1\s*>|<!--.*?-->")
_HTML_BREAK = re.compile(r"(?i)<\s*(br|/p|/div|/tr|/li|/h\d|/blockquote)\b[^>]*>")
_HTML_BLOCKQUOTE = re.compile(r"(?is)<blockquote\b.*?(</blockquote\s*>|$)")
_HTML_TAG = re.compile(r"<[^>]{0,2000}>")
_HORIZONTAL_SPACE = re.compile(r"[ \t\r\f\v\xa0]+")


def parse_message(raw: bytes) -> Message:
    """The message of `raw` (at most MAX_MESSAGE_BYTES of it), parsed with the compat32 policy:
    the fastest, and the one that records defects instead of raising. The parser recurses once
    per nested multipart, so a message nested thousands deep is read for its headers only."""
    raw = raw[:MAX_MESSAGE_BYTES]
    if raw.lower().count(b"multipart/") > MAX_MULTIPARTS:
        return email.parser.BytesParser().parsebytes(raw, headersonly=True)
    try:
        return email.message_from_bytes(raw)
    except RecursionError:
        return email.parser.BytesParser().parsebytes(raw, headersonly=True)


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text of `data` in its declared charset, else UTF-8, else Windows-1252 with replacement
    (the usual truth of mislabelled mail). An unknown or non-text codec name is ignored."""
    if charset:
        try:
            return data.decode(charset.strip().strip('"').lower())
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def unescape_surrogates(value: str) -> str:
    """compat32 keeps raw 8-bit header bytes as surrogate escapes: turn them back into text."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return decode_bytes(value.encode("ascii", "surrogateescape"))


def header_text(message: Message, name: str) -> str:
    """The first `name` header, RFC 2047 words decoded, unfolded; "" when absent."""
    value = message.get(name)
    if value is None:
        return ""
    return decode_header_value(str(value))


def decode_header_value(value: str) -> str:
    value = unescape_surrogates(value)
    if "=?" in value:
        try:
            chunks = email.header.decode_header(value)
            value = "".join(
                decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk
                for chunk, charset in chunks
            )
        except (email.errors.HeaderParseError, binascii.Error, ValueError, LookupError,
                UnicodeError):
            pass
    return " ".join(value.split())


def message_ids(value: str) -> tuple[str, ...]:
    """The Message-IDs in a header value, as "<id>", in order, without repeats. A lone id without
    angle brackets (some clients write that) counts too."""
    found = [f"<{m}>" for m in _MESSAGE_ID.findall(value)]
    if not found:
        bare = value.strip()
        if bare and "@" in bare and len(bare) < 900 and not any(c.isspace() for c in bare):
            found = [f"<{bare}>"]
    return tuple(dict.fromkeys(found))


def first_message_id(value: str) -> str | None:
    ids = message_ids(value)
    return ids[0] if ids else None


def header_date(value: str) -> dt.datetime | None:
    """A Date header's moment (UTC when it names no zone), or None when it is missing or not a
    date a sender's software could have meant."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def address_of(value: str) -> str | None:
    """The bare address in a header value or DSN field ("rfc822; a@b", "Name <a@b>"), lowercased."""
    if not value:
        return None
    if ";" in value:
        value = value.split(";", 1)[1]
    # The address in angle brackets wins over one in a display name ("a@b" <c@d>); cheaper than
    # email.utils.parseaddr, which tokenises the whole value.
    angle = _ANGLE_ADDRESS.search(value)
    match = _ADDRESS.search(angle[1] if angle else value)
    return match[0].lower().rstrip(".") if match else None


def addresses_in(text: str) -> list[str]:
    return [a.lower().rstrip(".") for a in _ADDRESS.findall(text)]


def content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except (AttributeError, ValueError, TypeError):
        return "text/plain"


def part_text(part: Message, limit: int = MAX_TEXT_CHARS) -> str:
    """Decoded text of a non-multipart part (transfer encoding and charset), at most `limit`."""
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, TypeError, binascii.Error, AssertionError):
        payload = None
    if payload is None:
        raw = part.get_payload()
        text = unescape_surrogates(raw[:limit]) if isinstance(raw, str) else ""
    else:
        try:
            charset = part.get_content_charset()
        except (ValueError, TypeError, LookupError):
            charset = None
        text = decode_bytes(payload[: limit * 4], charset)[:limit]
    return normalise_lines(text)


def normalise_lines(text: str) -> str:
    """One newline convention (messages arrive with CRLF, LF, or both)."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def html_to_text(markup: str) -> str:
    """Readable text of an HTML body: quoted blocks and scripts dropped, breaks kept as lines."""
    markup = _HTML_DROP.sub(" ", markup)
    markup = _HTML_BLOCKQUOTE.sub("\n", markup)
    markup = _HTML_BREAK.sub("\n", markup)
    text = html.unescape(_HTML_TAG.sub(" ", markup))
    return "\n".join(_HORIZONTAL_SPACE.sub(" ", line).strip() for line in text.split("\n"))


def walk(message: Message):
    """The parts of `message` depth first, at most MAX_PARTS, never entering an attached message
    (message/rfc822): its text is the original we sent, not what came back."""
    stack = [message]
    seen = 0
    while stack and seen < MAX_PARTS:
        part = stack.pop()
        seen += 1
        yield part
        if part.is_multipart() and content_type(part).startswith("multipart/"):
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(reversed(children))


def is_attachment(part: Message) -> bool:
    disposition = str(part.get("Content-Disposition", "")).lower()
    return disposition.startswith("attachment")


def body_text(inbound: Inbound) -> str:
    """The readable body: the first inline text/plain part, else the first text/html as text."""
    html_part = None
    for part, kind in inbound.parts:
        if part.is_multipart() or is_attachment(part):
            continue
        if kind == "text/plain":
            return part_text(part)
        if kind == "text/html" and html_part is None:
            html_part = part
    if html_part is not None:
        return html_to_text(part_text(html_part))
    return ""


class Inbound:
    """One parsed message with its headers indexed and its parts listed once: the checks ask for
    dozens of headers and walk the parts several times, and compat32 answers each header lookup
    with a scan of every header."""

    __slots__ = ("message", "parts", "_headers", "_decoded", "_original")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.parts = [(part, content_type(part)) for part in walk(message)]
        self._headers: dict[str, str] = {}
        for name, value in message.raw_items():
            self._headers.setdefault(str(name).lower(), str(value))
        self._decoded: dict[str, str] = {}
        self._original: tuple[str | None, Message | None] | None = None

    def header(self, name: str) -> str:
        """The first `name` header, decoded (see `decode_header_value`); "" when absent."""
        key = name.lower()
        decoded = self._decoded.get(key)
        if decoded is None:
            raw = self._headers.get(key)
            decoded = "" if raw is None else decode_header_value(raw)
            self._decoded[key] = decoded
        return decoded

    def has(self, name: str) -> bool:
        return name.lower() in self._headers

    def part_of_type(self, *types: str) -> Message | None:
        for part, kind in self.parts:
            if kind in types:
                return part
        return None

    def original(self) -> tuple[str | None, Message | None]:
        """(Message-ID, headers) of the message a report returns (see `attached_original`)."""
        if self._original is None:
            self._original = attached_original(self)
        return self._original


# -- what the sender wrote ------------------------------------------------------------------------

#: A line that starts the quoted thread, in the languages we classify.
_QUOTE_START = re.compile(
    r"""(?imx)^[ \t]*(?:
      on\b.{0,200}\bwrote:?                       # en
    | am\b.{0,200}\bschrieb\b.{0,120}            # de
    | le\b.{0,200}\ba\ écrit\s*:?                # fr
    | el\b.{0,200}\bescribió:?                    # es
    | em\b.{0,200}\bescreveu:?                    # pt
    | op\b.{0,200}\bschreef\b.{0,120}            # nl
    | (?:den\b)?.{0,200}\bskrev\b.{0,120}:       # sv
    | -{2,}\s*(?:original\ message|ursprüngliche\ nachricht|message\ d'origine|mensaje\ original
              |mensagem\ original|oorspronkelijk\ bericht|ursprungligt\ meddelande
              |forwarded\ message)\s*-{2,}
    | _{10,}
    | (?:from|von|de|van|från|da)\s?:\s.{1,200}\n[ \t]*(?:sent|gesendet|envoyé|enviado|verzonden
              |skickat|date|datum|fecha|data)\s?:
    )""",
)
_SIGNATURE = re.compile(r"(?m)^-- ?$")


def new_text(body: str) -> str:
    """What the sender wrote in this message: the body before the quoted thread (an attribution
    line, an "Original Message" separator, an Outlook header block) and before a "-- " signature,
    without ">" quoted lines. When nothing precedes the attribution, the sender answered below
    the quote ("bottom-posting"), and what follows it counts instead."""
    cut = _QUOTE_START.search(body)
    if cut is not None:
        above = body[: cut.start()]
        body = above if above.strip() else body[cut.end():]
    signature = _SIGNATURE.search(body)
    if signature is not None:
        body = body[: signature.start()]
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith(">"))


# -- the message a report returns ------------------------------------------------------------------

def attached_original(inbound: Inbound) -> tuple[str | None, Message | None]:
    """(Message-ID, headers) of the message a report returns: an attached message/rfc822 (or
    RFC 6532 message/global) or text/rfc822-headers part."""
    for part, kind in inbound.parts:
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                return first_message_id(header_text(inner, "Message-ID")), inner
        elif kind in ("text/rfc822-headers", "message/rfc822-headers", "text/global-headers"):
            inner = email.message_from_string(part_text(part))
            return first_message_id(header_text(inner, "Message-ID")), inner
    return None, None
