"""Fixtures of the mailbox pages' and API's tests: the test providers in the process-wide
catalogue (`vaulted`, with secrets; `scripted`, from the outbox tests) and signed-in clients."""

from __future__ import annotations

import pytest

from salescopilot.plugin_system.manager import get_plugin_manager
from tests.integration.mailboxes import vaulted_provider
from tests.integration.outbox.conftest import fresh_providers, script  # noqa: F401 - fixtures
from tests.support import add_member, session_csrf, sign_in

OWNER = "olga@acme.test"
VIEWER = "vera@acme.test"


@pytest.fixture
def vaulted(fresh_providers):  # noqa: F811 - the imported fixture
    pm = get_plugin_manager()
    pm.register(vaulted_provider, name="tests.vaulted_provider")
    yield vaulted_provider
    pm.unregister(name="tests.vaulted_provider")


async def signed_in(client, tenant, email: str = OWNER, role: str = "owner") -> dict[str, str]:
    """Sign `email` (made a `role` of `tenant`) in on `client`; the headers API writes need."""
    await add_member(tenant, email, role)
    response = await sign_in(client, email)
    assert response.status_code in (302, 303), response.text
    return {"X-CSRF-Token": await session_csrf(client)}


def vaulted_body(email: str = "ann@sender.example.com", **changes) -> dict:
    """A valid API body for a mailbox on the `vaulted` provider."""
    body = {
        "email": email,
        "from_name": "Ann Example",
        "provider": "vaulted",
        "account": {"address": email, "host": "smtp.sender.example.com", "password": vaulted_provider.RIGHT_PASSWORD,
                    "api_token": "tok-very-private-123"},
        "daily_cap": 40,
        "min_gap_seconds": 0,
        "jitter_seconds": 0,
    }
    body.update(changes)
    return body
