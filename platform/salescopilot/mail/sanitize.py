"""Email HTML written in the browser, made safe to store, show and send.

`clean_email_html` keeps an allow-list of tags, attributes, URL schemes and style properties
(Ammonia, through nh3) and drops everything else: scripts and styles with their content, event
handlers, `javascript:`/`data:` URLs, forms, frames, embedded objects. Template tags
(`{{firstName|there}}`, `{{#if company}}`) are plain text to it and pass through, also inside
`href` (a relative URL until rendered). `text_from_html` derives the plain-text alternative a
multipart message carries next to the HTML.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

#: What a sales email needs: text formatting, links, lists, quotes, headings, simple tables and
#: images by URL.
TAGS = frozenset({
    "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "hr", "i",
    "img", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "u", "ul",
})
ATTRIBUTES = {
    "*": {"style"},
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "table": {"width"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
STYLE_PROPERTIES = frozenset({
    "color", "background-color", "font-weight", "font-style", "text-decoration", "text-align",
    "font-size", "font-family", "line-height", "margin", "padding", "border", "width", "height",
})
#: Removed together with everything inside them (the others lose only their tags).
DROPPED_WITH_CONTENT = frozenset({"script", "style", "template", "noscript", "iframe", "object",
                                  "embed", "title", "head", "svg", "math", "select", "textarea"})

_CLEANER = nh3.Cleaner(
    tags=set(TAGS), attributes={k: set(v) for k, v in ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES), clean_content_tags=set(DROPPED_WITH_CONTENT),
    filter_style_properties=set(STYLE_PROPERTIES), link_rel=None, strip_comments=True,
)


def clean_email_html(source: str) -> str:
    """`source` with only allowed markup left (see the module docstring); "" for HTML that has
    no visible content (the editor's empty `<div><br></div>`)."""
    cleaned = _CLEANER.clean(source or "").strip()
    if not text_from_html(cleaned).strip() and "<img" not in cleaned:
        return ""
    return cleaned


_BLOCKS = frozenset({"p", "div", "blockquote", "h1", "h2", "h3", "h4", "pre", "table", "tr", "ul", "ol", "hr"})


class _TextWriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.links: list[str] = []
        self.lists: list[list[int | None]] = []
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.out.append("\n\n")
        if tag == "br":
            self.out.append("\n")
        elif tag == "pre":
            self.pre += 1
        elif tag in ("ul", "ol"):
            self.lists.append([1 if tag == "ol" else None])
        elif tag == "li":
            counter = self.lists[-1] if self.lists else [None]
            indent = "  " * max(0, len(self.lists) - 1)
            if counter[0] is None:
                self.out.append(f"\n{indent}- ")
            else:
                self.out.append(f"\n{indent}{counter[0]}. ")
                counter[0] += 1
        elif tag in ("td", "th"):
            self.out.append("\t")
        elif tag == "a":
            self.links.append(dict(attrs).get("href") or "")
            self.out.append("\x00")  # where the link text starts
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.out.append("\n\n")
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        elif tag == "a" and self.links:
            href = self.links.pop()
            start = max((i for i, part in enumerate(self.out) if part == "\x00"), default=None)
            text = "".join(self.out[start + 1:]) if start is not None else ""
            if start is not None:
                self.out[start] = ""
            label = " ".join(text.split())
            if href and not href.startswith("mailto:") and href not in (label, "#"):
                self.out.append(f" ({href})" if label else href)

    def handle_data(self, data: str) -> None:
        self.out.append(data if self.pre else re.sub(r"\s+", " ", data))


def text_from_html(source: str) -> str:
    """The readable plain text of an HTML body: paragraphs separated by a blank line, line
    breaks kept, list items as "- " (or numbered), link targets in brackets after their text."""
    writer = _TextWriter()
    writer.feed(source or "")
    writer.close()
    text = "".join(part for part in writer.out if part != "\x00").replace("\xa0", " ")
    lines = [line.strip(" ") if not line.startswith("  ") else line.rstrip(" ") for line in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text + ("\n" if text else "")
