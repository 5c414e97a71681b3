"""The default-deny guard: every route declares `opt={"permission": ...}` or `"public"`."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from salescopilot.accounts.permissions import PUBLIC
from salescopilot.accounts.principal import Principal
from salescopilot.errors import NotAuthenticated, PermissionDenied


def is_generated_options_handler(handler: BaseRouteHandler) -> bool:
    """Litestar adds an OPTIONS handler to every path that declares none; it answers 204 with the
    path's `Allow` header and touches no data, so it needs no declaration of its own."""
    methods = getattr(handler, "http_methods", None)
    return methods == {"OPTIONS"} and getattr(handler.fn, "__qualname__", "").startswith(
        "HTTPRoute.create_options_handler."
    )


async def permission_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    # async although it awaits nothing: Litestar runs a sync guard in a worker thread.
    permission = handler.opt.get("permission")
    if permission is None and is_generated_options_handler(handler):
        return
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
