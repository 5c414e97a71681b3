"""The request pipeline around every route handler:

request id → client IP (forwarded headers only from trusted proxies) → tenant from the Host
(unknown host: 404) → one tenant scope (transaction) for the whole request → principal from the
session cookie or API key → the handler → commit before the response leaves (roll back when it is
an error, so a failed request writes nothing).

The open pixel and the click redirect are answered before Litestar's router by
`tracking.fast_path`, which reuses the pieces below (client address, request id, the 404 of an
unknown host).
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec
import structlog
from litestar.datastructures import Headers
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from salescopilot.accounts.api_keys import ApiKeyService
from salescopilot.accounts.service import AccountService
from salescopilot.actor import Actor, acting_as, with_identity
from salescopilot.scim.tokens import ScimTokenService
from salescopilot.errors import DomainError, NotAuthenticated, PermissionDenied
from salescopilot.tenancy.context import tenant_context, tenant_scope
from salescopilot.web.errors import error_body
from salescopilot.web.theming import set_current_brand

log = structlog.get_logger("salescopilot.web")

SCIM_PATH = "/scim/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, entries: list[str]) -> TrustedProxies:
        return cls(tuple(ipaddress.ip_network(e, strict=False) for e in entries))

    def trusts(self, ip: str | None) -> bool:
        if not ip or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def client_address(scope: Scope, headers: Headers, proxies: TrustedProxies) -> tuple[str | None, str]:
    """(client IP, Host) honouring X-Forwarded-For/-Host only when the peer is a trusted proxy."""
    peer = scope.get("client")[0] if scope.get("client") else None
    host = headers.get("host", "")
    if proxies.trusts(peer):
        forwarded_for = headers.get("x-forwarded-for")
        if forwarded_for:
            # Walk from the right, skipping our own proxies: the first untrusted hop is the client.
            hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
            for hop in reversed(hops):
                peer = hop
                if not proxies.trusts(hop):
                    break
        host = headers.get("x-forwarded-host", host).split(",")[0].strip()
    return peer, host


def request_id_of(headers: Headers) -> str:
    """The caller's X-Request-Id when it is a sane one, else a new id."""
    request_id = headers.get("x-request-id", "")
    return request_id if _REQUEST_ID.match(request_id) else uuid.uuid4().hex


class RequestPipeline:
    """ASGI middleware; see the module docstring. One instance per route stack."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        headers = Headers.from_scope(scope)
        request_id = request_id_of(headers)
        ip, host = client_address(scope, headers, state.trusted_proxies)
        actor = Actor(
            kind="anonymous", ip=ip, user_agent=headers.get("user-agent", "")[:512], request_id=request_id
        )
        send = with_request_id(send, request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            with acting_as(actor):
                await self._dispatch(scope, receive, send, headers, host)
        finally:
            structlog.contextvars.unbind_contextvars("request_id", "tenant")
            log.debug(
                "request", method=scope["method"], path=scope["path"],
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send, headers: Headers, host: str) -> None:
        opt = scope["route_handler"].opt
        if opt.get("tenantless"):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        resolved = await state.tenant_resolver.resolve(host)
        if resolved is None:
            await send_json(send, 404, error_body("NOT_FOUND", "Not found."))
            return
        tenant = resolved.ref
        structlog.contextvars.bind_contextvars(tenant=tenant.slug)
        scope.setdefault("state", {})["tenant"] = tenant
        if opt.get("no_tenant_transaction") and bearer_token(headers) is None:
            # Public hot paths (the tracking pixel and click redirect, when their fast path in front
            # of Litestar leaves a request to the full stack): no principal, no brand (they
            # render no page), and no transaction held across the handler; it opens its own short
            # scope if it needs one. (A request that brings an API key takes the full path, where
            # a wrong key is refused.)
            await self.app(scope, receive, send)
            return
        set_current_brand(
            state.theming.brand(tenant.slug, resolved.name, resolved.theme, resolved.theme_tokens)
        )
        writes = _writes(scope)
        if opt.get("own_transactions"):
            await self._dispatch_outside_transaction(scope, receive, send, headers, tenant, writes)
            return
        async with tenant_scope(tenant, write=writes) as tscope:
            keys = ApiKeyService(clock=state.services.clock, permissions=state.services.permissions)
            try:
                await self._authenticate(scope, headers, keys, writes)
            except DomainError as error:
                # Answered here, inside the request's id and actor, so the envelope's requestId
                # is the X-Request-Id sent with it (raised, it would reach Litestar's handler
                # outside this middleware, without either).
                await tscope.rollback()
                await _send_error(scope, receive, send, error)
                return
            responding = _CommitBeforeResponse(send, tscope, scope)
            await self.app(scope, receive, responding)
        if keys.pending_use is not None and responding.status < 400:
            # A read-only request's API key use, written once the response is out (like the
            # request's own writes, only when it succeeded); best effort.
            try:
                async with tenant_scope(tenant):
                    await keys.record_pending_use()
            except Exception:  # noqa: BLE001 - a missed "last used" never fails a request
                log.warning("api_key_use_not_recorded", exc_info=True)

    async def _dispatch_outside_transaction(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, tenant, writes: bool
    ) -> None:
        """For handlers that wait on slow outside services (a model call, a stream): the caller is
        authenticated in a short transaction of its own, then the handler runs in the tenant's
        context without one and opens its own short scopes, so no transaction or SQLite write
        lock is held while it waits."""
        state = scope["app"].state
        # Authenticated in a read transaction; an API key's use is written once the response is
        # out, as for other reads (below).
        async with tenant_scope(tenant, write=False) as tscope:
            keys = ApiKeyService(clock=state.services.clock, permissions=state.services.permissions)
            try:
                await self._authenticate(scope, headers, keys, False)
            except DomainError as error:
                await tscope.rollback()
                await _send_error(scope, receive, send, error)
                return
        status = 500

        async def no_store(message: Message) -> None:
            if message["type"] == "http.response.start" and scope.get("principal") is not None and not any(
                name.lower() == b"cache-control" for name, _ in message.get("headers", ())
            ):
                message["headers"] = [*message.get("headers", ()), (b"cache-control", b"no-store")]
            if message["type"] == "http.response.start":
                nonlocal status
                status = message["status"]
            await send(message)

        with tenant_context(tenant):
            await self.app(scope, receive, no_store)
        if keys.pending_use is not None and status < 400:
            try:
                async with tenant_scope(tenant):
                    await keys.record_pending_use()
            except Exception:  # noqa: BLE001 - a missed "last used" never fails a request
                log.warning("api_key_use_not_recorded", exc_info=True)

    async def _authenticate(self, scope: Scope, headers: Headers, keys: ApiKeyService, writes: bool) -> None:
        """Sets scope["principal"] (or leaves it unset for anonymous requests)."""
        state = scope["app"].state
        services = state.services
        token = bearer_token(headers)
        if scope["path"].startswith(SCIM_PATH):
            # SCIM answers only its own bearer tokens, never a session or an API key.
            if token is None:
                return
            principal = await ScimTokenService(clock=services.clock).authenticate(token)
            if principal is None:
                raise NotAuthenticated("The SCIM token is invalid or revoked.")
            with_identity("scim_token", str(principal.api_key_id), principal.label)
            scope["principal"] = principal
            return
        if token is not None:
            principal = await keys.authenticate(token, record_use=writes)
            if principal is None:
                # A wrong or revoked key is refused outright, never treated as anonymous.
                raise NotAuthenticated("The API key is invalid, expired or revoked.")
            with_identity("api_key", str(principal.api_key_id), principal.label)
            scope["principal"] = principal
            return
        cookie = _cookie(headers, state.session_cookie_name)
        session = await services.sessions.load(cookie) if cookie else None
        if session is None or session.tenant_id != str(scope["state"]["tenant"].id):
            return
        principal = await AccountService(
            clock=services.clock, secret_box=services.secret_box,
            permissions=services.permissions, throttle=services.throttle,
        ).principal_for_user(uuid.UUID(session.user_id), csrf_token=session.csrf_token)
        if principal is None:
            return
        if scope["method"] not in SAFE_METHODS and scope["path"].startswith("/api/"):
            # Cookie-authenticated API writes must prove they come from our pages (CSRF).
            if headers.get("x-csrf-token") != session.csrf_token:
                raise PermissionDenied("Missing or wrong X-CSRF-Token header.")
        with_identity("user", str(principal.user_id), principal.label)
        scope["principal"] = principal
        scope["state"]["session_token"] = cookie


class _CommitBeforeResponse:
    """Holds the response start until the body is complete, then commits (or rolls back on an
    error status) *before* anything reaches the client. A streamed body commits before its last
    chunk leaves: once that is sent the server may cancel the request's tasks."""

    def __init__(self, send: Send, tscope, scope: Scope) -> None:
        self.send = send
        self.tscope = tscope
        self.scope = scope
        self.start: Message | None = None
        self.status = 200

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if self.signed_in and not any(name.lower() == b"cache-control" for name, _ in message.get("headers", ())):
                # Signed-in pages and API answers may show secrets (a new API key, an invite
                # link): never keep them in a shared or back-button cache.
                message["headers"] = [*message.get("headers", ()), (b"cache-control", b"no-store")]
            self.start = message
            self.status = message["status"]
            return
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            await self._finish()
        if self.start is not None:
            start, self.start = self.start, None
            await self.send(start)
        await self.send(message)

    @property
    def signed_in(self) -> bool:
        return self.scope.get("principal") is not None

    async def _finish(self) -> None:
        # Shielded: a client that goes away must not leave the commit half-awaited.
        with anyio.CancelScope(shield=True):
            if self.status >= 400 and not self.tscope.keep_writes_on_error:
                await self.tscope.rollback()
            else:
                await self.tscope.commit()


def with_request_id(send: Send, request_id: str) -> Send:
    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
            message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
        await send(message)

    return send_with_id


async def _send_error(scope: Scope, receive: Receive, send: Send, error: DomainError) -> None:
    """The error as the exception handlers render it (envelope, page, or sign-in redirect)."""
    from salescopilot.web.errors import domain_error_handler

    request = scope["app"].request_class(scope, receive)
    response = domain_error_handler(request, error)
    await response.to_asgi_response(app=None, request=request)(scope, receive, send)


async def send_json(send: Send, status: int, body: Any) -> None:
    payload = msgspec.json.encode(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def bearer_token(headers: Headers) -> str | None:
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key is not None else None


def _cookie(headers: Headers, name: str) -> str | None:
    from http.cookies import SimpleCookie

    raw = headers.get("cookie")
    if not raw:
        return None
    try:
        jar = SimpleCookie()
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a malformed Cookie header is simply no session
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _writes(scope: Scope) -> bool:
    """Whether the request may write: unsafe methods, and safe ones whose handler declares
    `opt={"writes": True}` (a GET that records an audit entry). On SQLite a read transaction
    that later writes cannot wait for another writer; it fails at once, so it must not start
    as a read."""
    if scope["method"] not in SAFE_METHODS:
        return True
    handler = scope.get("route_handler")
    return bool(handler is not None and handler.opt.get("writes"))
