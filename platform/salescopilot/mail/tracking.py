"""The link side of open and click tracking: rewriting `<a href>` links, the open pixel, and the
compact signed tokens those URLs carry. (The HTTP endpoints that read them are elsewhere.)

HTML is read with the standard library's `html.parser`, and only the `href` values of the links
it rewrites change: every other byte of the author's HTML stays as written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from salescopilot.settings import Settings

TokenKind = Literal["open", "click", "unsubscribe"]

_KIND_CODES: dict[str, int] = {"open": 1, "click": 2, "unsubscribe": 3}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}
#: 96 bits of HMAC-SHA256: forging a token takes ~2^96 tries.
_MAC_BYTES = 12
#: kind (1) + message key (16) + link index (2) + MAC.
_TOKEN_BYTES = 1 + 16 + 2 + _MAC_BYTES
MAX_LINK_INDEX = 0xFFFF


@dataclass(frozen=True, slots=True)
class TrackingToken:
    kind: TokenKind
    message_key: uuid.UUID
    link_index: int = 0


class TrackingTokens:
    """Makes and reads the URL-safe tokens of tracking links (42 characters)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the tracking secret must be at least 16 bytes")
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> TrackingTokens:
        """Keyed by `crypto.derive_key(secret_key, "tracking")`."""
        from salescopilot.crypto import derive_key

        return cls(derive_key(settings.secret_key.get_secret_value(), "tracking"))

    def make(self, kind: TokenKind, message_key: uuid.UUID, link_index: int = 0) -> str:
        if kind not in _KIND_CODES:
            raise ValueError(f"unknown tracking token kind {kind!r}")
        if not 0 <= link_index <= MAX_LINK_INDEX:
            raise ValueError(f"link index must be 0..{MAX_LINK_INDEX}")
        body = bytes([_KIND_CODES[kind]]) + message_key.bytes + link_index.to_bytes(2, "big")
        raw = body + self._mac(body)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def read(self, token: str) -> TrackingToken | None:
        """The token's contents, or None when it is forged, altered or garbled."""
        if not isinstance(token, str) or len(token) != _encoded_length() or not token.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _TOKEN_BYTES:
            return None
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        # The base64 alphabet leaves spare bits in the last character; a token differing only
        # there decodes to the same bytes, so insist on the one canonical spelling.
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
            return None
        kind = _CODE_KINDS.get(body[0])
        if kind is None:
            return None
        return TrackingToken(kind, uuid.UUID(bytes=body[1:17]), int.from_bytes(body[17:19], "big"))

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:_MAC_BYTES]


def _encoded_length() -> int:
    return len(base64.urlsafe_b64encode(bytes(_TOKEN_BYTES)).rstrip(b"="))


# --- HTML --------------------------------------------------------------------------------------


def rewrite_links(
    html: str, click_url: Callable[[int, str], str], *, keep: Iterable[str] = ()
) -> str:
    """`html` with the href of each trackable link replaced by `click_url(index, original)`.

    Trackable: `<a href>` with an http(s) URL. Left alone: other schemes (mailto:, tel:),
    anchors (#...), links marked `data-no-track`, and URLs listed in `keep` (the unsubscribe
    link). Indexes count the rewritten links in document order from 0.
    """
    finder = _LinkFinder(html, frozenset(keep))
    replacements: list[tuple[int, int, str]] = []
    for index, (start, end, url) in enumerate(finder.links):
        replacements.append((start, end, escape(click_url(index, url), quote=True)))
    out, position = [], 0
    for start, end, value in replacements:
        out.append(html[position:start])
        out.append(value)
        position = end
    out.append(html[position:])
    return "".join(out)


def trackable_links(html: str, *, keep: Iterable[str] = ()) -> list[str]:
    """The original URLs `rewrite_links` replaces, by link index."""
    return [url for _, _, url in _LinkFinder(html, frozenset(keep)).links]


def insert_open_pixel(html: str, url: str) -> str:
    """`html` with a 1x1 image loading `url` at the end of its body."""
    pixel = (
        f'<img src="{escape(url, quote=True)}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px">'
    )
    return insert_before_body_end(html, pixel)


def insert_before_body_end(html: str, fragment: str) -> str:
    """`fragment` placed just before the document's `</body>` (at the end when it has none)."""
    position = _LastBodyEnd(html).body_end
    if position is None:
        return html + fragment
    return html[:position] + fragment + html[position:]


class _OffsetParser(HTMLParser):
    """An HTMLParser that knows the character offset of the tag it is looking at."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self._html = html
        self._line_starts = [0]
        for index, char in enumerate(html):
            if char == "\n":
                self._line_starts.append(index + 1)

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def run(self) -> None:
        self.feed(self._html)
        self.close()


class _LinkFinder(_OffsetParser):
    def __init__(self, html: str, keep: frozenset[str]) -> None:
        super().__init__(html)
        self._keep = keep
        #: (start, end, unescaped URL) of each href value to rewrite, in document order.
        self.links: list[tuple[int, int, str]] = []
        self.run()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        names = {name for name, _ in attrs}
        if "data-no-track" in names:
            return
        hrefs = [value for name, value in attrs if name == "href"]
        if len(hrefs) != 1 or not hrefs[0]:
            return
        url = hrefs[0].strip()
        if not url.lower().startswith(("http://", "https://")) or url in self._keep:
            return
        span = _href_value_span(self.get_starttag_text() or "")
        if span is not None:
            start = self._offset()
            self.links.append((start + span[0], start + span[1], url))

    handle_startendtag = handle_starttag


class _LastBodyEnd(_OffsetParser):
    def __init__(self, html: str) -> None:
        super().__init__(html)
        self.body_end: int | None = None
        self.run()

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.body_end = self._offset()


def _href_value_span(tag_text: str) -> tuple[int, int] | None:
    """Where the href attribute's value sits inside one start tag's text (quotes excluded).

    Walks the attributes the way the HTML tokenizer does, so `data-href=` or an `href` inside
    another attribute's quoted value is never mistaken for it.
    """
    i, n = 1, len(tag_text)
    while i < n and not (tag_text[i].isspace() or tag_text[i] in "/>"):
        i += 1  # the tag name
    while i < n:
        while i < n and (tag_text[i].isspace() or tag_text[i] == "/"):
            i += 1
        if i >= n or tag_text[i] == ">":
            return None
        name_start = i
        while i < n and not (tag_text[i].isspace() or tag_text[i] in "=/>"):
            i += 1
        name = tag_text[name_start:i].lower()
        while i < n and tag_text[i].isspace():
            i += 1
        if i >= n or tag_text[i] != "=":
            continue  # an attribute without a value
        i += 1
        while i < n and tag_text[i].isspace():
            i += 1
        if i < n and tag_text[i] in "\"'":
            quote = tag_text[i]
            end = tag_text.find(quote, i + 1)
            if end == -1:
                return None
            value_span = (i + 1, end)
            i = end + 1
        else:
            start = i
            while i < n and not (tag_text[i].isspace() or tag_text[i] == ">"):
                i += 1
            value_span = (start, i)
        if name == "href":
            return value_span
    return None
