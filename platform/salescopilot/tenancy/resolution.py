"""Host -> tenant, with a short in-process cache (tenants and domains change rarely; a changed
domain is seen by every process within `TTL_SECONDS`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from salescopilot.db.json_column import json_dict
from salescopilot.tenancy.context import TenantRef
from salescopilot.tenancy.repository import TenantCatalogue

TTL_SECONDS = 30.0
_MAX_ENTRIES = 10_000


def normalise_host(host: str) -> str | None:
    """The hostname of a Host header, lower-cased, without port; None if it is not a hostname."""
    host = host.strip().lower()
    if host.startswith("["):
        return None  # IPv6 literal: never a tenant domain.
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    host = host.rstrip(".")
    if not host or len(host) > 253 or not all(c.isalnum() or c in "-." for c in host):
        return None
    return host


@dataclass(frozen=True, slots=True)
class ResolvedTenant:
    ref: TenantRef
    name: str
    theme: str
    theme_tokens: dict


class TenantResolver:
    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, ResolvedTenant | None]] = {}

    async def resolve(self, host: str) -> ResolvedTenant | None:
        """The active tenant serving `host`, or None (the caller answers 404)."""
        hostname = normalise_host(host)
        if hostname is None:
            return None
        now = time.monotonic()
        cached = self._cache.get(hostname)
        if cached is not None and cached[0] > now:
            return cached[1]
        tenant = await TenantCatalogue().by_hostname(hostname)
        ref = None
        if tenant is not None and tenant.status == "active":
            ref = ResolvedTenant(
                ref=TenantRef(id=tenant.id, slug=tenant.slug),
                name=tenant.name,
                theme=tenant.theme,
                theme_tokens=json_dict(tenant.theme_tokens),
            )
        if len(self._cache) >= _MAX_ENTRIES:
            self._cache.clear()
        self._cache[hostname] = (now + TTL_SECONDS, ref)
        return ref

    def forget(self) -> None:
        self._cache.clear()
