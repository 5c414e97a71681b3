"""Two-tenant isolation at the repository layer, for every tenant-owned table and on every
database (on SQLite the repositories are the only guard; on PostgreSQL row-level security backs
them up, see test_isolation_rls.py): a repository acting for tenant B finds, counts, changes and
deletes none of tenant A's rows, and a row it adds belongs to B whatever it says."""

from __future__ import annotations

import pytest
from piccolo.table import Table

from salescopilot.db.schema import append_only_tables, tenant_owned_tables
from salescopilot.listing import ListQuery
from salescopilot.tenancy.context import tenant_scope
from salescopilot.tenancy.repository import TenantRepository
from tests.tenancy.isolation_seed import generic_row

TABLES = tenant_owned_tables()


def repository_for(table: type[Table]) -> TenantRepository:
    return type(f"{table.__name__}Probe", (TenantRepository,), {"table": table})()


async def test_a_repository_for_b_reaches_none_of_a_rows(seeded):
    """Every table against one seeding (seeding both tenants costs seconds; each probe rolls
    back and checks A's rows are unchanged), every failing table reported."""
    a, b, database = seeded
    failures: dict[str, str] = {}
    for table in TABLES:
        try:
            await _probe(a, b, database, table)
        except AssertionError as error:
            failures[table._meta.tablename] = str(error)[:500]
    assert not failures, failures


async def _probe(a, b, database, table: type[Table]) -> None:
    name = table._meta.tablename
    before = await database.snapshot(a.ref.id)
    async with tenant_scope(b.ref) as scope:
        repository = repository_for(table)
        for row_id in a.ids[name]:
            assert await repository.get(row_id) is None
        assert not await repository.exists(table.id.is_in(a.ids[name]))
        assert sorted(r.id for r in await repository.find()) == sorted(b.ids[name])
        assert await repository.count() == len(b.ids[name])
        page = await repository.list_page(ListQuery(limit=200, sort="id"))
        assert sorted(r["id"] for r in page.items) == sorted(b.ids[name]) and page.total == len(
            b.ids[name]
        )
        if table not in append_only_tables():
            assert (
                await repository.update_where({"tenant": b.ref.id}, table.id.is_in(a.ids[name]))
                == 0
            )
            await repository.delete_where(table.id.is_in(a.ids[name]))
        if ("tenant",) in getattr(table, "UNIQUE_TOGETHER", ()):
            await repository.delete_where()  # one row per tenant (rolled back below)
        added = await repository.add(generic_row(table, a.ref.id))
        assert added.tenant == b.ref.id
        await scope.rollback()  # the probe row is not kept
    assert await database.snapshot(a.ref.id) == before


async def test_a_repository_refuses_to_save_another_tenants_row(seeded):
    a, b, database = seeded
    table = TABLES[0]
    async with tenant_scope(a.ref, write=False):
        row = await repository_for(table).get(a.ids[table._meta.tablename][0])
    async with tenant_scope(b.ref):
        with pytest.raises(PermissionError):
            await repository_for(table).save(row)
