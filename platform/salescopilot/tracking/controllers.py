"""The public tracking endpoints: open pixel, click redirect, unsubscribe page and RFC 8058
one-click unsubscribe. No session, no CSRF: the signed token is the only credential.

The pixel and the redirect are on the hot path of every opened message: a plain `GET`/`HEAD` of
them is answered by the fast path in front of Litestar (`tracking.fast_path`), which never reaches
the handlers below. They serve what the fast path leaves to the full stack (a request bringing an
API key, which must be refused when wrong; non-canonical paths such as a trailing slash) and skip
the request pipeline's tenant transaction (`no_tenant_transaction`). What both do with a token is
in `tracking.hits`: a host that is no tenant's gets the pipeline's 404; a forged, altered or
truncated token gets the same neutral answer as an unknown one: the pixel still gets its GIF, a
click a plain "link not valid" page; nothing ever redirects to a URL that is not the stored link
of a stored message of the host's tenant (no open redirect).
"""

from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, get, head, post
from litestar.response import Redirect, Template

from salescopilot.outbox.building import CLICK_PATH, OPEN_PATH, UNSUBSCRIBE_PATH
from salescopilot.tenancy.context import TenantRef
from salescopilot.tracking.hits import NO_CACHE, NOT_VALID_PAGE, PIXEL, read_token, take_hit
from salescopilot.tracking.service import TrackingService

__all__ = ["PIXEL", "TrackingEndpoints", "UnsubscribePages"]

#: No CSRF cookie either: a pixel or a link in an email must not set cookies (and it is costly).
_PUBLIC = {"permission": "public", "no_tenant_transaction": True, "exclude_from_csrf": True}


def _tenant(request: Request) -> TenantRef | None:
    """The host's tenant (resolved by the request pipeline, from its cache)."""
    return request.scope.get("state", {}).get("tenant")


async def _take_hit(request: Request, token: str, kind: str) -> str | None:
    from salescopilot.actor import current_actor

    return await take_hit(
        request.app.state, _tenant(request), kind, token, method=request.method,
        ip=current_actor().ip or "", user_agent=request.headers.get("user-agent", ""),
    )


def _pixel() -> Response:
    return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)


def _not_valid() -> Response:
    return Response(NOT_VALID_PAGE, media_type="text/html", status_code=404, headers=NO_CACHE)


def _headers_only(response: Response, length: int) -> Response[None]:
    """The answer to a HEAD: the GET's status and headers (its length too), no body."""
    response.content = b""
    response.headers["content-length"] = str(length)
    return response


class TrackingEndpoints(Controller):
    path = "/"
    include_in_schema = False

    @get(OPEN_PATH + "{token:str}", opt=_PUBLIC)
    async def open_pixel(self, request: Request, token: str) -> Response:
        """The GIF, always; a valid token of this host's tenant also records an open."""
        await _take_hit(request, token, "open")
        return _pixel()

    @head(OPEN_PATH + "{token:str}", opt=_PUBLIC)
    async def open_pixel_head(self, request: Request, token: str) -> Response[None]:
        """Recorded (as a machine open: a person's mail client never asks HEAD)."""
        await _take_hit(request, token, "open")
        return _headers_only(_pixel(), len(PIXEL))

    @get(CLICK_PATH + "{token:str}", opt=_PUBLIC)
    async def click(self, request: Request, token: str) -> Response:
        """A redirect to the stored link, or a neutral page when there is none."""
        url = await _take_hit(request, token, "click")
        if url is None:
            return _not_valid()
        return Redirect(path=url, status_code=302, headers=NO_CACHE)

    @head(CLICK_PATH + "{token:str}", opt=_PUBLIC)
    async def click_head(self, request: Request, token: str) -> Response[None]:
        """The GET's redirect or neutral page without a body (link scanners ask HEAD to see
        where a link goes); recorded as a machine click."""
        url = await _take_hit(request, token, "click")
        if url is None:
            return _headers_only(_not_valid(), len(NOT_VALID_PAGE.encode()))
        return _headers_only(Redirect(path=url, status_code=302, headers=NO_CACHE), 0)


class UnsubscribePages(Controller):
    """`/u/<token>`: GET shows a confirmation page (link scanners follow GETs: it changes
    nothing); POST unsubscribes, from the page's button or a mail provider's RFC 8058 one-click
    POST (`List-Unsubscribe=One-Click`). Both are idempotent."""

    path = UNSUBSCRIBE_PATH.rstrip("/")
    include_in_schema = False

    @get("/{token:str}", opt={"permission": "public"})
    async def page(self, request: Request, token: str) -> Response:
        message = await self._message(request, token)
        if message is None:
            return _neutral_page()
        return Template("unsubscribe.html", context={"done": False, "action": UNSUBSCRIBE_PATH + token},
                        headers=NO_CACHE)

    # Mail providers POST here (RFC 8058 one-click) without any session: the signed token is the
    # credential, so the form-cookie CSRF check does not apply.
    @post("/{token:str}", opt={"permission": "public", "exclude_from_csrf": True}, status_code=200)
    async def unsubscribe(self, request: Request, token: str) -> Response:
        data = read_token(request.app.state, token, "unsubscribe")
        if data is None:
            return _neutral_page()
        body = (await request.body())[:1024]
        one_click = b"list-unsubscribe=one-click" in body.lower().replace(b"%3d", b"=")
        services = request.app.state.services
        done = await TrackingService(services.clock, services.plugin_manager).unsubscribe(
            data.message_key, source="one_click" if one_click else "unsubscribe_page"
        )
        if done is None:
            return _neutral_page()
        return Template("unsubscribe.html", context={"done": True, "action": ""}, headers=NO_CACHE)

    @staticmethod
    async def _message(request: Request, token: str) -> uuid.UUID | None:
        data = read_token(request.app.state, token, "unsubscribe")
        if data is None or not await TrackingService().known_message(data.message_key):
            return None
        return data.message_key


def _neutral_page() -> Response:
    return Template("unsubscribe.html", context={"done": False, "action": "", "invalid": True},
                    status_code=404, headers=NO_CACHE)

