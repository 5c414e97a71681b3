"""The AI tests' set-up: a local OpenAI-compatible server, a model client whose backoff sleeps are
recorded instead of slept, and services for tenants A and B."""

from __future__ import annotations

import uuid

import pytest

from salescopilot.ai.client import CallPolicy, ModelClient
from salescopilot.ai.service import AiService
from salescopilot.clock import FakeClock
from salescopilot.crypto import SecretBox
from salescopilot.settings import AiSettings as OperatorAi
from salescopilot.tenancy.context import TenantRef, tenant_context
from tests.ai_server import FakeOpenAI, Reply  # noqa: F401 - re-exported for the tests


@pytest.fixture
async def openai_server():
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def model_client(sleeps):
    async def record(seconds: float) -> None:
        sleeps.append(round(seconds, 3))

    client = ModelClient(CallPolicy(timeout=0.5, max_retries=2, max_retry_after=5, breaker_failures=50), sleep=record)
    yield client
    await client.close()


@pytest.fixture
def clock():
    import datetime as dt

    return FakeClock(dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def operator() -> OperatorAi:
    return OperatorAi(api_key=None, max_output_tokens=400)


def service_for(settings, clock, operator, client, user_id: uuid.UUID | None = None) -> AiService:
    return AiService(clock=clock, operator=operator, secret_box=SecretBox.from_settings(settings),
                     client=client, user_id=user_id)


async def configure(service: AiService, tenant: TenantRef, server: FakeOpenAI, **extra) -> None:
    with tenant_context(tenant):
        await service.update_settings({"baseUrl": server.base_url, "model": "test-model",
                                       "apiKey": f"sk-{tenant.slug}-secret", **extra})


@pytest.fixture
async def ai_a(settings, db, tenant_a, clock, operator, model_client, openai_server) -> AiService:
    service = service_for(settings, clock, operator, model_client)
    await configure(service, tenant_a, openai_server)
    return service
