"""The machine-readable parts of delivery and feedback reports (RFC 3464, RFC 5965), read as
"Name: value" blocks whatever the parser made of them, and the Message-ID of a returned message
quoted inline."""

from __future__ import annotations

import binascii
import quopri
import re
from email.message import Message

from salescopilot.mail.classify_parse import (
    MAX_PARTS,
    MAX_TEXT_CHARS,
    decode_bytes,
    first_message_id,
    normalise_lines,
    part_text,
    unescape_surrogates,
)

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,60})[ \t]*:[ \t]*(.*)$")
_MESSAGE_ID_LINE = re.compile(r"(?im)^[ \t>]*message-id[ \t]*:[ \t]*(<[^<>\s]{1,900}>|\S{1,900})")


def part_source(part: Message, limit: int = MAX_TEXT_CHARS) -> str:
    """A report part as header-like text, whatever the parser made of it: compat32 turns
    message/delivery-status into a list of blocks (also when the part is base64 or
    quoted-printable, leaving the encoded text in a block's body: decoded here), other message/*
    types into one attached message, and a mislabelled text/* part stays text."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return part_text(part, limit)
    pieces = []
    for block in payload[:MAX_PARTS]:
        if isinstance(block, Message):
            lines = [f"{k}: {v}" for k, v in block.items()]
            rest = block.get_payload()
            if isinstance(rest, str) and rest.strip():
                lines.append(rest)
            pieces.append("\n".join(lines))
    text = unescape_surrogates("\n\n".join(pieces))[: limit * 2]
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    try:
        if encoding == "base64":
            text = decode_bytes(binascii.a2b_base64(text.encode("ascii", "ignore")))
        elif encoding == "quoted-printable":
            text = decode_bytes(quopri.decodestring(text.encode("utf-8", "replace")))
    except (binascii.Error, ValueError):
        pass  # not really encoded: read it as it is
    return normalise_lines(text[:limit])


def field_blocks(text: str) -> list[dict[str, str]]:
    """The blocks of "Name: value" fields of a report text (blank-line separated, folded lines
    joined), names lowercased; the first value of a repeated name wins."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
            continue
        if line[0] in " \t" and last is not None:
            current[last] += " " + line.strip()
            continue
        match = _FIELD.match(line)
        if match is None:
            continue
        name = match[1].lower()
        if name not in current:
            current[name] = match[2].strip()
            last = name
        else:
            last = None
    if current:
        blocks.append(current)
    return blocks


def message_id_in_text(text: str) -> str | None:
    """The Message-ID of a returned message quoted inline (qmail, Exim, Yahoo: "--- Below this line
    is a copy of the message."), or of an "Original message headers" block."""
    match = _MESSAGE_ID_LINE.search(text)
    if match is None:
        return None
    return first_message_id(match[1])
