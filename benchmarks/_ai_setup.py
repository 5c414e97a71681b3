"""Shared set-up of the AI benchmarks: a tenant with an owner API key and its AI provider set to
the local OpenAI-compatible server of the tests (`tests/ai_server.py`)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SLUG = "bench"


async def seed_ai_tenant(base_url: str):
    """(TenantRef, API key token) for a tenant whose AI provider is `base_url`, with budget and
    rate high enough never to refuse a benchmark call. Runs inside a started database."""
    from _harness import seed_tenant
    from salescopilot.accounts.api_keys import ApiKeyService
    from salescopilot.accounts.permissions import build_catalogue
    from salescopilot.accounts.principal import Principal
    from salescopilot.actor import Actor, acting_as
    from salescopilot.ai.client import ModelClient
    from salescopilot.ai.service import AiService
    from salescopilot.clock import system_clock
    from salescopilot.crypto import SecretBox
    from salescopilot.settings import get_settings
    from salescopilot.tenancy.context import tenant_scope

    settings = get_settings()
    tenant, owner_id = await seed_tenant(SLUG, "owner@bench.example")
    permissions = build_catalogue()
    owner = Principal(user_id=owner_id, label="owner", role="owner",
                      permissions=permissions.for_role("owner"), via="session")
    with acting_as(Actor(kind="system", label="benchmark")):
        async with tenant_scope(tenant):
            _, token = await ApiKeyService(clock=system_clock, permissions=permissions).create(owner, "bench", "owner")
            await AiService(clock=system_clock, operator=settings.ai, secret_box=SecretBox.from_settings(settings),
                            client=ModelClient()).update_settings({
                "baseUrl": base_url, "model": "bench-model", "apiKey": "sk-bench",
                "monthlyTokenBudget": 10**11, "requestsPerMinute": 100_000,
            })
    return tenant, token
