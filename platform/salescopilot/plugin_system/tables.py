"""Per-tenant plugin configuration: which plugins a tenant uses and with what settings."""

from __future__ import annotations

from piccolo.columns import JSON, Boolean, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class TenantPluginConfig(TenantOwned, Table, tablename="tenant_plugin_config"):
    """One catalogue entry (kind + slug) as one tenant configured it."""

    UNIQUE_TOGETHER = (("tenant", "kind", "slug"),)

    #: A `PluginKind` value: "mail_provider", "crm_connector", "enrichment_source", "theme".
    kind = Varchar(length=40)
    slug = Varchar(length=63)
    enabled = Boolean(default=False)
    #: The validated settings without their secret fields.
    settings = JSON(default="{}")
    #: The secret fields as one SecretBox token of a JSON object; empty when there are none.
    secrets_encrypted = Text(default="", secret=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
