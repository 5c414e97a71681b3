"""Queries on SCIM tokens, provisioned users, groups and group members of the current tenant."""

from __future__ import annotations

import uuid

from salescopilot.scim.tables import ScimGroup, ScimGroupMember, ScimToken, ScimUser
from salescopilot.tenancy.repository import TenantRepository


class ScimTokenRepository(TenantRepository[ScimToken]):
    table = ScimToken

    async def by_prefix(self, prefix: str) -> ScimToken | None:
        return await self.get_by(prefix=prefix)

    async def all(self) -> list[ScimToken]:
        return await self.table.objects().where(self._where()).order_by(ScimToken.created_at, ascending=False)


class ScimUserRepository(TenantRepository[ScimUser]):
    table = ScimUser

    async def of_user(self, user_id: uuid.UUID) -> ScimUser | None:
        return await self.find_one(ScimUser.user == user_id)

    async def of_users(self, user_ids: list[uuid.UUID]) -> list[ScimUser]:
        return await self.find(ScimUser.user.is_in(user_ids)) if user_ids else []

    async def by_user_name(self, user_name: str) -> ScimUser | None:
        return await self.find_one(ScimUser.user_name_key == user_name.strip().lower())

    async def page(self, offset: int, limit: int, *, user_name: str | None = None,
                   external_id: str | None = None) -> tuple[list[ScimUser], int]:
        """One page in creation order, optionally filtered, and the total that match."""
        conditions = []
        if user_name is not None:
            conditions.append(ScimUser.user_name_key == user_name.strip().lower())
        if external_id is not None:
            conditions.append(ScimUser.external_id == external_id)
        where = self._where(*conditions)
        rows = await (
            ScimUser.objects().where(where).order_by(ScimUser.created_at).order_by(ScimUser.id)
            .offset(offset).limit(limit)
        )
        return rows, await ScimUser.count().where(where)


class ScimGroupRepository(TenantRepository[ScimGroup]):
    table = ScimGroup

    async def by_display_name(self, display_name: str) -> ScimGroup | None:
        return await self.find_one(ScimGroup.display_name == display_name)

    async def by_ids(self, ids: list[uuid.UUID]) -> list[ScimGroup]:
        return await self.find(ScimGroup.id.is_in(ids)) if ids else []

    async def page(self, offset: int, limit: int, *, display_name: str | None = None,
                   external_id: str | None = None, ids: list[uuid.UUID] | None = None) -> tuple[list[ScimGroup], int]:
        conditions = []
        if display_name is not None:
            conditions.append(ScimGroup.display_name == display_name)
        if external_id is not None:
            conditions.append(ScimGroup.external_id == external_id)
        if ids is not None:
            if not ids:
                return [], 0
            conditions.append(ScimGroup.id.is_in(ids))
        where = self._where(*conditions)
        rows = await (
            ScimGroup.objects().where(where).order_by(ScimGroup.created_at).order_by(ScimGroup.id)
            .offset(offset).limit(limit)
        )
        return rows, await ScimGroup.count().where(where)


class ScimGroupMemberRepository(TenantRepository[ScimGroupMember]):
    table = ScimGroupMember

    async def users_of(self, group_id: uuid.UUID) -> list[uuid.UUID]:
        return [m.user for m in await self.find(ScimGroupMember.group == group_id)]

    async def groups_of(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        return [m.group for m in await self.find(ScimGroupMember.user == user_id)]

    async def add(self, row: ScimGroupMember) -> ScimGroupMember:  # type: ignore[override]
        exists = await self.exists(ScimGroupMember.group == row.group, ScimGroupMember.user == row.user)
        return row if exists else await super().add(row)

    async def remove(self, group_id: uuid.UUID, user_ids: list[uuid.UUID] | None = None) -> None:
        """Take `user_ids` (every member when None) out of the group."""
        conditions = [ScimGroupMember.group == group_id]
        if user_ids is not None:
            conditions.append(ScimGroupMember.user.is_in(user_ids) if user_ids else ScimGroupMember.user.is_null())
        await self.delete_where(*conditions)

    async def remove_user(self, user_id: uuid.UUID) -> None:
        await self.delete_where(ScimGroupMember.user == user_id)
