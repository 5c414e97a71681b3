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
    from salescopilot.mailboxes.controllers import (
        MailboxController,
        MailboxPoolController,
        SendingDomainController,
        SendingPolicyController,
    )
    from salescopilot.mailboxes.pages import MailboxPages
    from salescopilot.outbox.controllers import OutboxController
    from salescopilot.outbox.pages import OutboxPages
    from salescopilot.scim.controllers import ScimController
    from salescopilot.sso.controllers import SamlController
    from salescopilot.sso.pages import SsoSettingsPages
    from salescopilot.leads.controllers import LeadController, LeadImportController, LeadListController
    from salescopilot.leads.pages import LeadImportPages, LeadPages
    from salescopilot.suppression.controllers import SuppressionController
    from salescopilot.suppression.pages import SuppressionPages
    from salescopilot.templates.controllers import TemplateController, TemplateLibraryController
    from salescopilot.templates.pages import TemplatePages
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
        MailboxController,
        MailboxPoolController,
        SendingDomainController,
        SendingPolicyController,
        MailboxPages,
        OutboxController,
        OutboxPages,
        SamlController,
        SsoSettingsPages,
        ScimController,
        LeadController,
        LeadListController,
        LeadImportController,
        SuppressionController,
        TemplateController,
        TemplateLibraryController,
        LeadPages,
        LeadImportPages,
        SuppressionPages,
        TemplatePages,
    ]
