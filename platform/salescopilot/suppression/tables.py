"""Suppression entries: one row per suppressed address, domain or erased-address hash."""

from __future__ import annotations

from piccolo.columns import Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class Suppression(TenantOwned, Table, tablename="suppression"):
    """`value` is a lower-cased address (kind "address"), a lower-cased domain ("domain") or the
    hex SHA-256 of a lower-cased address whose lead was erased ("hash"). The three shapes never
    collide (an address has an @, a domain a dot and no @, a hash 64 hex digits), so one
    `value IN (...)` finds every kind at once."""

    UNIQUE_TOGETHER = (("tenant", "value"),)
    INDEX_TOGETHER = (("tenant", "created_at"),)

    kind = Varchar(length=10)
    value = Varchar(length=320)
    #: unsubscribe, hard_bounce, soft_bounce, complaint, manual, import, erasure.
    reason = Varchar(length=20)
    #: Where it came from: "api", "web", "import:<id>", "inbound", a campaign id, ...
    source = Varchar(length=200, default="")
    created_at = Timestamptz(default=TimestamptzNow())
