"""The one Piccolo app: every table of the core, listed explicitly, and its migrations."""

import os

from piccolo.conf.apps import AppConfig

from salescopilot.accounts.tables import ApiKey, Invite, Membership, User, UserTenant
from salescopilot.audit.tables import AuditEntry
from salescopilot.idempotency.tables import IdempotencyRecord
from salescopilot.plugin_system.tables import TenantPluginConfig
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
    ],
    migration_dependencies=[],
    commands=[],
)
