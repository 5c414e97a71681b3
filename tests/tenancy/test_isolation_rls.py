"""Two-tenant isolation with the repositories out of the way: raw SQL through the app's database
role, for every tenant-owned table. Row-level security alone must keep tenant A's rows from a
connection acting for tenant B, and from one acting for no tenant at all.

PostgreSQL only: SQLite has no row-level security (there the repositories are the guard, see
test_isolation_repository.py). CI runs the suite on both.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import asyncpg
import pytest

from salescopilot.db.engine import get_engine
from salescopilot.db.schema import append_only_tables, tenant_owned_tables
from salescopilot.tenancy.context import tenant_scope
from tests.conftest import BACKEND

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(BACKEND != "postgres", reason="RLS exists only on PostgreSQL"),
]

TABLES = [t._meta.tablename for t in tenant_owned_tables()]
APPEND_ONLY = {t._meta.tablename for t in append_only_tables()}
RLS_REFUSAL = "row-level security"


async def owner_row(settings, table: str, tenant_id: uuid.UUID) -> dict[str, Any]:
    """One of the tenant's rows, read as the owner (which row-level security does not bind)."""
    connection = await asyncpg.connect(settings.database.migration_url)
    try:
        row = await connection.fetchrow(
            f"SELECT * FROM {table} WHERE tenant = $1 LIMIT 1", tenant_id
        )
    finally:
        await connection.close()
    assert row is not None, f"{table} has no row for {tenant_id}"
    return dict(row)


def forged_copy(table: str, row: dict[str, Any], tenant_id: uuid.UUID) -> dict[str, Any]:
    """`row` re-addressed to `tenant_id`, with fresh values wherever a unique index would object
    first: the only thing wrong with it must be its tenant."""
    table_class = next(t for t in tenant_owned_tables() if t._meta.tablename == table)
    forged = {**row, "id": uuid.uuid4(), "tenant": tenant_id}
    for column in table_class._meta.columns:
        name = column._meta.name
        if column._meta.unique and name not in ("id", "tenant") and isinstance(forged[name], str):
            forged[name] = secrets.token_hex(min(len(forged[name]), 64) // 2 or 1)
    if "seq" in forged:
        forged["seq"] = 10**9
    return forged


async def insert(connection, table: str, values: dict[str, Any]) -> None:
    names = ", ".join(f'"{name}"' for name in values)
    marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await connection.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", *values.values())


def app_connection(scope) -> asyncpg.Connection:
    """The raw connection of a tenant scope's transaction: SQL on it is nobody's repository."""
    return scope.transaction.connection


async def test_the_app_role_is_bound_by_row_level_security(settings, db):
    connection = await asyncpg.connect(settings.database.url)
    try:
        role = await connection.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert not role["rolsuper"] and not role["rolbypassrls"], dict(role)
        tables = await connection.fetch(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "pg_get_userbyid(c.relowner) = current_user AS owned, "
            "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid "
            " AND p.polqual IS NOT NULL AND p.polwithcheck IS NOT NULL) AS policies "
            "FROM pg_class c WHERE c.relname = ANY($1::text[])",
            TABLES,
        )
    finally:
        await connection.close()
    assert sorted(t["relname"] for t in tables) == sorted(TABLES)
    for table in tables:
        assert table["relrowsecurity"] and table["relforcerowsecurity"], dict(table)
        assert not table["owned"], f"the app role owns {table['relname']}: RLS would not bind it"
        assert table["policies"] >= 1, f"{table['relname']} has no USING + WITH CHECK policy"


async def test_acting_for_b_raw_sql_sees_none_of_a_rows(seeded):
    a, b, database = seeded
    for name in TABLES:
        table = next(t for t in tenant_owned_tables() if t._meta.tablename == name)
        async with tenant_scope(b.ref, write=False) as scope:
            connection = app_connection(scope)
            assert (
                await connection.fetchval(
                    f"SELECT count(*) FROM {name} WHERE tenant = $1", a.ref.id
                )
                == 0
            ), name
            assert (
                await connection.fetchval(
                    f"SELECT count(*) FROM {name} WHERE id = ANY($1::uuid[])", a.ids[name]
                )
                == 0
            ), name
            assert await connection.fetchval(f"SELECT count(*) FROM {name}") == len(b.ids[name]), (
                name
            )
            # Piccolo's query builder without a repository's tenant filter: the same.
            assert await table.count() == len(b.ids[name]), name
            assert await table.select(table.id).where(table.id.is_in(a.ids[name])) == [], name


@pytest.mark.parametrize(
    "statement",
    ["UPDATE {t} SET tenant = tenant WHERE tenant = $1", "DELETE FROM {t} WHERE tenant = $1"],
)
async def test_acting_for_b_raw_sql_changes_none_of_a_rows(seeded, statement):
    a, b, database = seeded
    before = await database.snapshot(a.ref.id)
    for name in TABLES:
        sql = statement.format(t=name)
        if name in APPEND_ONLY:
            # Nobody may update or delete there at all (privilege revoked, trigger as well).
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                async with tenant_scope(b.ref) as scope:
                    await app_connection(scope).execute(sql, a.ref.id)
            continue
        async with tenant_scope(b.ref) as scope:
            status = await app_connection(scope).execute(sql, a.ref.id)
        assert status.endswith(" 0"), f"{name}: {status}"
    assert await database.snapshot(a.ref.id) == before


async def test_acting_for_b_rows_cannot_be_written_as_a(seeded, settings):
    """INSERT with tenant = A, and moving one of B's own rows to A: both refused WITH CHECK."""
    a, b, database = seeded
    before = await database.snapshot(a.ref.id)
    for name in TABLES:
        forged = forged_copy(name, await owner_row(settings, name, b.ref.id), a.ref.id)
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match=RLS_REFUSAL):
            async with tenant_scope(b.ref) as scope:
                await insert(app_connection(scope), name, forged)
        if name in APPEND_ONLY:
            continue
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match=RLS_REFUSAL):
            async with tenant_scope(b.ref) as scope:
                await app_connection(scope).execute(
                    f"UPDATE {name} SET tenant = $1 WHERE id = $2", a.ref.id, b.ids[name][0]
                )
    assert await database.snapshot(a.ref.id) == before


async def test_outside_any_tenant_scope_no_row_is_visible_or_writable(seeded, settings):
    a, b, database = seeded
    before = await database.snapshot(a.ref.id)
    connection = await asyncpg.connect(settings.database.url)
    try:
        for name in TABLES:
            assert await connection.fetchval(f"SELECT count(*) FROM {name}") == 0, name
            forged = forged_copy(name, await owner_row(settings, name, a.ref.id), a.ref.id)
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match=RLS_REFUSAL):
                await insert(connection, name, forged)
        # After a transaction-local tenant ends, the setting reads '' on this connection: still
        # nothing visible, and no cast error either.
        async with connection.transaction():
            await connection.execute("select set_config('app.tenant_id', $1, true)", str(a.ref.id))
            assert await connection.fetchval(f"SELECT count(*) FROM {TABLES[0]}") == len(
                a.ids[TABLES[0]]
            )
        assert await connection.fetchval("select current_setting('app.tenant_id', true)") == ""
        for name in TABLES:
            assert await connection.fetchval(f"SELECT count(*) FROM {name}") == 0, name
    finally:
        await connection.close()
    assert await database.snapshot(a.ref.id) == before


async def test_the_app_pool_keeps_no_tenant_after_a_scope(seeded):
    """A pooled connection handed back after A's scope carries no tenant into the next query."""
    a, b, database = seeded
    for name in TABLES:
        table = next(t for t in tenant_owned_tables() if t._meta.tablename == name)
        async with tenant_scope(a.ref, write=False):
            assert await table.count() == len(a.ids[name])
        assert await table.count() == 0, name
        rows = await get_engine()._run_in_new_connection(f"SELECT count(*) AS n FROM {name}")
        assert rows[0]["n"] == 0, name
