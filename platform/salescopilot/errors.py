"""Domain errors: each a type with a stable code and an HTTP status, mapped once to the API's
error envelope by `salescopilot.web.errors`."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "ERROR"
    status_code: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request could not be completed."

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details if details is not None else {}
        super().__init__(self.message)


class ValidationFailed(DomainError):
    code = "VALIDATION_ERROR"
    status_code = 400
    default_message = "The request is not valid."


class NotFound(DomainError):
    code = "NOT_FOUND"
    status_code = 404
    default_message = "Not found."


class Conflict(DomainError):
    code = "CONFLICT"
    status_code = 409
    default_message = "The request conflicts with the current state."


class NotAuthenticated(DomainError):
    code = "NOT_AUTHENTICATED"
    status_code = 401
    default_message = "Authentication is required."


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"
    status_code = 403
    default_message = "You do not have permission to do this."


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    status_code = 429
    default_message = "Too many requests. Try again later."


class TenantNotResolved(DomainError):
    """No tenant context where one is required. Fails closed: never 'all tenants'."""

    code = "TENANT_NOT_RESOLVED"
    status_code = 404
    default_message = "Not found."
