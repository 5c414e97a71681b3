"""SCIM bearer tokens, provisioned users and groups of a tenant."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class ScimToken(TenantOwned, Table):
    """`scim_<prefix>_<secret>`; only a SHA-256 of the whole token is stored."""

    prefix = Varchar(length=16, unique=True, index=True)
    token_hash = Varchar(length=64)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class ScimUser(TenantOwned, Table):
    """A user as the IdP provisioned them in this tenant. While `active` is false the user has no
    membership; `role` keeps the role to give back on reactivation."""

    UNIQUE_TOGETHER = (("tenant", "user"),)
    INDEX_TOGETHER = (("tenant", "created_at"),)

    user = UUID(index=True)
    user_name = Varchar(length=320)
    #: `user_name` lower-cased: SCIM compares userName case-insensitively.
    user_name_key = Varchar(length=320, index=True)
    external_id = Varchar(length=512, default="")
    active = Boolean(default=True)
    role = Varchar(length=20, default="member")
    #: The SCIM attributes we echo back but do not use (name parts, title, ...).
    attributes = JSON(default="{}")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class ScimGroup(TenantOwned, Table):
    UNIQUE_TOGETHER = (("tenant", "display_name"),)
    INDEX_TOGETHER = (("tenant", "created_at"),)

    display_name = Varchar(length=256)
    external_id = Varchar(length=512, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class ScimGroupMember(TenantOwned, Table):
    UNIQUE_TOGETHER = (("tenant", "group", "user"),)

    group = UUID(index=True)
    user = UUID(index=True)
