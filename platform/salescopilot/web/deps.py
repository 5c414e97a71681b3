"""Per-request construction of services from the app's shared collaborators (one place, so every
controller builds them the same way)."""

from __future__ import annotations

from litestar.connection import ASGIConnection

from salescopilot.accounts.api_keys import ApiKeyService
from salescopilot.accounts.handoff import TenantHandoff
from salescopilot.accounts.service import AccountService
from salescopilot.accounts.team import TeamService


def account_service(connection: ASGIConnection) -> AccountService:
    services = connection.app.state.services
    return AccountService(
        clock=services.clock,
        secret_box=services.secret_box,
        permissions=services.permissions,
        throttle=services.throttle,
    )


def handoff_service(connection: ASGIConnection) -> TenantHandoff:
    services = connection.app.state.services
    return TenantHandoff(
        secret_key=services.settings.secret_key.get_secret_value(),
        used_tokens=services.used_handoff_tokens,
        clock=services.clock,
        base_domain=services.settings.base_domain,
    )


def team_service(connection: ASGIConnection) -> TeamService:
    return TeamService(clock=connection.app.state.services.clock)


def api_key_service(connection: ASGIConnection) -> ApiKeyService:
    services = connection.app.state.services
    return ApiKeyService(clock=services.clock, permissions=services.permissions)


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; anything else (other hosts, `//x`) becomes "/"."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 32 for c in target) or len(target) > 2000:
        return "/"
    return target
