"""What a request for an open pixel or a click link does, whichever way it reached the app: the
fast path in front of Litestar (`tracking.fast_path`) or the Litestar handlers
(`tracking.controllers`, for the requests the fast path leaves to them). Both answer with the
bytes and headers defined here, so the two cannot drift apart.

A valid token of the right kind, naming a message of the host's tenant, queues one hit for the
batch writer (`EventBuffer`); anything else queues nothing. Nothing here ever redirects to a URL
that is not the stored link of a stored message of the host's tenant (no open redirect).
"""

from __future__ import annotations

import base64
from typing import Any

from salescopilot.mail.tracking import TrackingToken, TrackingTokens
from salescopilot.tenancy.context import TenantRef, tenant_scope
from salescopilot.tracking.service import Hit, TrackingService, cached_destination, remember_destination

#: A transparent 1x1 GIF (the smallest widely rendered image).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}
#: The neutral answer to a click link that leads nowhere (forged, altered, unknown).
NOT_VALID_PAGE = (
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Link not valid</title>"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head><body>"
    "<main><h1>This link is not valid</h1><p>It may have been copied incompletely.</p></main></body></html>"
)


def tracking_tokens(state: Any) -> TrackingTokens:
    """The app's token signer (made once per app, from its settings)."""
    tokens = state.get("tracking_tokens")
    if tokens is None:
        tokens = state.tracking_tokens = TrackingTokens.from_settings(state.settings)
    return tokens


def read_token(state: Any, token: str, kind: str) -> TrackingToken | None:
    """The token's contents when it is genuine and of `kind`, else None."""
    data = tracking_tokens(state).read(token)
    return data if data is not None and data.kind == kind else None


async def take_hit(state: Any, tenant: TenantRef | None, kind: str, token: str, *,
                   method: str, ip: str, user_agent: str) -> str | None:
    """Queue the hit of a `kind` ("open" or "click") token for the host's tenant. Returns None
    when the token is not valid (forged, another kind, no host tenant, for a click: no such
    message or link), else the click's destination ("" for an open)."""
    data = read_token(state, token, kind)
    if data is None or tenant is None:
        return None
    url = ""
    if kind == "click":
        url = await destination(tenant, data)
        if url is None:
            return None
    buffer = state.get("tracking_buffer")
    if buffer is not None:  # None: the app is not started (no buffer to write through)
        buffer.add(Hit(
            tenant_id=tenant.id, tenant_slug=tenant.slug, kind=kind, message=data.message_key,
            link_index=data.link_index, occurred_at=state.services.clock.now(),
            ip=ip, user_agent=user_agent[:512], method=method, url=url,
        ))
    return url


async def destination(tenant: TenantRef, data: TrackingToken) -> str | None:
    """The stored URL of the token's link (read once per process, then cached), or None."""
    url = cached_destination(tenant.id, data.message_key, data.link_index)
    if url is not None:
        return url
    async with tenant_scope(tenant, write=False):
        links = await TrackingService().links_of(data.message_key)
    if links is None:
        return None
    remember_destination(tenant.id, data.message_key, links)
    return links[data.link_index] if 0 <= data.link_index < len(links) else None
