"""`TenantRepository.list_page` and `get_by`: written-once statements for the hot read paths,
which must answer exactly what the query builder answers, for the current tenant only."""

from __future__ import annotations

import datetime as dt

import pytest

from salescopilot.accounts.repository import ApiKeyRepository
from salescopilot.accounts.tables import ApiKey
from salescopilot.listing import ListQuery
from salescopilot.tenancy.context import tenant_scope

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


async def _seed(tenant, count: int, tag: str) -> None:
    async with tenant_scope(tenant):
        repository = ApiKeyRepository()
        for index in range(count):
            await repository.add(
                ApiKey(
                    name=f"{tag} {index % 7}",  # repeated names: ties broken by id
                    prefix=f"{tag}{index:010d}"[:12],
                    key_hash="0" * 64,
                    role=("admin", "member", "viewer")[index % 3],
                    created_at=T0 + dt.timedelta(minutes=index % 5),  # ties here too
                    last_used_at=None if index % 4 == 0 else T0 + dt.timedelta(hours=index),
                )
            )


QUERIES = [
    ListQuery(),
    ListQuery(page=2, limit=7),
    ListQuery(page=3, limit=7, sort="name", descending=True),
    ListQuery(limit=5, sort="name"),
    ListQuery(limit=10, sort="last_used_at"),
    ListQuery(page=2, limit=4, filters={"role": "viewer"}, sort="created_at", descending=True),
    ListQuery(page=50, limit=10),  # past the end
    ListQuery(filters={"role": "owner"}),  # nothing matches
]


@pytest.mark.parametrize("query", QUERIES)
async def test_a_page_is_what_the_query_builder_gives(tenant_a, tenant_b, query):
    await _seed(tenant_a, 23, "a")
    await _seed(tenant_b, 9, "b")
    async with tenant_scope(tenant_a, write=False):
        repository = ApiKeyRepository()
        page = await repository.list_page(query)
        expected = await repository._list_page_built(query)
    assert page.items == expected.items
    assert page.total == expected.total
    assert all(row["tenant"] == tenant_a.id for row in page.items)


async def test_a_page_counts_and_shows_only_the_current_tenants_rows(tenant_a, tenant_b):
    await _seed(tenant_a, 23, "a")
    await _seed(tenant_b, 9, "b")
    async with tenant_scope(tenant_b, write=False):
        page = await ApiKeyRepository().list_page(ListQuery(limit=50))
    assert page.total == 9 and len(page.items) == 9
    assert {row["name"][0] for row in page.items} == {"b"}
    assert page.envelope()["pagination"] == {"page": 1, "limit": 50, "total": 9, "totalPages": 1}


async def test_a_page_of_chosen_columns(tenant_a):
    await _seed(tenant_a, 3, "a")
    columns = [ApiKey.name, ApiKey.role]
    async with tenant_scope(tenant_a, write=False):
        page = await ApiKeyRepository().list_page(ListQuery(sort="name"), columns=columns)
    assert [set(row) for row in page.items] == [{"name", "role"}] * 3


async def test_an_unknown_sort_or_filter_column_is_refused(tenant_a):
    async with tenant_scope(tenant_a, write=False):
        with pytest.raises(ValueError):
            await ApiKeyRepository().list_page(ListQuery(sort='name"; drop table api_key; --'))
        with pytest.raises(ValueError):
            await ApiKeyRepository().list_page(ListQuery(filters={"no_such_column": 1}))


async def test_a_none_filter_means_null(tenant_a):
    await _seed(tenant_a, 8, "a")
    async with tenant_scope(tenant_a, write=False):
        page = await ApiKeyRepository().list_page(ListQuery(filters={"last_used_at": None}))
    assert page.total == 2  # index 0 and 4


async def test_get_by_finds_a_row_of_the_current_tenant_only(tenant_a, tenant_b):
    await _seed(tenant_a, 2, "a")
    await _seed(tenant_b, 2, "b")
    async with tenant_scope(tenant_a):
        repository = ApiKeyRepository()
        assert await repository.get_by(prefix="b0000000000") is None  # tenant B's key
        assert await repository.get_by(prefix="missing") is None
        found = await repository.get_by(prefix="a0000000000")
        assert found is not None and found.tenant == tenant_a.id and found.name == "a 0"
        assert await repository.get_by(prefix="a0000000000", role="admin") is not None
        assert await repository.get_by(prefix="a0000000000", role="viewer") is None
        # A row from get_by is a stored row: saving it updates, never inserts a copy.
        found.name = "renamed"
        await repository.save(found)
        assert await repository.count() == 2
        assert (await repository.get(found.id)).name == "renamed"
