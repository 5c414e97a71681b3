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
    from salescopilot.ai.controllers import AiController
    from salescopilot.ai.pages import AiPages
    from salescopilot.analytics.controllers import AnalyticsController
    from salescopilot.analytics.pages import AnalyticsPages
    from salescopilot.audit.controllers import AuditApiController, AuditConsole
    from salescopilot.composer.controllers import ComposerController
    from salescopilot.composer.pages import ComposerPages
    from salescopilot.mailboxes.controllers import (
        MailboxController,
        MailboxPoolController,
        SendingDomainController,
        SendingPolicyController,
    )
    from salescopilot.inbound.controllers import InboxController
    from salescopilot.inbound.pages import InboxPages
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
    from salescopilot.campaigns.controllers import CampaignController
    from salescopilot.campaigns.pages import CampaignPages
    from salescopilot.sequences.pages import SequencePages
    from salescopilot.sequences.controllers import SequenceController
    from salescopilot.deliverability.controllers import DeliverabilityController
    from salescopilot.tracking.controllers import TrackingEndpoints, UnsubscribePages
    from salescopilot.tracking.settings_controllers import TrackingSettingsController
    from salescopilot.webhooks.controllers import WebhookController, WebhookDeliveryController
    from salescopilot.webhooks.pages import WebhookPages
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
        InboxController,
        TemplateController,
        TemplateLibraryController,
        LeadPages,
        LeadImportPages,
        SuppressionPages,
        InboxPages,
        TemplatePages,
        SequenceController,
        CampaignController,
        SequencePages,
        CampaignPages,
        ComposerController,
        ComposerPages,
        TrackingEndpoints,
        UnsubscribePages,
        TrackingSettingsController,
        WebhookController,
        WebhookDeliveryController,
        WebhookPages,
        DeliverabilityController,
        AiController,
        AiPages,
        AnalyticsController,
        AnalyticsPages,
    ]
