"""Server-side web sessions.

The cookie holds a random token; the store key is its SHA-256, so a leaked store reveals no usable
cookie. A new token is issued at every sign-in (no session fixation), sessions expire after
`sessions.max_age` idle seconds, and every session of a user can be ended at once (role removal,
deprovisioning) through a per-user index.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field

import msgspec
from litestar.stores.base import Store

from salescopilot.crypto import sha256_hex
from salescopilot.settings import Settings


@dataclass
class SessionData:
    user_id: str
    tenant_id: str
    created_at: float
    #: Random per session; forms and API calls made with the session must echo it (CSRF).
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: Absolute end (epoch seconds) whatever the activity: a tenant's SSO session lifetime.
    expires_at: float | None = None
    #: For SAML sign-ins, what single logout needs: name_id, name_id_format, session_index.
    sso: dict | None = None


@dataclass
class PendingSecondFactor:
    """A password was right; the TOTP code is still owed. Lives under its own short-lived token."""

    user_id: str
    tenant_id: str
    created_at: float


class SessionManager:
    PENDING_TTL = 300

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.max_age = settings.sessions.max_age

    @staticmethod
    def _key(token: str) -> str:
        return "s:" + sha256_hex(token)

    async def start(
        self, user_id: uuid.UUID, tenant_id: uuid.UUID, *, lifetime: int | None = None,
        sso: dict | None = None,
    ) -> tuple[str, SessionData]:
        """A new session; `lifetime` (seconds) caps it however active it stays."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        data = SessionData(
            user_id=str(user_id), tenant_id=str(tenant_id), created_at=now,
            expires_at=now + lifetime if lifetime else None, sso=sso,
        )
        expires_in = min(self.max_age, lifetime) if lifetime else self.max_age
        await self.store.set(self._key(token), msgspec.json.encode(asdict(data)), expires_in=expires_in)
        await self._index(user_id, token)
        return token, data

    async def load(self, token: str | None) -> SessionData | None:
        if not token or len(token) > 128:
            return None
        raw = await self.store.get(self._key(token), renew_for=self.max_age)
        if raw is None:
            return None
        try:
            data = SessionData(**msgspec.json.decode(raw))
        except (msgspec.DecodeError, TypeError):
            return None
        if data.expires_at is not None and time.time() >= data.expires_at:
            await self.store.delete(self._key(token))
            return None
        return data

    async def end(self, token: str | None) -> None:
        if token and len(token) <= 128:
            await self.store.delete(self._key(token))

    async def end_all_for_user(self, user_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> int:
        """End the user's sessions: all of them, or only those in `tenant_id` (deprovisioning
        or single logout in one tenant leaves the user's other tenants alone). How many ended."""
        index_key = f"u:{user_id}"
        raw = await self.store.get(index_key)
        keys = msgspec.json.decode(raw) if raw else []
        kept, ended = [], 0
        for key in keys:
            if tenant_id is not None:
                stored = await self.store.get(key)
                if stored is None:
                    continue
                try:
                    in_tenant = msgspec.json.decode(stored).get("tenant_id") == str(tenant_id)
                except msgspec.DecodeError:
                    in_tenant = True
                if not in_tenant:
                    kept.append(key)
                    continue
            await self.store.delete(key)
            ended += 1
        if kept:
            await self.store.set(index_key, msgspec.json.encode(kept), expires_in=self.max_age)
        else:
            await self.store.delete(index_key)
        return ended

    async def _index(self, user_id: uuid.UUID, token: str) -> None:
        index_key = f"u:{user_id}"
        raw = await self.store.get(index_key)
        keys = [k for k in (msgspec.json.decode(raw) if raw else []) if await self.store.exists(k)]
        keys.append(self._key(token))
        await self.store.set(index_key, msgspec.json.encode(keys[-50:]), expires_in=self.max_age)

    async def start_pending(self, user_id: uuid.UUID, tenant_id: uuid.UUID) -> str:
        token = secrets.token_urlsafe(32)
        data = PendingSecondFactor(str(user_id), str(tenant_id), time.time())
        await self.store.set(
            "p:" + sha256_hex(token), msgspec.json.encode(asdict(data)), expires_in=self.PENDING_TTL
        )
        return token

    async def load_pending(self, token: str | None) -> PendingSecondFactor | None:
        if not token or len(token) > 128:
            return None
        raw = await self.store.get("p:" + sha256_hex(token))
        return PendingSecondFactor(**msgspec.json.decode(raw)) if raw else None

    async def end_pending(self, token: str) -> None:
        await self.store.delete("p:" + sha256_hex(token))
