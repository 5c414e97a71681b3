"""The audit log table: one row per state change, hash-chained per tenant, append-only.

`APPEND_ONLY` makes `salescopilot.db.schema` install triggers refusing UPDATE, DELETE and TRUNCATE
(SQLite and PostgreSQL) and revoke those privileges from the app role (PostgreSQL).
`UNIQUE_TOGETHER` gives the unique (tenant, seq) index that both serves the chain-head query and
refuses two entries at one position.
"""

from __future__ import annotations

from piccolo.columns import JSON, BigInt, Text, Timestamptz, Varchar
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class AuditEntry(TenantOwned, Table, tablename="audit_entry"):
    APPEND_ONLY = True
    UNIQUE_TOGETHER = (("tenant", "seq"),)

    #: Position in the tenant's chain: 1, 2, 3, ... without gaps.
    seq = BigInt(null=False)
    occurred_at = Timestamptz(null=False)
    #: "user", "api_key", "system" or "anonymous" (see `salescopilot.actor.Actor`).
    actor_kind = Varchar(length=20)
    actor_id = Varchar(length=100, null=True, default=None)
    actor_label = Varchar(length=320, default="")
    #: Dotted, noun first: "auth.sign_in", "team.role_changed".
    action = Varchar(length=100, index=True)
    target_type = Varchar(length=63, default="")
    target_id = Varchar(length=320, default="")
    #: State before and after the change, secrets redacted (see `salescopilot.audit.service`).
    before = JSON(null=True, default=None)
    after = JSON(null=True, default=None)
    ip = Varchar(length=64, null=True, default=None)
    user_agent = Text(null=True, default=None)
    request_id = Varchar(length=100, default="")
    #: `hash` of the previous entry of the same tenant (64 zeros for the first).
    prev_hash = Varchar(length=64)
    #: Hex HMAC-SHA256 over every other field, keyed by a key derived from the app secret.
    hash = Varchar(length=64)
