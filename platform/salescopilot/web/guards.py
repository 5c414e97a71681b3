"""The default-deny guard: every route declares `opt={"permission": ...}` or `"public"`."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from salescopilot.accounts.permissions import PUBLIC
from salescopilot.accounts.principal import Principal
from salescopilot.errors import NotAuthenticated, PermissionDenied


def permission_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    permission = handler.opt.get("permission")
    if permission is None:
        # A route that forgot to declare is closed, and an architecture test names it.
        raise PermissionDenied("This route declares no permission.")
    if permission == PUBLIC:
        return
    principal = connection.scope.get("principal")
    if principal is None:
        raise NotAuthenticated()
    if not principal.can(permission):
        raise PermissionDenied()


def principal_of(connection: ASGIConnection) -> Principal:
    """The request's principal; only for handlers whose guard already required one."""
    principal = connection.scope.get("principal")
    if principal is None:
        raise NotAuthenticated()
    return principal
