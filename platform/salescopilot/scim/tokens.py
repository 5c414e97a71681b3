"""SCIM bearer tokens: one or more per tenant (two during a rotation), shown once, stored as a
SHA-256, revocable. A token authenticates only `/scim/v2` of its own tenant."""

from __future__ import annotations

import secrets
import uuid

from salescopilot.accounts.principal import Principal
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.crypto import constant_time_equals, sha256_hex
from salescopilot.errors import NotFound
from salescopilot.scim.repository import ScimTokenRepository
from salescopilot.scim.tables import ScimToken

TOKEN_PREFIX = "scim_"
#: The one permission a SCIM principal has; SCIM routes declare it.
SCIM_PERMISSION = "scim.provision"


class ScimTokenNotFound(NotFound):
    code = "SCIM_TOKEN_NOT_FOUND"
    default_message = "No such SCIM token."


class ScimTokenService:
    def __init__(self, *, clock: Clock) -> None:
        self.clock = clock
        self.tokens = ScimTokenRepository()
        self.audit = AuditService(clock)

    async def create(self, actor: Principal) -> tuple[ScimToken, str]:
        """A new token row and the token itself, which is never shown again."""
        prefix = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        row = ScimToken(prefix=prefix, token_hash=sha256_hex(token), created_by=actor.user_id,
                        created_at=self.clock.now())
        await self.tokens.add(row)
        await self.audit.record("scim.token_created", target_type="scim_token", target_id=str(row.id),
                                after={"prefix": prefix})
        return row, token

    async def revoke(self, token_id: uuid.UUID) -> None:
        row = await self.tokens.get(token_id)
        if row is None:
            raise ScimTokenNotFound()
        if row.revoked_at is None:
            row.revoked_at = self.clock.now()
            await self.tokens.save(row)
            await self.audit.record("scim.token_revoked", target_type="scim_token", target_id=str(row.id),
                                    before={"revoked": False}, after={"revoked": True})

    async def list(self) -> list[ScimToken]:
        return await self.tokens.all()

    async def authenticate(self, token: str) -> Principal | None:
        """The SCIM principal of a live token of the current tenant, else None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        prefix, _, rest = token[len(TOKEN_PREFIX):].partition("_")
        if len(prefix) != 12 or not rest:
            return None
        row = await self.tokens.by_prefix(prefix)
        if row is None or row.revoked_at is not None or not constant_time_equals(row.token_hash, sha256_hex(token)):
            return None
        return Principal(
            user_id=None,
            label=f"SCIM token {row.prefix}",
            role="scim",
            permissions=frozenset({SCIM_PERMISSION}),
            via="scim",
            api_key_id=row.id,
        )
