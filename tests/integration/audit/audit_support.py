"""Audit test helpers: a filler, and `Tamper`, which changes the
database the way an intruder with database access would (bypassing the append-only triggers)."""

from __future__ import annotations

import re
import sqlite3
import uuid

from salescopilot.actor import Actor, acting_as
from salescopilot.audit.service import AuditService
from salescopilot.tenancy.context import TenantRef, tenant_scope

ALICE = Actor(
    kind="user", id="u-alice", label="alice@acme.test", ip="203.0.113.7",
    user_agent="Mozilla/5.0 (Test)", request_id="req-1",
)


async def fill(
    audit: AuditService, tenant: TenantRef, count: int, *, action: str = "lead.updated",
    actor: Actor = ALICE,
) -> None:
    """`count` entries for `tenant`, one second apart, in one transaction."""
    with acting_as(actor):
        async with tenant_scope(tenant):
            for number in range(1, count + 1):
                await audit.record(
                    action, target_type="lead", target_id=f"lead-{number}",
                    before={"status": "new"}, after={"status": "contacted", "n": number},
                )
                audit.clock.advance(seconds=1)


class Tamper:
    """Direct writes to the test database, past every protection the app has.

    SQLite: the append-only triggers are dropped first. PostgreSQL: connects as the table owner
    with `session_replication_role = replica`, which skips triggers. SQL uses `?` placeholders.
    """

    def __init__(self, database: dict) -> None:
        self.database = database

    @property
    def postgres(self) -> bool:
        return "owner_url" in self.database

    async def execute(self, *statements: tuple[str, tuple]) -> None:
        if self.postgres:
            import asyncpg

            connection = await asyncpg.connect(self.database["owner_url"])
            try:
                async with connection.transaction():
                    await connection.execute("SET LOCAL session_replication_role = replica")
                    for sql, args in statements:
                        await connection.execute(_numbered(sql), *args)
            finally:
                await connection.close()
            return
        connection = sqlite3.connect(self.database["path"])
        try:
            connection.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
            connection.execute("DROP TRIGGER IF EXISTS audit_entry_no_delete")
            for sql, args in statements:
                connection.execute(sql, tuple(str(a) if _is_uuid(a) else a for a in args))
            connection.commit()
        finally:
            connection.close()

    async def fetch_row(self, tenant: TenantRef, seq: int) -> dict:
        """One stored entry as the database holds it (owner connection)."""
        if self.postgres:
            import asyncpg

            connection = await asyncpg.connect(self.database["owner_url"])
            try:
                row = await connection.fetchrow(
                    "SELECT * FROM audit_entry WHERE tenant = $1 AND seq = $2", tenant.id, seq
                )
                return dict(row)
            finally:
                await connection.close()
        connection = sqlite3.connect(self.database["path"])
        connection.row_factory = sqlite3.Row
        try:
            row = connection.execute(
                "SELECT * FROM audit_entry WHERE tenant = ? AND seq = ?", (str(tenant.id), seq)
            ).fetchone()
            return dict(row)
        finally:
            connection.close()


def _numbered(sql: str) -> str:
    counter = iter(range(1, 1000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


def _is_uuid(value) -> bool:
    return isinstance(value, uuid.UUID)


async def make_tenant(slug: str) -> TenantRef:
    from salescopilot.tenancy.tables import Tenant

    tenant = Tenant(slug=slug, name=slug.title())
    await tenant.save()
    return TenantRef(id=tenant.id, slug=slug)
