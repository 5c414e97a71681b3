"""Short-lived SAML state in a shared store (Redis when configured, so every web process sees
it): AuthnRequests waiting for their Response, LogoutRequests waiting for theirs, and the
assertion replay cache."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

import msgspec
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore

from salescopilot.crypto import sha256_hex

#: How long a user may spend at the IdP between our AuthnRequest and its Response.
PENDING_TTL = 600
#: Kept at least this long even when the assertion names an earlier NotOnOrAfter (clock skew).
MIN_REPLAY_TTL = 600
MAX_REPLAY_TTL = 24 * 3600


@dataclass(frozen=True, slots=True)
class PendingLogin:
    tenant_id: str
    request_id: str
    next_path: str
    #: "login" or "test" (the settings page's test connection: no session is started).
    purpose: str
    #: A nonce also set as a cookie in the browser that started the sign-in (with secure
    #: cookies only): the Response must come back through that browser (no login CSRF).
    browser: str = ""


class SamlState:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def begin_login(
        self, tenant_id: uuid.UUID, request_id: str, next_path: str, purpose: str, browser: str = ""
    ) -> None:
        data = PendingLogin(str(tenant_id), request_id, next_path, purpose, browser)
        await self.store.set(
            self._pending_key(tenant_id, request_id), msgspec.json.encode(asdict(data)),
            expires_in=PENDING_TTL,
        )

    async def take_login(self, tenant_id: uuid.UUID, request_id: str) -> PendingLogin | None:
        """The pending login `request_id` of this tenant, once: it is deleted as it is read."""
        if not request_id or len(request_id) > 256:
            return None
        key = self._pending_key(tenant_id, request_id)
        raw = await self.store.get(key)
        if raw is None:
            return None
        await self.store.delete(key)
        return PendingLogin(**msgspec.json.decode(raw))

    async def first_use_of_assertion(self, tenant_id: uuid.UUID, assertion_id: str, ttl: int) -> bool:
        """True the first time an assertion ID is seen for this tenant; False on a replay."""
        key = "a:" + sha256_hex(f"{tenant_id}:{assertion_id}")
        ttl = max(MIN_REPLAY_TTL, min(ttl, MAX_REPLAY_TTL))
        if isinstance(self.store, RedisStore):
            # SET NX: two web processes given the same assertion at once cannot both win.
            # (Litestar's Store has no set-if-absent; its Redis store exposes the client.)
            return bool(await self.store._redis.set(self.store._make_key(key), b"1", nx=True, ex=ttl))
        if await self.store.exists(key):
            return False
        await self.store.set(key, b"1", expires_in=ttl)
        return True

    async def remember_logout(self, tenant_id: uuid.UUID, relay: str, request_id: str) -> None:
        """Our LogoutRequest `request_id`, found again by the RelayState the IdP echoes."""
        await self.store.set("l:" + sha256_hex(f"{tenant_id}:{relay}"), request_id.encode(), expires_in=PENDING_TTL)

    async def take_logout(self, tenant_id: uuid.UUID, relay: str | None) -> str | None:
        if not relay or len(relay) > 128:
            return None
        key = "l:" + sha256_hex(f"{tenant_id}:{relay}")
        raw = await self.store.get(key)
        await self.store.delete(key)
        return raw.decode() if raw else None

    @staticmethod
    def _pending_key(tenant_id: uuid.UUID, request_id: str) -> str:
        return "r:" + sha256_hex(f"{tenant_id}:{request_id}")
