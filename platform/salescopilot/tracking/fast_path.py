"""The open pixel and the click redirect, answered in front of Litestar.

Every opened message fetches its pixel and every click passes through here, so these two routes
skip what every other route pays for: Litestar's routing, its Prometheus middleware, the request
pipeline's actor and logging context, the guard. Measured in-process, that stack cost 130 to
160 µs of CPU per pixel against about 21 µs for a bare Litestar route returning the same GIF;
answered here, about 25 µs (benchmarks/README.md, `tracking_cpu`).

`TrackingFastPath` wraps the Litestar app's ASGI handler (`create_app` installs it) and answers
exactly `GET` and `HEAD` of `/t/o/<token>` and `/t/c/<token>` (one path segment) itself, with
the same collaborators as the full path: the tenant from the Host through the app's cached
`TenantResolver` (forwarded headers only from trusted proxies, as `client_address` decides), the
token and the hit through `tracking.hits`, the app's `EventBuffer`. The answers are byte for byte
those of the Litestar handlers in `tracking.controllers`, X-Request-Id included (a `HEAD` gets
the status and headers of the `GET`, without the body); each is counted in `salescopilot_tracking_requests_total`, since Litestar's Prometheus middleware never
sees it.

Everything else goes to Litestar untouched: other paths and methods, a path that is not exactly
one segment after the prefix (Litestar normalises those), a request bringing an API key (the full
path refuses a wrong one), and a request that meets an error before anything is sent (a database
that cannot resolve the host, say): the full stack then answers it with the app's own error
handling, so failures look exactly as before.
"""

from __future__ import annotations

import structlog
from litestar.datastructures import Headers
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils import url_quote
from prometheus_client import Counter

from salescopilot.actor import Actor, acting_as
from salescopilot.outbox.building import CLICK_PATH, OPEN_PATH
from salescopilot.tracking.hits import NO_CACHE, NOT_VALID_PAGE, PIXEL, take_hit
from salescopilot.web.errors import error_body
from salescopilot.web.middleware import bearer_token, client_address, request_id_of, send_json, with_request_id

log = structlog.get_logger("salescopilot.tracking")

TRACKING_REQUESTS = Counter(
    "salescopilot_tracking_requests_total",
    "Open pixel and click requests answered by the tracking fast path (the requests it leaves to "
    "Litestar are counted in litestar_requests_total).",
    ["kind", "method", "status_code"],
)

_NO_CACHE = [(name.lower().encode(), value.encode()) for name, value in NO_CACHE.items()]
_PIXEL_HEADERS = [(b"content-type", b"image/gif"), *_NO_CACHE, (b"content-length", str(len(PIXEL)).encode())]
_NOT_VALID = NOT_VALID_PAGE.encode()
_NOT_VALID_HEADERS = [(b"content-type", b"text/html; charset=utf-8"), *_NO_CACHE,
                      (b"content-length", str(len(_NOT_VALID)).encode())]
_REDIRECT_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), *_NO_CACHE, (b"content-length", b"0")]
_PREFIXES = ((OPEN_PATH, "open"), (CLICK_PATH, "click"))


class TrackingFastPath:
    """ASGI app in front of Litestar's handler; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._counters: dict[tuple[str, str, int], Counter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _tracking_route(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        kind, token = route
        headers = Headers.from_scope(scope)
        if bearer_token(headers) is not None:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        method = scope["method"]
        ip, host = client_address(scope, headers, state.trusted_proxies)
        request_id = request_id_of(headers)
        try:
            resolved = await state.tenant_resolver.resolve(host)
            url = None if resolved is None else await take_hit(
                state, resolved.ref, kind, token, method=method, ip=ip or "",
                user_agent=headers.get("user-agent", ""),
            )
        except Exception:  # noqa: BLE001 - nothing sent, nothing queued: the full stack answers it
            log.warning("tracking_fast_path_fell_back", path=scope["path"], exc_info=True)
            await self.app(scope, receive, send)
            return
        if resolved is None:
            # The request pipeline's answer to a host that is no tenant's.
            with acting_as(Actor(kind="anonymous", ip=ip, user_agent=headers.get("user-agent", "")[:512],
                                 request_id=request_id)):
                await send_json(with_request_id(send, request_id), 404, error_body("NOT_FOUND", "Not found."))
            self._count(kind, method, 404)
            return
        if kind == "open":
            status, answer, body = 200, _PIXEL_HEADERS, PIXEL
        elif url is None:
            status, answer, body = 404, _NOT_VALID_HEADERS, _NOT_VALID
        else:
            status, answer, body = 302, [(b"location", url_quote(url).encode()), *_REDIRECT_HEADERS], b""
        if method == "HEAD":
            body = b""
        await send({"type": "http.response.start", "status": status,
                    "headers": [*answer, (b"x-request-id", request_id.encode())]})
        await send({"type": "http.response.body", "body": body})
        self._count(kind, method, status)

    def _count(self, kind: str, method: str, status: int) -> None:
        key = (kind, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = TRACKING_REQUESTS.labels(kind, method, str(status))
        counter.inc()


def _tracking_route(scope: Scope) -> tuple[str, str] | None:
    """(kind, token) of a `GET`/`HEAD` of exactly `<prefix><one segment>`, else None."""
    if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
        return None
    path = scope["path"]
    for prefix, kind in _PREFIXES:
        if path.startswith(prefix):
            token = path[len(prefix):]
            return (kind, token) if token and "/" not in token else None
    return None
