"""Users (global: one person may belong to several tenants), memberships, API keys, invites."""

from __future__ import annotations

from piccolo.columns import UUID, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class User(Table, tablename="app_user"):
    """A person. Not tenant-owned: what they may do in a tenant comes from their `Membership`."""

    id = UUID(primary_key=True, default=UUID4())
    #: Stored lower-cased; unique across the installation.
    email = Varchar(length=320, unique=True, index=True)
    name = Varchar(length=200, default="")
    #: argon2id hash; empty for users who only sign in through SSO.
    password_hash = Text(default="")
    #: TOTP secret encrypted with the SecretBox; empty when two-factor is off.
    totp_secret = Text(default="")
    totp_enabled = Boolean(default=False)
    #: Last accepted TOTP time step, so a code cannot be replayed within its window.
    totp_last_step = Integer(default=0)
    is_active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    last_sign_in_at = Timestamptz(null=True, default=None)


class UserTenant(Table):
    """Global index: user -> tenants they belong to, for the tenant switcher. Roles live only in
    the tenant-owned `Membership`, which row-level security guards."""

    UNIQUE_TOGETHER = (("user", "tenant"),)

    id = UUID(primary_key=True, default=UUID4())
    user = UUID(index=True)
    tenant = UUID(index=True)


class Membership(TenantOwned, Table):
    UNIQUE_TOGETHER = (("tenant", "user"),)
    #: The team list's default order (see `salescopilot.db.schema`).
    INDEX_TOGETHER = (("tenant", "created_at"),)

    user = UUID(index=True)
    role = Varchar(length=20)
    created_at = Timestamptz(default=TimestamptzNow())


class ApiKey(TenantOwned, Table):
    """An API key: `sc_<prefix>_<secret>`. Only a SHA-256 of the whole key is stored; the prefix
    finds the row without scanning."""

    #: The key list's default order (see `salescopilot.db.schema`).
    INDEX_TOGETHER = (("tenant", "created_at"),)

    name = Varchar(length=100)
    prefix = Varchar(length=16, unique=True, index=True)
    key_hash = Varchar(length=64)
    role = Varchar(length=20)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class Invite(TenantOwned, Table):
    """An invitation link to join a tenant with a role. Only a hash of the token is stored."""

    email = Varchar(length=320, default="")
    role = Varchar(length=20)
    token_hash = Varchar(length=64, unique=True, index=True)
    invited_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    accepted_at = Timestamptz(null=True, default=None)
    accepted_by = UUID(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
