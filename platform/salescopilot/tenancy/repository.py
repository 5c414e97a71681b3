"""Repositories for tenant-owned tables: the only code that queries them (an architecture test
checks this). Every query gets the tenant filter; every insert gets the tenant filled in."""

from __future__ import annotations

import functools
import json
import uuid
from typing import Any, ClassVar, Generic, TypeVar

from piccolo.columns import JSON, Column
from piccolo.table import Table
from piccolo.utils.sql_values import convert_to_sql_value

from salescopilot.listing import ListQuery, Page
from salescopilot.tenancy.context import current_tenant_id
from salescopilot.tenancy.tables import Tenant, TenantDomain

T = TypeVar("T", bound=Table)


class TenantRepository(Generic[T]):
    """Base repository bound to the current tenant at construction time."""

    table: ClassVar[type[Table]]
    #: Columns a list may be sorted by.
    sortable: ClassVar[tuple[str, ...]] = ()
    default_sort: ClassVar[str] = "created_at"

    def __init__(self) -> None:
        self.tenant_id = current_tenant_id()

    def _col(self, name: str) -> Column:
        return self.table._meta.get_column_by_name(name)

    def tenant_condition(self):
        return self.table.tenant == self.tenant_id  # type: ignore[attr-defined]

    def _where(self, *conditions):
        combined = self.tenant_condition()
        for condition in conditions:
            combined = combined & condition
        return combined

    async def get(self, id: uuid.UUID) -> T | None:
        return await self.table.objects().where(self._where(self.table._meta.primary_key == id)).first()

    async def get_by(self, **values: Any) -> T | None:
        """The row whose columns equal `values` (meant for unique keys: an API key's prefix, a
        token hash), or None. A hot path: its statement is written once per set of column names
        instead of being built on every call; values are bound parameters."""
        if any(value is None for value in values.values()):
            return await self.find_one(*(self._col(k) == v for k, v in values.items()))
        row = await self.values_by(**values)
        return self.table(**row, _exists_in_db=True) if row is not None else None

    async def values_by(self, **values: Any) -> dict[str, Any] | None:
        """Like `get_by` (no None values), but the row as the driver returns it (a dict of
        column values, not converted), without building a table object: for read-only hot paths."""
        names = tuple(sorted(values))
        statement = _get_by_statement(self.table, names)
        rows = await self.table.raw(statement, self.tenant_id, *(values[n] for n in names))
        return rows[0] if rows else None

    async def find(self, *conditions) -> list[T]:
        return await self.table.objects().where(self._where(*conditions))

    async def find_one(self, *conditions) -> T | None:
        return await self.table.objects().where(self._where(*conditions)).first()

    async def exists(self, *conditions) -> bool:
        return await self.table.exists().where(self._where(*conditions))

    async def count(self, *conditions) -> int:
        return await self.table.count().where(self._where(*conditions))

    async def add(self, row: T) -> T:
        """Insert a new row for the current tenant (its key is made in Python, see `TenantOwned`).

        A hot path (every audited change inserts twice): the INSERT is written once per table
        and the values are converted as Piccolo's own insert converts them."""
        row.tenant = self.tenant_id  # type: ignore[attr-defined]
        columns = self.table._meta.columns
        if row._exists_in_db or getattr(row, self.table._meta.primary_key._meta.name) is None:
            await row.save()
            return row
        values = [convert_to_sql_value(value=getattr(row, c._meta.name), column=c) for c in columns]
        await self.table.raw(_insert_statement(self.table), *values)
        row._exists_in_db = True
        return row

    async def add_many(self, rows: list[T]) -> None:
        for row in rows:
            row.tenant = self.tenant_id  # type: ignore[attr-defined]
        if rows:
            await self.table.insert(*rows)

    async def insert_many(self, rows: list[T]) -> None:
        """Insert new rows for the current tenant in one batch through the driver (a scheduler
        pass writes a thousand at a time); values are converted as `add` converts them."""
        from salescopilot.db.engine import execute_many

        if not rows:
            return
        columns = self.table._meta.columns
        values = []
        for row in rows:
            row.tenant = self.tenant_id  # type: ignore[attr-defined]
            values.append([convert_to_sql_value(value=getattr(row, c._meta.name), column=c) for c in columns])
            row._exists_in_db = True
        await execute_many(_insert_statement(self.table), values)

    async def insert_values(self, rows: list[dict[str, Any]]) -> None:
        """Insert new rows given as plain dicts of every column (but the tenant, filled in here)
        in one batch through the driver, without building row objects: the hottest batch
        writes (a scheduler pass). dict and list values of JSON columns are stored as JSON text."""
        from salescopilot.db.engine import execute_many, fetch_all, get_engine, is_postgres, pg_batch_columns

        if not rows:
            return
        columns = self.table._meta.columns
        names = [c._meta.name for c in columns]
        for row in rows:
            row["tenant"] = self.tenant_id
        # Column by column: JSON is encoded once per distinct object (a campaign's window is
        # the same dict in every row of a pass).
        by_column = []
        for column_type, name in zip(columns, names, strict=True):
            column = [row[name] for row in rows]
            if isinstance(column_type, JSON):
                encoded: dict[int, str] = {}
                column = [(encoded[id(v)] if id(v) in encoded else encoded.setdefault(id(v), json.dumps(v)))
                          if isinstance(v, (dict, list)) else v for v in column]
            by_column.append(column)
        if is_postgres(get_engine()):
            # One statement for the whole batch: each column's values as one array parameter,
            # or one value when every row has the same.
            primary = names.index(self.table._meta.primary_key._meta.name)
            expressions, source, scalars, arrays = pg_batch_columns(columns, by_column, arrays=(primary,))
            quoted = ", ".join('"' + c._meta.db_column_name + '"' for c in columns)
            await fetch_all(
                f'INSERT INTO "{self.table._meta.tablename}" ({quoted}) SELECT {", ".join(expressions)} FROM {source}',
                [*scalars, *arrays],
            )
            return
        await execute_many(_insert_statement(self.table), [list(row) for row in zip(*by_column, strict=True)])

    async def save(self, row: T) -> T:
        """Save changes to a row this repository returned (its tenant cannot change)."""
        if getattr(row, "tenant", None) != self.tenant_id:
            raise PermissionError("row belongs to another tenant")
        await row.save()
        return row

    async def update_where(self, values: dict[str, Any], *conditions) -> int:
        rows = await (
            self.table.update({self._col(k): v for k, v in values.items()})
            .where(self._where(*conditions))
            .returning(self.table._meta.primary_key)
        )
        return len(rows)

    async def delete_where(self, *conditions) -> None:
        await self.table.delete().where(self._where(*conditions))

    async def list_page(
        self, query: ListQuery, *conditions, columns: list[Column] | None = None
    ) -> Page[dict]:
        """One page of rows as dicts, filtered by `query.filters` and sorted by `query.sort`
        (then by primary key, so pages never overlap), with the total of matching rows."""
        if conditions or any(value is None for value in query.filters.values()):
            return await self._list_page_built(query, *conditions, columns=columns)
        # Lists are the hottest read path: their SQL depends only on the shape of the query, so
        # it is written once per shape (`_list_statements`) instead of being built by the query
        # builder on every request; values are always bound parameters.
        filters = tuple(sorted(query.filters))
        page_sql, count_sql = _list_statements(
            self.table,
            tuple(c._meta.name for c in columns) if columns else None,
            filters,
            query.sort or self.default_sort,
            query.descending,
        )
        values = [self.tenant_id, *(query.filters[name] for name in filters)]
        # One statement gives the page and the total (a scalar subquery, evaluated once)...
        rows = await self.table.raw(page_sql, *values, *values, query.limit, query.offset)
        if rows:
            total = rows[0][_TOTAL]
            for row in rows:
                del row[_TOTAL]
        elif query.offset:
            # ...except past the last page, where there is no row to carry it.
            total = (await self.table.raw(count_sql, *values))[0]["total"]
        else:
            total = 0
        return Page(items=rows, total=total, query=query)

    async def _list_page_built(
        self, query: ListQuery, *conditions, columns: list[Column] | None = None
    ) -> Page[dict]:
        """`list_page` through the query builder: for extra conditions and NULL filters."""
        extra = [self._col(name) == value for name, value in query.filters.items()]
        where = self._where(*conditions, *extra)
        select = self.table.select(*(columns or [])).where(where)
        sort_column = self._col(query.sort or self.default_sort)
        pk = self.table._meta.primary_key
        select = select.order_by(sort_column, ascending=not query.descending).order_by(pk)
        rows = await select.limit(query.limit).offset(query.offset)
        total = await self.table.count().where(where)
        return Page(items=rows, total=total, query=query)


def _quoted(table: type[Table], name: str) -> str:
    """A column of `table` as a quoted identifier; raises ValueError for an unknown name, so
    only real column names ever reach the SQL text."""
    return '"' + table._meta.get_column_by_name(name)._meta.db_column_name + '"'


@functools.lru_cache(maxsize=256)
def _insert_statement(table: type[Table]) -> str:
    names = ", ".join('"' + c._meta.db_column_name + '"' for c in table._meta.columns)
    marks = ", ".join("{}" for _ in table._meta.columns)
    return f'INSERT INTO "{table._meta.tablename}" ({names}) VALUES ({marks})'


def _selected(table: type[Table], names: tuple[str, ...]) -> str:
    """The SELECT list for `names`, aliased to the column names where the stored names differ."""
    items = []
    for name in names:
        quoted = _quoted(table, name)
        items.append(quoted if quoted == f'"{name}"' else f'{quoted} AS "{name}"')
    return ", ".join(items)


@functools.lru_cache(maxsize=256)
def _get_by_statement(table: type[Table], names: tuple[str, ...]) -> str:
    where = " AND ".join(f"{_quoted(table, n)} = {{}}" for n in ("tenant", *names))
    every = tuple(c._meta.name for c in table._meta.columns)
    return f'SELECT {_selected(table, every)} FROM "{table._meta.tablename}" WHERE {where} LIMIT 1'


#: The column that carries a list's total in its page statement (not a name any table uses).
_TOTAL = "__list_total"


@functools.lru_cache(maxsize=512)
def _list_statements(
    table: type[Table], columns: tuple[str, ...] | None, filters: tuple[str, ...], sort: str,
    descending: bool,
) -> tuple[str, str]:
    """(page, count) statements for one list shape. `{}` placeholders: the page takes the tenant
    and filter values twice (count, then rows), then LIMIT and OFFSET; the count takes them once."""
    names = columns or tuple(c._meta.name for c in table._meta.columns)
    where = " AND ".join(f"{_quoted(table, n)} = {{}}" for n in ("tenant", *filters))
    source = f'FROM "{table._meta.tablename}" WHERE {where}'
    count = f"SELECT COUNT(*) AS total {source}"
    order = f"{_quoted(table, sort)} {'DESC' if descending else 'ASC'}"
    pk = '"' + table._meta.primary_key._meta.db_column_name + '"'
    page = (
        f'SELECT ({count}) AS "{_TOTAL}", {_selected(table, names)} {source} '
        f"ORDER BY {order}, {pk} ASC LIMIT {{}} OFFSET {{}}"
    )
    return page, count


class TenantCatalogue:
    """Queries on the tenants themselves and their domains (global tables, not tenant-owned)."""

    async def by_hostname(self, hostname: str) -> Tenant | None:
        domain = await TenantDomain.objects().where(TenantDomain.hostname == hostname).first()
        if domain is None:
            return None
        return await self.by_id(domain.tenant)

    async def by_id(self, tenant_id: uuid.UUID) -> Tenant | None:
        return await Tenant.objects().where(Tenant.id == tenant_id).first()

    async def by_slug(self, slug: str) -> Tenant | None:
        return await Tenant.objects().where(Tenant.slug == slug).first()

    async def by_ids(self, ids: list[uuid.UUID]) -> list[Tenant]:
        if not ids:
            return []
        return await Tenant.objects().where(Tenant.id.is_in(ids)).order_by(Tenant.name)

    async def all(self) -> list[Tenant]:
        return await Tenant.objects().order_by(Tenant.slug)

    async def add(self, tenant: Tenant) -> Tenant:
        await tenant.save()
        return tenant

    async def save(self, tenant: Tenant) -> Tenant:
        await tenant.save()
        return tenant

    async def hostnames(self, tenant_id: uuid.UUID) -> list[str]:
        rows = await TenantDomain.select(TenantDomain.hostname).where(TenantDomain.tenant == tenant_id)
        return sorted(r["hostname"] for r in rows)

    async def domain_owner(self, hostname: str) -> uuid.UUID | None:
        row = await TenantDomain.select(TenantDomain.tenant).where(TenantDomain.hostname == hostname).first()
        return row["tenant"] if row else None

    async def add_domain(self, tenant_id: uuid.UUID, hostname: str) -> None:
        await TenantDomain(tenant=tenant_id, hostname=hostname).save()

    async def remove_domain(self, tenant_id: uuid.UUID, hostname: str) -> None:
        await TenantDomain.delete().where(
            (TenantDomain.tenant == tenant_id) & (TenantDomain.hostname == hostname)
        )
