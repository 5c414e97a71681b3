"""Schemathesis over the OpenAPI schema served at /api/docs/openapi.json.

Every operation gets generated requests, valid ones and invalid ones, sent with an owner API key on
tenant A's host through the ASGI app. No answer may be a server error, and every answer must use a
status code, content type and body that the schema documents for that operation (error envelope
included, see `salescopilot.web.openapi`).

Bounded and deterministic: a fixed number of examples per operation, derandomized, with no example
database (one to two minutes in all; not marked slow). Schemathesis drives the app in its own event loop (its
ASGI transport runs the app's lifespan in a portal thread), so the data is seeded first in a loop
of its own, and the database is started by the app's start-up hook.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from salescopilot.accounts.api_keys import ApiKeyService
from salescopilot.accounts.permissions import build_catalogue
from salescopilot.accounts.principal import Principal
from salescopilot.clock import FakeClock
from salescopilot.db.engine import start_database, stop_database
from salescopilot.tenancy.context import tenant_scope
from salescopilot.web.app import create_app
from tests.conftest import make_tenant
from tests.support import add_member

SCHEMA_PATH = "/api/docs/openapi.json"
HOST = "acme.localhost"
#: Per operation; with about a hundred operations the run takes a minute or two on a quiet machine.
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}

CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Invalid requests must also be refused (4xx), not half-accepted.
REJECTION = [*CONFORMANCE, negative_data_rejection]


async def _seed(settings, clock: FakeClock) -> str:
    """Tenant A, its owner, and an owner API key; returns the key."""
    await start_database(settings)
    try:
        tenant = await make_tenant("acme", "Acme Corp")
        user_id = await add_member(tenant, "owner@acme.test", "owner")
        owner = Principal(
            user_id=user_id, label="owner", role="owner", permissions=frozenset(), via="session"
        )
        async with tenant_scope(tenant):
            service = ApiKeyService(clock=clock, permissions=build_catalogue())
            _, token = await service.create(owner, "schemathesis", "owner")
        return token
    finally:
        await stop_database()


@pytest.fixture
def api(settings):
    """(the app, the owner's API key); the app's lifespan is ended afterwards, closing its pool."""
    clock = FakeClock(dt.datetime.now(dt.UTC))
    token = asyncio.run(_seed(settings, clock))
    app = create_app(settings, clock=clock)
    try:
        yield app, token
    finally:
        shutdown_lifespans()


def _exercise(operation, mode: GenerationMode, headers: dict[str, str], seen: Counter) -> None:
    checks = REJECTION if mode is GenerationMode.NEGATIVE else CONFORMANCE

    @hypothesis_settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        response = case.call(headers=headers)
        seen[response.status_code] += 1
        case.validate_response(response, checks=checks, headers=headers)

    run()


# One test over every operation: the suite's 300 s limit fired inside a Hypothesis run on a
# loaded CI machine (reported as "inconsistent results"), so this one has more room.
@pytest.mark.timeout(900)
def test_the_api_answers_as_its_openapi_schema_says(api):
    app, token = api
    schema = schemathesis.openapi.from_asgi(SCHEMA_PATH, app)
    # A body past the request size limit is refused before it is parsed: 413 is a rejection too.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    headers = {"Host": HOST, "Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    failures: dict[str, str] = {}
    statuses: dict[str, Counter] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            seen = statuses.setdefault(f"{operation.label} ({mode.value})", Counter())
            try:
                _exercise(operation, mode, headers, seen)
            except Unsatisfiable:
                # Nothing to make invalid: the operation takes no parameters and no body.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, FailureGroup) as error:  # noqa: BLE001 - reported together below
                failures[f"{operation.label} ({mode.value})"] = str(error)[:3000]
    assert not failures, "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
    # The run means something only if the key worked: valid requests are never unauthenticated,
    # and every list and read operation answered successfully at least once.
    positive = {label: seen for label, seen in statuses.items() if label.endswith("(positive)")}
    assert not [label for label, seen in positive.items() if seen[401]], statuses
    reads = [label for label in positive if label.startswith("GET ") and "{" not in label]
    assert all(positive[label][200] for label in reads), statuses
