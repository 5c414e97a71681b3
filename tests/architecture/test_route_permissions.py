"""The default-deny guard in code review form: every route of the app declares the permission it
needs (or "public"), every declared permission exists, and only infrastructure routes run
outside a tenant."""

from __future__ import annotations

from litestar import Litestar, get

from salescopilot.accounts.permissions import PUBLIC
from salescopilot.web.app import create_app
from salescopilot.web.guards import is_generated_options_handler

#: Routes that run without a tenant (no tenant data, no principal): probes, metrics, the API
#: schema and the core static files.
TENANTLESS_PREFIXES = ("/healthz", "/readyz", "/metrics", "/api/docs", "/static/core")


def handlers(app: Litestar):
    """(label, handler) of every route handler the app serves, Litestar's own OPTIONS aside."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if is_generated_options_handler(handler):
                continue
            methods = ",".join(sorted(getattr(handler, "http_methods", ()) or ["WS"]))
            yield f"{methods} {route.path}", handler


def undeclared(app: Litestar) -> list[str]:
    return sorted(label for label, handler in handlers(app) if not handler.opt.get("permission"))


def test_every_route_declares_a_permission(settings):
    offenders = undeclared(create_app(settings))
    assert not offenders, "routes without opt={'permission': ...}:\n" + "\n".join(offenders)


def test_every_declared_permission_exists(settings):
    app = create_app(settings)
    catalogue = app.state.services.permissions
    unknown = sorted(
        f"{label}: {handler.opt['permission']!r}"
        for label, handler in handlers(app)
        if handler.opt.get("permission") and not catalogue.known(handler.opt["permission"])
    )
    assert not unknown, unknown


def test_only_infrastructure_routes_are_tenantless_and_they_are_public(settings):
    app = create_app(settings)
    offenders = sorted(
        label
        for label, handler in handlers(app)
        if handler.opt.get("tenantless")
        and (
            handler.opt.get("permission") != PUBLIC
            or not label.split(" ", 1)[1].startswith(TENANTLESS_PREFIXES)
        )
    )
    assert not offenders, offenders


def test_the_check_names_a_route_that_forgot():
    @get("/forgot", sync_to_thread=False)
    def forgot() -> str:
        return "open"

    @get("/declared", opt={"permission": PUBLIC}, sync_to_thread=False)
    def declared() -> str:
        return "fine"

    assert undeclared(Litestar([forgot, declared], openapi_config=None)) == ["GET /forgot"]
