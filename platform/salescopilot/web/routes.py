"""Every core controller, listed explicitly (the litestar-fullstack way)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler


def core_route_handlers() -> list[ControllerRouterHandler]:
    from salescopilot.accounts.controllers import (
        ApiKeyController,
        InviteController,
        MeController,
        MemberController,
    )
    from salescopilot.accounts.pages import SecurityController, SessionController, SignInController
    from salescopilot.accounts.team_pages import ApiKeyPages, InvitePages, TeamPages
    from salescopilot.audit.controllers import AuditApiController, AuditConsole
    from salescopilot.web.health import HealthController
    from salescopilot.web.pages import ShellPages

    return [
        HealthController,
        SignInController,
        SessionController,
        SecurityController,
        ShellPages,
        TeamPages,
        InvitePages,
        ApiKeyPages,
        MeController,
        MemberController,
        InviteController,
        ApiKeyController,
        AuditApiController,
        AuditConsole,
    ]
