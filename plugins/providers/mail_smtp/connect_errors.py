"""Readable reasons for failures to reach, or secure a connection to, a mail server."""

from __future__ import annotations

import asyncio
import socket
import ssl


def describe_connect_error(
    error: BaseException, host: str, port: int, timeout: float, *, service: str
) -> tuple[bool, str]:
    """(whether the mailbox's settings are at fault, a one-line reason for an admin).

    Looks through the exception's causes: aiosmtplib and aioimaplib wrap the socket's error.
    """
    chain: list[BaseException] = []
    seen: BaseException | None = error
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True, f"TLS certificate of {host} not trusted: {cause.verify_message or cause}"
        if isinstance(cause, ssl.SSLError):
            return True, f"TLS handshake with {host}:{port} failed: {cause.reason or cause}"
        if isinstance(cause, socket.gaierror):
            return True, f"{host} does not resolve (DNS): {cause.strerror or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return False, f"Connection refused by {host}:{port} ({service})"
        if isinstance(cause, (TimeoutError, asyncio.TimeoutError)):
            return False, f"Timed out connecting to {host}:{port} ({service}) after {timeout:g}s"
    return False, f"Cannot connect to {service} server {host}:{port}: {error}"
