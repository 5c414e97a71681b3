"""`Idempotency-Key` on POSTs that create or send: the first request's response is stored with the
effect; a retry with the same key and body gets that response again (`Idempotent-Replayed: true`),
one with the same key and another body is refused."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, Response

from salescopilot.errors import Conflict, ValidationFailed
from salescopilot.idempotency.repository import IdempotencyRepository
from salescopilot.idempotency.tables import IdempotencyRecord
from salescopilot.web.guards import principal_of


class IdempotencyKeyReused(ValidationFailed):
    code = "IDEMPOTENCY_KEY_REUSED"
    status_code = 422
    default_message = "This Idempotency-Key was used with a different request body."


class IdempotencyConflict(Conflict):
    code = "IDEMPOTENCY_IN_PROGRESS"
    default_message = "A request with this Idempotency-Key is in progress; retry shortly."


def _check_key(key: str) -> str:
    # Surrounding whitespace is not part of a header's value (RFC 9110, 5.5): " " is a blank key.
    key = key.strip(" \t")
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 255 printable characters.",
            details={"field": "Idempotency-Key"},
        )
    return key


async def idempotent(
    request: Request,
    key: str | None,
    payload: Any,
    produce: Callable[[], Awaitable[tuple[int, Any]]],
) -> Response:
    """Run `produce` (which returns status and JSON body) at most once per key and principal."""
    if key is None:
        status, body = await produce()
        return Response(body, status_code=status)
    key = _check_key(key)
    principal = principal_of(request)
    who = str(principal.api_key_id or principal.user_id)
    fingerprint = hashlib.sha256(
        request.method.encode() + request.url.path.encode() + msgspec.json.encode(payload)
    ).hexdigest()
    repository = IdempotencyRepository()
    existing = await repository.lookup(who, key)
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        return Response(
            msgspec.json.decode(existing.body),
            status_code=existing.status_code,
            headers={"Idempotent-Replayed": "true"},
        )
    status, body = await produce()
    try:
        await repository.add(
            IdempotencyRecord(
                principal=who, key=key, request_hash=fingerprint, status_code=status,
                body=msgspec.json.encode(body).decode(),
            )
        )
    except Exception as error:  # the unique index: a concurrent twin got there first
        if "unique" in str(error).lower():
            raise IdempotencyConflict() from error
        raise
    return Response(body, status_code=status)
