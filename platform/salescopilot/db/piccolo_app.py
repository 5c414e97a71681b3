"""The one Piccolo app: every table of the core, listed explicitly, and its migrations."""

import os

from piccolo.conf.apps import AppConfig

from salescopilot.accounts.tables import ApiKey, Invite, Membership, User, UserTenant
from salescopilot.ai.tables import AiCacheEntry, AiDraft, AiMeter, AiSettings, AiUsage
from salescopilot.audit.tables import AuditEntry
from salescopilot.campaigns.tables import Campaign, Enrollment, EnrollmentEvent
from salescopilot.composer.tables import ComposerDraft
from salescopilot.idempotency.tables import IdempotencyRecord
from salescopilot.inbound.tables import InboundPolicy, MailboxSyncState, ReceivedMessage
from salescopilot.leads.tables import (
    Lead,
    LeadImport,
    LeadImportMapping,
    LeadImportProblem,
    LeadList,
    LeadListItem,
)
from salescopilot.mailboxes.tables import (
    Mailbox,
    MailboxPool,
    MailboxPoolMember,
    SendAttempt,
    SendingDomain,
    SendingPolicy,
)
from salescopilot.outbox.tables import OutboxLease, OutboxMessage
from salescopilot.analytics.tables import AbTestPolicy, AnalyticsCounter, MessageEngagement
from salescopilot.plugin_system.tables import TenantPluginConfig
from salescopilot.sequences.tables import Sequence, SequenceVersion
from salescopilot.scim.tables import ScimGroup, ScimGroupMember, ScimToken, ScimUser
from salescopilot.sso.tables import SsoConnection, SsoIdentity
from salescopilot.suppression.tables import Suppression
from salescopilot.templates.tables import EmailTemplate, EmailTemplateVersion
from salescopilot.tenancy.tables import Tenant, TenantDomain
from salescopilot.tracking.tables import TrackingEvent, TrackingSettings
from salescopilot.webhooks.tables import WebhookDelivery, WebhookEndpoint

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="salescopilot",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "migrations"),
    table_classes=[
        Tenant,
        TenantDomain,
        AuditEntry,
        User,
        UserTenant,
        Membership,
        ApiKey,
        Invite,
        IdempotencyRecord,
        TenantPluginConfig,
        Mailbox,
        MailboxPool,
        MailboxPoolMember,
        SendingDomain,
        SendingPolicy,
        SendAttempt,
        OutboxMessage,
        OutboxLease,
        ReceivedMessage,
        MailboxSyncState,
        InboundPolicy,
        TrackingEvent,
        TrackingSettings,
        WebhookEndpoint,
        WebhookDelivery,
        SsoConnection,
        SsoIdentity,
        ScimToken,
        ScimUser,
        ScimGroup,
        ScimGroupMember,
        Lead,
        LeadList,
        LeadListItem,
        LeadImport,
        LeadImportProblem,
        LeadImportMapping,
        Suppression,
        EmailTemplate,
        EmailTemplateVersion,
        Sequence,
        SequenceVersion,
        Campaign,
        Enrollment,
        EnrollmentEvent,
        ComposerDraft,
        AiSettings,
        AiMeter,
        AiUsage,
        AiCacheEntry,
        AiDraft,
        AbTestPolicy,
        MessageEngagement,
        AnalyticsCounter,
    ],
    migration_dependencies=[],
    commands=[],
)
