"""What Piccolo's migrations cannot declare, derived from the table classes and applied
idempotently after every `db migrate`:

- composite unique indexes (`UNIQUE_TOGETHER` on a table class);
- composite indexes (`INDEX_TOGETHER`), e.g. (tenant, created_at) so a tenant's list page sorted
  by creation reads its 20 rows from the index instead of sorting every row of the tenant;
- partial indexes (`PARTIAL_INDEXES`: (name, columns, predicate)), e.g. only the outbox rows
  waiting to be claimed, so a claim neither scans nor rewrites entries of rows already sent;
- append-only tables (`APPEND_ONLY = True`): UPDATE, DELETE and TRUNCATE refused by triggers;
- on PostgreSQL, row-level security on every `TenantOwned` table, and the app role's grants.

Deriving these from the classes means a new tenant-owned table cannot ship without its policy.
"""

from __future__ import annotations

import re

from piccolo.engine.base import Engine
from piccolo.table import Table

from salescopilot.db.engine import all_tables, is_postgres
from salescopilot.tenancy.tables import TenantOwned

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")

#: The RLS predicate. `nullif(..., '')`: after a transaction-local set_config the setting reads ''
#: on that pooled connection, and a bare ''::uuid cast would fail instead of matching nothing.
TENANT_PREDICATE = "tenant = nullif(current_setting('app.tenant_id', true), '')::uuid"


#: Appending to a tenant's audit chain: take the chain's advisory lock, then read the chain head
#: on a fresh snapshot (a VOLATILE function takes one per statement, so the read sees every
#: append committed before the lock was granted): one round trip instead of two. Runs as the
#: caller, so row-level security applies as to any query of the app.
AUDIT_HEAD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION salescopilot_audit_head(p_tenant uuid, p_lock bigint) "
    "RETURNS TABLE (seq bigint, hash varchar) LANGUAGE plpgsql VOLATILE AS $$ BEGIN "
    "PERFORM pg_advisory_xact_lock(p_lock); "
    "RETURN QUERY SELECT a.seq, a.hash FROM audit_entry a WHERE a.tenant = p_tenant "
    "ORDER BY a.seq DESC LIMIT 1; END $$"
)


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"unsafe SQL identifier: {name!r}")
    return name


def tenant_owned_tables() -> list[type[Table]]:
    return [t for t in all_tables() if issubclass(t, TenantOwned)]


def append_only_tables() -> list[type[Table]]:
    return [t for t in all_tables() if getattr(t, "APPEND_ONLY", False)]


def schema_statements(postgres: bool, app_role: str | None = None) -> list[str]:
    statements: list[str] = []
    for table in all_tables():
        name = _ident(table._meta.tablename)
        for columns in getattr(table, "UNIQUE_TOGETHER", ()):
            cols = [_ident(c) for c in columns]
            quoted = ", ".join('"' + c + '"' for c in cols)
            statements.append(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {name}_{'_'.join(cols)}_uniq "
                f"ON {name} ({quoted})"
            )
        for columns in getattr(table, "INDEX_TOGETHER", ()):
            cols = [_ident(c) for c in columns]
            quoted = ", ".join('"' + c + '"' for c in cols)
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {name}_{'_'.join(cols)}_idx ON {name} ({quoted})"
            )
        for suffix, columns, predicate in getattr(table, "PARTIAL_INDEXES", ()):
            cols = [_ident(c) for c in columns]
            quoted = ", ".join('"' + c + '"' for c in cols)
            # The predicate is a constant of the table class, never input.
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {name}_{_ident(suffix)}_idx ON {name} ({quoted}) "
                f"WHERE {predicate}"
            )
    if postgres:
        statements.append(AUDIT_HEAD_FUNCTION)
        statements.append(
            "CREATE OR REPLACE FUNCTION salescopilot_refuse_change() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME "
            "USING ERRCODE = 'insufficient_privilege'; END $$"
        )
    for table in append_only_tables():
        name = _ident(table._meta.tablename)
        if postgres:
            statements += [
                f"DROP TRIGGER IF EXISTS {name}_append_only ON {name}",
                f"CREATE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {name} "
                f"FOR EACH ROW EXECUTE FUNCTION salescopilot_refuse_change()",
                f"DROP TRIGGER IF EXISTS {name}_no_truncate ON {name}",
                f"CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION salescopilot_refuse_change()",
            ]
        else:
            for event in ("UPDATE", "DELETE"):
                statements.append(
                    f"CREATE TRIGGER IF NOT EXISTS {name}_no_{event.lower()} BEFORE {event} "
                    f"ON {name} BEGIN SELECT RAISE(ABORT, '{name} is append-only'); END"
                )
    if postgres:
        for table in tenant_owned_tables():
            name = _ident(table._meta.tablename)
            statements += [
                f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
                f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY",
                f"DROP POLICY IF EXISTS tenant_isolation ON {name}",
                f"CREATE POLICY tenant_isolation ON {name} USING ({TENANT_PREDICATE}) "
                f"WITH CHECK ({TENANT_PREDICATE})",
            ]
        if app_role:
            role = _ident(app_role)
            statements += [
                f"GRANT USAGE ON SCHEMA public TO {role}",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
            ]
            for table in append_only_tables():
                statements.append(
                    f"REVOKE UPDATE, DELETE, TRUNCATE ON {_ident(table._meta.tablename)} FROM {role}"
                )
    return statements


async def apply_schema_extras(engine: Engine, app_role: str | None = None) -> None:
    for statement in schema_statements(is_postgres(engine), app_role):
        await engine._run_in_new_connection(statement)
