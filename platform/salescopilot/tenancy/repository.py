"""Repositories for tenant-owned tables: the only code that queries them (an architecture test
checks this). Every query gets the tenant filter; every insert gets the tenant filled in."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Generic, TypeVar

from piccolo.columns import Column
from piccolo.table import Table

from salescopilot.listing import ListQuery, Page
from salescopilot.tenancy.context import current_tenant_id
from salescopilot.tenancy.tables import Tenant, TenantDomain

T = TypeVar("T", bound=Table)


class TenantRepository(Generic[T]):
    """Base repository bound to the current tenant at construction time."""

    table: ClassVar[type[Table]]
    #: Columns a list may be filtered on (equality) and sorted by.
    filterable: ClassVar[tuple[str, ...]] = ()
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

    async def find(self, *conditions) -> list[T]:
        return await self.table.objects().where(self._where(*conditions))

    async def find_one(self, *conditions) -> T | None:
        return await self.table.objects().where(self._where(*conditions)).first()

    async def exists(self, *conditions) -> bool:
        return await self.table.exists().where(self._where(*conditions))

    async def count(self, *conditions) -> int:
        return await self.table.count().where(self._where(*conditions))

    async def add(self, row: T) -> T:
        row.tenant = self.tenant_id  # type: ignore[attr-defined]
        await row.save()
        return row

    async def add_many(self, rows: list[T]) -> None:
        for row in rows:
            row.tenant = self.tenant_id  # type: ignore[attr-defined]
        if rows:
            await self.table.insert(*rows)

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

    async def list_page(self, query: ListQuery, *conditions, columns: list[Column] | None = None) -> Page[dict]:
        """One page of rows as dicts, filtered by `query.filters` and sorted by `query.sort`."""
        extra = [self._col(name) == value for name, value in query.filters.items()]
        where = self._where(*conditions, *extra)
        select = self.table.select(*(columns or [])).where(where)
        sort_column = self._col(query.sort or self.default_sort)
        pk = self.table._meta.primary_key
        select = select.order_by(sort_column, ascending=not query.descending).order_by(pk)
        rows = await select.limit(query.limit).offset(query.offset)
        total = await self.table.count().where(where)
        return Page(items=rows, total=total, query=query)


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
