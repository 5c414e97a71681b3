"""/dev/mail: the messages the catcher received. Registered only while the catcher is enabled.

A message's HTML is never put into the page itself: it is served by its own route with a CSP
`sandbox` header (no scripts, no same-origin access, no remote loads) and shown in a sandboxed
iframe, so whatever a message contains cannot act in the app."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from litestar import Controller, Request, Response, get
from litestar.response import Template

from salescopilot.mailcatcher.server import catcher_store

#: The HTML of a message: an opaque origin, nothing loaded but inline styles and data: images.
HTML_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'self'"
)
PERMISSION = "mailcatcher.read"


class MailCatcherPages(Controller):
    path = "/dev/mail"
    include_in_schema = False

    @get("/", opt={"permission": PERMISSION})
    async def list_messages(self, request: Request) -> Template:
        store = catcher_store(request.app.state.settings)
        return Template("mailcatcher/list.html", context={"messages": store.list()})

    @get("/{message_id:str}", opt={"permission": PERMISSION})
    async def show_message(self, request: Request, message_id: str) -> Template:
        store = catcher_store(request.app.state.settings)
        entry = store.entry(message_id)
        parsed = _parse(store.raw(message_id))
        return Template(
            "mailcatcher/message.html",
            context={
                "entry": entry,
                "headers": [(name, str(value)) for name, value in _headers(parsed)],
                "text": _part_text(parsed, "plain"),
                "has_html": parsed.get_body(preferencelist=("html",)) is not None,
            },
        )

    @get("/{message_id:str}/html", opt={"permission": PERMISSION})
    async def message_html(self, request: Request, message_id: str) -> Response:
        store = catcher_store(request.app.state.settings)
        html = _part_text(_parse(store.raw(message_id)), "html") or ""
        return Response(
            html,
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": HTML_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )

    @get("/{message_id:str}/raw", opt={"permission": PERMISSION})
    async def message_raw(self, request: Request, message_id: str) -> Response:
        store = catcher_store(request.app.state.settings)
        raw = store.raw(message_id)
        return Response(
            raw,
            media_type="message/rfc822",
            headers={
                "Content-Disposition": f'attachment; filename="{message_id}.eml"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _headers(message: EmailMessage) -> list[tuple[str, object]]:
    shown = []
    for name in message.keys():
        try:
            shown.append((name, message[name]))
        except (ValueError, LookupError, UnicodeError, IndexError):
            shown.append((name, "(unreadable header)"))
    return shown


def _part_text(message: EmailMessage, subtype: str) -> str | None:
    """The text of the message's plain or HTML body, decoded leniently (a wrong charset label
    shows replacement characters, never an error page)."""
    try:
        part = message.get_body(preferencelist=(subtype,))
    except (ValueError, LookupError, IndexError):
        return None
    if part is None:
        return None
    try:
        return part.get_content()
    except (LookupError, UnicodeError, ValueError, KeyError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")
