"""Queries on a tenant's SSO connection and the NameIDs linked to its users."""

from __future__ import annotations

import uuid

from salescopilot.sso.tables import SsoConnection, SsoIdentity
from salescopilot.tenancy.repository import TenantRepository


class SsoConnectionRepository(TenantRepository[SsoConnection]):
    table = SsoConnection

    async def current(self) -> SsoConnection | None:
        """The tenant's connection (there is at most one)."""
        return await self.find_one()


class SsoIdentityRepository(TenantRepository[SsoIdentity]):
    table = SsoIdentity

    async def by_name_id(self, name_id: str) -> SsoIdentity | None:
        return await self.find_one(SsoIdentity.name_id == name_id)

    async def of_user(self, user_id: uuid.UUID) -> list[SsoIdentity]:
        return await self.find(SsoIdentity.user == user_id)
