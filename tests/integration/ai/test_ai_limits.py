"""Per-tenant monthly token budgets and rate limits hold under concurrent requests (reserved in
the database before the call, settled after), and one tenant's key, cache entries and usage are
never visible to another."""

from __future__ import annotations

import asyncio
import json

import pytest

from salescopilot.ai.errors import AiBudgetExceeded, AiNotConfigured, AiRateLimited
from salescopilot.ai.repository import AiCacheRepository, AiMeterRepository, AiUsageRepository
from salescopilot.settings import AiSettings as OperatorAi
from salescopilot.tenancy.context import tenant_context, tenant_scope
from tests.ai_server import Reply
from tests.integration.ai.conftest import configure, service_for

@pytest.fixture
async def model_client():
    """Patient: calls are held in flight on purpose here, longer than the usual test timeout."""
    from salescopilot.ai.client import CallPolicy, ModelClient

    client = ModelClient(CallPolicy(timeout=30, max_retries=0))
    yield client
    await client.close()


EMAIL = json.dumps({"subject": "Hello", "body": "Hi {{firstName}}, a short note. Best"})


async def _many(service, tenant, server, count: int, admitted: int) -> list:
    """`count` concurrent generations; the model holds its answers until every call that was
    not admitted has been refused, so no settlement can make room in between."""
    gate = asyncio.Event()
    server.default = lambda request: Reply(content=EMAIL, gate=gate, prompt_tokens=50, completion_tokens=20)

    async def one(number: int):
        with tenant_context(tenant):
            return await service.generate(brief=f"brief {number:03d}", lead_id=None, enrichment={},
                                          tone="friendly", length="short", language=None)

    tasks = [asyncio.create_task(one(n)) for n in range(count)]
    for _ in range(400):
        if sum(task.done() for task in tasks) >= count - admitted:
            break
        await asyncio.sleep(0.025)
    await asyncio.sleep(0.1)
    gate.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_monthly_budget_holds_under_concurrent_calls(settings, db, tenant_a, clock, model_client, openai_server):
    # Each call reserves its prompt estimate plus 10,000 output tokens: three fit in 35,000.
    operator = OperatorAi(max_output_tokens=10_000)
    service = service_for(settings, clock, operator, model_client)
    await configure(service, tenant_a, openai_server, monthlyTokenBudget=35_000)
    results = await _many(service, tenant_a, openai_server, 10, 3)
    ok = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, AiBudgetExceeded)]
    assert len(ok) == 3 and len(refused) == 7, results
    assert refused[0].status_code == 402 and refused[0].details["budget"] == 35_000
    assert len(openai_server.received) == 3
    async with tenant_scope(tenant_a):
        meter = await AiMeterRepository().of_month("2026-11")
    assert (meter.tokens_used, meter.tokens_reserved) == (3 * 70, 0)
    # Settled calls give back what they did not use: the next call fits again.
    with tenant_context(tenant_a):
        again = await service.generate(brief="later", lead_id=None, enrichment={}, tone="friendly",
                                       length="short", language=None)
    assert again.output["subject"] == "Hello"


async def test_a_budget_past_two_billion_tokens_is_honoured(settings, db, tenant_a, clock, operator, model_client, openai_server):
    """The settings accept budgets up to 10^12 tokens; PostgreSQL once typed the budget int4."""
    service = service_for(settings, clock, operator, model_client)
    await configure(service, tenant_a, openai_server, monthlyTokenBudget=10**11)
    openai_server.default = lambda request: Reply(content=EMAIL, prompt_tokens=50, completion_tokens=20)
    with tenant_context(tenant_a):
        result = await service.generate(brief="big budget", lead_id=None, enrichment={}, tone="friendly",
                                        length="short", language=None)
    assert result.output["subject"] == "Hello"


async def test_the_rate_limit_holds_under_concurrent_calls(settings, db, tenant_a, clock, operator, model_client, openai_server):
    service = service_for(settings, clock, operator, model_client)
    await configure(service, tenant_a, openai_server, requestsPerMinute=4)
    results = await _many(service, tenant_a, openai_server, 9, 4)
    limited = [r for r in results if isinstance(r, AiRateLimited)]
    assert len([r for r in results if not isinstance(r, Exception)]) == 4 and len(limited) == 5
    assert limited[0].status_code == 429 and limited[0].code == "AI_RATE_LIMITED"
    # A new minute opens a new window.
    clock.advance(seconds=60)
    with tenant_context(tenant_a):
        await service.generate(brief="next minute", lead_id=None, enrichment={}, tone="friendly",
                               length="short", language=None)


async def test_a_tenants_key_cache_and_usage_stay_its_own(settings, db, tenant_a, tenant_b, clock, operator,
                                                         model_client, openai_server):
    service = service_for(settings, clock, operator, model_client)
    await configure(service, tenant_a, openai_server)
    openai_server.script(Reply(content=EMAIL))
    kwargs = dict(brief="shared brief", lead_id=None, enrichment={}, tone="friendly", length="short", language=None)
    with tenant_context(tenant_a):
        await service.generate(**kwargs)
    # B has no provider: A's key is not used for it.
    with tenant_context(tenant_b), pytest.raises(AiNotConfigured):
        await service.generate(**kwargs)
    with tenant_context(tenant_b):
        view = await service.settings_view()
        usage = await service.usage()
    assert not view["configured"] and not view["apiKeySet"] and usage["byFeature"] == [] and usage["tokensUsed"] == 0
    # B with the same provider and input gets no cache hit from A: its own call, its own key.
    await configure(service, tenant_b, openai_server)
    openai_server.script(Reply(content=EMAIL))
    with tenant_context(tenant_b):
        result = await service.generate(**kwargs)
    assert not result.cached and openai_server.received[-1].headers["authorization"] == "Bearer sk-globex-secret"
    for tenant in (tenant_a, tenant_b):
        async with tenant_scope(tenant):
            entries = await AiCacheRepository().find()
            lines = await AiUsageRepository().find()
        assert len(entries) == 1 and {e.tenant for e in entries} == {tenant.id}
        assert len(lines) == 1 and lines[0].tenant == tenant.id
    # The key is stored encrypted.
    from salescopilot.ai.repository import AiSettingsRepository

    async with tenant_scope(tenant_a):
        row = await AiSettingsRepository().current()
    assert "sk-acme-secret" not in row.api_key_encrypted and row.api_key_encrypted
