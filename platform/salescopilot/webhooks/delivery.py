"""One signed POST to a tenant's endpoint, without letting a tenant reach our own network.

SSRF: the endpoint's hostname is resolved here, every address it resolves to is checked, and the
connection goes to the checked address (the hostname travels only in the Host header and TLS SNI),
so a DNS answer that changes between the check and the connection (rebinding) cannot slip a
private address in. Redirects are never followed: a receiver answers where it was asked.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from salescopilot import __version__
from salescopilot.errors import ValidationFailed

SIGNATURE_HEADER = "X-SalesCopilot-Signature"
TIMESTAMP_HEADER = "X-SalesCopilot-Timestamp"
EVENT_HEADER = "X-SalesCopilot-Event"
DELIVERY_HEADER = "X-SalesCopilot-Delivery"
#: A receiver should refuse a signature older than this (replays).
SIGNATURE_TOLERANCE = 300


class InvalidWebhookUrl(ValidationFailed):
    code = "INVALID_WEBHOOK_URL"
    default_message = "The URL must be http(s)://host[:port]/path, without a user or password."


class AddressRefused(Exception):
    """The endpoint resolves to an address deliveries may not go to."""


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status: int | None
    error: str
    duration_ms: int


def check_url(url: str, *, allow_private: bool) -> str:
    """`url` if it is a deliverable http(s) URL; raises `InvalidWebhookUrl`. An address literal
    is checked at once; a hostname is checked at each delivery (its addresses may change)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise InvalidWebhookUrl(details={"url": url[:200]}) from error
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise InvalidWebhookUrl(details={"url": url[:200]})
    if port == 0 or len(url) > 2048 or any(c.isspace() for c in url):
        raise InvalidWebhookUrl(details={"url": url[:200]})
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None and not allow_private and not is_public(literal):
        raise InvalidWebhookUrl(
            "Deliveries to private, loopback or link-local addresses are not allowed.",
            details={"url": url[:200]},
        )
    return url


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `address` is on the public internet (not private, loopback, link-local,
    multicast, reserved, or an IPv4 one of those wrapped in IPv6)."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public(mapped)
    return bool(address.is_global and not address.is_multicast)


async def resolve_checked(host: str, port: int, *, allow_private: bool) -> str:
    """An address of `host` deliveries may go to; raises `AddressRefused` when any of its
    addresses is private (a name pointing at both is refused, not half-trusted)."""
    try:
        literal = ipaddress.ip_address(host)
        addresses = [literal]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise AddressRefused(f"cannot resolve {host}: {error.strerror or error}") from error
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise AddressRefused(f"{host} has no address")
    if not allow_private:
        refused = [str(a) for a in addresses if not is_public(a)]
        if refused:
            raise AddressRefused(f"{host} resolves to a private or reserved address ({refused[0]})")
    return str(addresses[0])


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `v1=` and the hex HMAC-SHA256 of "<timestamp>.<body>"."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def verify_signature(secret: str, timestamp: str, body: bytes, header: str, *, now: float | None = None,
                     tolerance: int = SIGNATURE_TOLERANCE) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, sent, body), header or "")


async def post_signed(
    url: str, body: bytes, *, secret: str, event: str, delivery_id: str, timeout: float,
    allow_private: bool, transport: httpx.AsyncBaseTransport | None = None,
) -> Outcome:
    """POST `body` to `url` signed with `secret`; never raises for the receiver's failures."""
    started = time.perf_counter()

    def done(ok: bool, status: int | None, error: str) -> Outcome:
        return Outcome(ok, status, error[:1000], int((time.perf_counter() - started) * 1000))

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = await asyncio.wait_for(resolve_checked(host, port, allow_private=allow_private), timeout)
    except AddressRefused as refused:
        return done(False, None, f"refused: {refused}")
    except asyncio.TimeoutError:
        return done(False, None, f"cannot resolve {host} within {timeout:.0f} s")
    netloc_host = f"[{address}]" if ":" in address else address
    target = urlunsplit((parts.scheme, f"{netloc_host}:{port}", parts.path or "/", parts.query, ""))
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    timestamp = int(time.time())
    headers = {
        "Host": host_header,
        "Content-Type": "application/json",
        "User-Agent": f"SalesCopilot-Webhooks/{__version__}",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
    }
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    try:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport, trust_env=False
        ) as client:
            response = await asyncio.wait_for(
                client.post(target, content=body, headers=headers, extensions=extensions), timeout
            )
    except (asyncio.TimeoutError, httpx.TimeoutException):
        return done(False, None, f"no answer within {timeout:.0f} s")
    except httpx.HTTPError as error:
        return done(False, None, f"{type(error).__name__}: {error}")
    status = response.status_code
    if 200 <= status < 300:
        return done(True, status, "")
    if 300 <= status < 400:
        return done(False, status, f"redirect to {response.headers.get('location', '?')[:300]} not followed")
    return done(False, status, f"HTTP {status}: {response.text[:300]}")
