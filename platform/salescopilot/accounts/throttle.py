"""Sign-in throttling: after `max_failures` failures for one (tenant, email) or one IP within the
window, further attempts are refused with 429 until the window passes."""

from __future__ import annotations

import msgspec
from litestar.stores.base import Store

from salescopilot.errors import RateLimited
from salescopilot.settings import LoginThrottleSettings


class LoginThrottle:
    def __init__(self, store: Store, limits: LoginThrottleSettings) -> None:
        self.store = store
        self.limits = limits

    @staticmethod
    def keys(tenant_slug: str, email: str, ip: str | None) -> list[str]:
        keys = [f"email:{tenant_slug}:{email.strip().lower()[:320]}"]
        if ip:
            keys.append(f"ip:{ip}")
        return keys

    async def check(self, keys: list[str]) -> None:
        for key in keys:
            raw = await self.store.get(key)
            if raw is not None and int(msgspec.json.decode(raw)) >= self.limits.max_failures:
                retry_after = await self.store.expires_in(key) or self.limits.window_seconds
                raise RateLimited(
                    "Too many failed sign-in attempts. Try again later.",
                    details={"retryAfterSeconds": retry_after},
                )

    async def record_failure(self, keys: list[str]) -> None:
        for key in keys:
            raw = await self.store.get(key)
            count = int(msgspec.json.decode(raw)) + 1 if raw is not None else 1
            remaining = await self.store.expires_in(key) if raw is not None else None
            await self.store.set(
                key, msgspec.json.encode(count), expires_in=remaining or self.limits.window_seconds
            )

    async def reset(self, keys: list[str]) -> None:
        # The IP counter is shared by everyone behind one NAT; only the account's is cleared.
        for key in keys:
            if key.startswith("email:"):
                await self.store.delete(key)
