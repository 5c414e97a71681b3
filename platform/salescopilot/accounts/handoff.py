"""Switching tenants without signing in again.

Tenants live on different hosts, so a session cookie of one is never sent to another. The switcher
issues a signed token, valid for a minute and once, that names the person and the target tenant;
the target host redeems it and starts its own session if the person is still a member there.
"""

from __future__ import annotations

import uuid

from litestar.stores.base import Store

from salescopilot.accounts.repository import UserTenantRepository
from salescopilot.accounts.service import AccountService
from salescopilot.clock import Clock
from salescopilot.crypto import InvalidSignedToken, sign_token, unsign_token
from salescopilot.tenancy.context import current_tenant
from salescopilot.tenancy.repository import TenantCatalogue

HANDOFF_SECONDS = 60
PURPOSE = "handoff"


class TenantHandoff:
    def __init__(self, *, secret_key: str, used_tokens: Store, clock: Clock, base_domain: str) -> None:
        self.secret_key = secret_key
        self.used_tokens = used_tokens
        self.clock = clock
        self.base_domain = base_domain

    async def issue(self, user_id: uuid.UUID, tenant_id: uuid.UUID) -> tuple[str, str] | None:
        """(host to send the person to, token), or None when they are not in that tenant or it
        has no host. The preferred host is `<slug>.<base domain>`."""
        if tenant_id not in await UserTenantRepository().tenants_of(user_id):
            return None
        catalogue = TenantCatalogue()
        target = await catalogue.by_id(tenant_id)
        hostnames = await catalogue.hostnames(tenant_id) if target else []
        if target is None or not hostnames:
            return None
        preferred = f"{target.slug}.{self.base_domain}"
        host = preferred if preferred in hostnames else hostnames[0]
        token = sign_token(
            self.secret_key,
            PURPOSE,
            {"user_id": str(user_id), "tenant_id": str(tenant_id), "nonce": uuid.uuid4().hex},
            self.clock.now().timestamp() + HANDOFF_SECONDS,
        )
        return host, token

    async def redeem(self, token: str, accounts: AccountService) -> uuid.UUID | None:
        """The person a token signs in to the current tenant, once; None for a token that is
        forged, expired, used, minted for another tenant, or whose person left the tenant."""
        try:
            payload = unsign_token(self.secret_key, PURPOSE, token[:2000], self.clock.now().timestamp())
            user_id = uuid.UUID(str(payload.get("user_id")))
        except (InvalidSignedToken, ValueError):
            return None
        nonce_key = "handoff:" + str(payload.get("nonce"))
        if payload.get("tenant_id") != str(current_tenant().id) or await self.used_tokens.exists(nonce_key):
            return None
        await self.used_tokens.set(nonce_key, b"1", expires_in=HANDOFF_SECONDS * 2)
        if await accounts.principal_for_user(user_id) is None:
            return None
        user = await accounts.users.by_id(user_id)
        await accounts.complete_sign_in(user, method="tenant_switch")
        return user_id
