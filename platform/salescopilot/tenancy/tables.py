"""Tenants, their domains, and the mixin every tenant-owned table uses."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table


class TenantOwned:
    """Mixin: a row that belongs to exactly one tenant.

    Every table with this mixin is queried only through a `TenantRepository` (an architecture test
    checks it) and, on PostgreSQL, is guarded by a row-level security policy on `tenant`
    (`salescopilot.db.security` creates it for every such table).
    """

    id = UUID(primary_key=True, default=UUID4())
    tenant = UUID(index=True, null=False)


class Tenant(Table):
    id = UUID(primary_key=True, default=UUID4())
    slug = Varchar(length=63, unique=True, index=True)
    name = Varchar(length=200)
    status = Varchar(length=20, default="active")
    #: Design tokens overriding the theme's (product_name, logo_url, colour_primary, ...).
    theme_tokens = JSON(default="{}")
    theme = Varchar(length=63, default="default")
    #: Physical postal address printed in email footers (CAN-SPAM).
    postal_address = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class TenantDomain(Table):
    """A hostname that resolves to a tenant: custom domains and `<slug>.<base domain>`."""

    id = UUID(primary_key=True, default=UUID4())
    tenant = UUID(index=True, null=False)
    hostname = Varchar(length=253, unique=True, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
