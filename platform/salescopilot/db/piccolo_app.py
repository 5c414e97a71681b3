"""The one Piccolo app: every table of the core, listed explicitly, and its migrations."""

import os

from piccolo.conf.apps import AppConfig

from salescopilot.accounts.tables import ApiKey, Invite, Membership, User, UserTenant
from salescopilot.audit.tables import AuditEntry
from salescopilot.idempotency.tables import IdempotencyRecord
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
from salescopilot.outbox.tables import OutboxMessage
from salescopilot.plugin_system.tables import TenantPluginConfig
from salescopilot.scim.tables import ScimGroup, ScimGroupMember, ScimToken, ScimUser
from salescopilot.sso.tables import SsoConnection, SsoIdentity
from salescopilot.suppression.tables import Suppression
from salescopilot.templates.tables import EmailTemplate, EmailTemplateVersion
from salescopilot.tenancy.tables import Tenant, TenantDomain

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
    ],
    migration_dependencies=[],
    commands=[],
)
