"""Queries on users (global), memberships, API keys and invites (tenant-owned)."""

from __future__ import annotations

import datetime as dt
import uuid

from salescopilot.accounts.tables import ApiKey, Invite, Membership, User, UserTenant
from salescopilot.tenancy.repository import TenantRepository


class UserRepository:
    """Users are global; what a user may see of a tenant always goes through a membership."""

    async def by_id(self, user_id: uuid.UUID) -> User | None:
        return await User.objects().where(User.id == user_id).first()

    async def by_email(self, email: str) -> User | None:
        return await User.objects().where(User.email == email.strip().lower()).first()

    async def by_ids(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, User]:
        if not ids:
            return {}
        return {u.id: u for u in await User.objects().where(User.id.is_in(ids))}

    async def add(self, user: User) -> User:
        user.email = user.email.strip().lower()
        await user.save()
        return user

    async def save(self, user: User) -> User:
        await user.save()
        return user


class UserTenantRepository:
    """The global index of which tenants a user belongs to (for the tenant switcher), kept in step
    with `Membership` by `TeamService`. It says nothing about roles."""

    async def tenants_of(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await UserTenant.select(UserTenant.tenant).where(UserTenant.user == user_id)
        return [r["tenant"] for r in rows]

    async def link(self, user_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
        exists = await UserTenant.exists().where(
            (UserTenant.user == user_id) & (UserTenant.tenant == tenant_id)
        )
        if not exists:
            await UserTenant(user=user_id, tenant=tenant_id).save()

    async def unlink(self, user_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
        await UserTenant.delete().where((UserTenant.user == user_id) & (UserTenant.tenant == tenant_id))


class MembershipRepository(TenantRepository[Membership]):
    table = Membership
    sortable = ("created_at", "role")

    async def for_user(self, user_id: uuid.UUID) -> Membership | None:
        return await self.find_one(Membership.user == user_id)

    async def count_role(self, role: str) -> int:
        return await self.count(Membership.role == role)


class ApiKeyRepository(TenantRepository[ApiKey]):
    table = ApiKey
    sortable = ("created_at", "name", "last_used_at")

    async def by_prefix(self, prefix: str) -> ApiKey | None:
        return await self.get_by(prefix=prefix)

    async def active_created_by(self, user_id: uuid.UUID) -> list[ApiKey]:
        return await self.find(ApiKey.created_by == user_id, ApiKey.revoked_at.is_null())

    async def touch_last_used(self, key_id: uuid.UUID, when: dt.datetime) -> None:
        """Record that a key was used (always in a write transaction: read-only requests write
        it after their own transaction, see `ApiKeyService.authenticate`)."""
        await self.update_where({"last_used_at": when}, ApiKey.id == key_id)


class InviteRepository(TenantRepository[Invite]):
    table = Invite
    sortable = ("created_at", "expires_at")

    async def by_token_hash(self, token_hash: str) -> Invite | None:
        return await self.find_one(Invite.token_hash == token_hash)

    async def pending(self) -> list[Invite]:
        return await self.find(Invite.accepted_at.is_null(), Invite.revoked_at.is_null())
