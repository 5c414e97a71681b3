"""API keys: shown once, stored as a SHA-256, scoped to one tenant and a role, revocable."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from salescopilot.accounts.errors import ApiKeyNotFound, RoleNotAllowed
from salescopilot.accounts.permissions import PermissionCatalogue, can_assign
from salescopilot.accounts.principal import Principal
from salescopilot.accounts.repository import ApiKeyRepository
from salescopilot.accounts.tables import ApiKey
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.crypto import constant_time_equals, sha256_hex
from salescopilot.errors import ValidationFailed
from salescopilot.listing import ListQuery, Page

KEY_PREFIX = "sc_"
#: `last_used_at` is written at most this often per key, so reads stay reads.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)

PUBLIC_COLUMNS = (
    "id", "name", "prefix", "role", "created_by", "created_at", "last_used_at", "expires_at",
    "revoked_at",
)

_PUBLIC = [ApiKey._meta.get_column_by_name(c) for c in PUBLIC_COLUMNS]


def parse_key(token: str) -> tuple[str, str] | None:
    """(prefix, whole key) of `sc_<prefix>_<secret>`, or None if it is not shaped like one."""
    if not token.startswith(KEY_PREFIX) or len(token) > 100:
        return None
    parts = token[len(KEY_PREFIX):].split("_", 1)
    if len(parts) != 2 or len(parts[0]) != 12 or not parts[1]:
        return None
    return parts[0], token


class ApiKeyService:
    SORTABLE = ApiKeyRepository.sortable

    def __init__(self, *, clock: Clock, permissions: PermissionCatalogue) -> None:
        self.clock = clock
        self.permissions = permissions
        self.keys = ApiKeyRepository()
        self.audit = AuditService(clock)
        #: (key id, when) of a use `authenticate` saw but was told not to write.
        self.pending_use: tuple[uuid.UUID, dt.datetime] | None = None

    async def create(
        self, actor: Principal, name: str, role: str, expires_at: dt.datetime | None = None
    ) -> tuple[ApiKey, str]:
        """The new key row and the key itself, which is never shown again."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise ValidationFailed("Give the key a name of 1 to 100 characters.", details={"field": "name"})
        if not can_assign(actor.role, role):
            raise RoleNotAllowed()
        if expires_at is not None and expires_at <= self.clock.now():
            raise ValidationFailed("The expiry must be in the future.", details={"field": "expiresAt"})
        prefix = secrets.token_hex(6)
        token = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        key = ApiKey(
            name=name,
            prefix=prefix,
            key_hash=sha256_hex(token),
            role=role,
            created_by=actor.user_id,
            created_at=self.clock.now(),
            expires_at=expires_at,
        )
        await self.keys.add(key)
        await self.audit.record(
            "api_key.created", target_type="api_key", target_id=str(key.id),
            after={"name": name, "role": role, "prefix": prefix},
        )
        return key, token

    async def revoke(self, key_id: uuid.UUID) -> ApiKey:
        key = await self.keys.get(key_id)
        if key is None:
            raise ApiKeyNotFound()
        if key.revoked_at is None:
            key.revoked_at = self.clock.now()
            await self.keys.save(key)
            await self.audit.record(
                "api_key.revoked", target_type="api_key", target_id=str(key.id),
                before={"revoked": False}, after={"revoked": True},
            )
        return key

    async def revoke_all_of_user(self, user_id: uuid.UUID) -> int:
        """Revoke every live key `user_id` created in this tenant (deprovisioning); how many."""
        keys = await self.keys.active_created_by(user_id)
        for key in keys:
            await self.revoke(key.id)
        return len(keys)

    async def revoke_many(self, key_ids: list[uuid.UUID]) -> int:
        """Revoke every key, or none: an unknown id raises and the request's transaction rolls
        back the ones already revoked."""
        unique = list(dict.fromkeys(key_ids))
        for key_id in unique:
            await self.revoke(key_id)
        return len(unique)

    async def record_pending_use(self) -> None:
        """Write the use `authenticate` saw but did not record (see there)."""
        if self.pending_use is not None:
            key_id, when = self.pending_use
            self.pending_use = None
            await self.keys.touch_last_used(key_id, when)

    async def list(self, query: ListQuery) -> Page[dict]:
        return await self.keys.list_page(query, columns=_PUBLIC)

    async def authenticate(self, token: str, *, record_use: bool = True) -> Principal | None:
        """The principal of a valid, unrevoked, unexpired key of the current tenant, else None.

        The key's `last_used_at` (to the minute) is written in the current transaction, or, with
        `record_use=False` (a read-only request), kept in `pending_use` for the caller to write
        with `record_pending_use` in a write transaction of its own."""
        parsed = parse_key(token)
        if parsed is None:
            return None
        prefix, whole = parsed
        key = await self.keys.by_prefix(prefix)
        if key is None or not constant_time_equals(key.key_hash, sha256_hex(whole)):
            return None
        now = self.clock.now()
        if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
            return None
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            self.pending_use = (key.id, now)
            if record_use:
                await self.record_pending_use()
        return Principal(
            user_id=key.created_by,
            label=f"api key {key.name} ({key.prefix})",
            role=key.role,
            permissions=self.permissions.for_role(key.role),
            via="api_key",
            api_key_id=key.id,
        )
