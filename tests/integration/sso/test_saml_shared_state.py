"""With Redis configured, SAML state is shared by every web process: a Response answers a
request made by another process, and an assertion replayed at another process is refused."""

from __future__ import annotations

import pytest

from salescopilot.clock import FakeClock
from salescopilot.settings import get_settings
from salescopilot.web.app import create_app
from tests.conftest import app_client
from tests.integration.sso.saml_idp import TestIdp
from tests.integration.sso.sso_support import (
    audit_actions,
    claims_for,
    configure,
    post_acs,
    refusal_reason,
    signed_in_as,
    start_login,
)
from tests.support import add_member


@pytest.mark.redis
async def test_two_web_processes_share_pending_requests_and_the_replay_cache(
    settings, db, tenant_a, redis_url, monkeypatch
):
    import redis.asyncio as redis

    monkeypatch.setenv("SALESCOPILOT_SESSIONS__STORE", "redis")
    monkeypatch.setenv("SALESCOPILOT_REDIS__URL", redis_url)
    get_settings.cache_clear()
    scaled = get_settings()
    first, second = create_app(scaled, clock=FakeClock()), create_app(scaled, clock=FakeClock())
    idp = TestIdp()
    await add_member(tenant_a, "ada@acme.test", "member")
    await configure(first, tenant_a, idp, allow_idp_initiated=True)
    async with app_client(first, "acme.localhost") as one, app_client(second, "acme.localhost") as two:
        # The request is made by one process, its answer reaches the other.
        request_id = await start_login(one)
        response = await post_acs(two, idp.response(claims_for(tenant_a, in_response_to=request_id)))
        assert response.status_code in (302, 303), response.text
        assert await signed_in_as(two) == "ada@acme.test"
        # An IdP-initiated assertion used at one process is refused at the other.
        unsolicited = idp.response(claims_for(tenant_a))
        one.cookies.clear()
        assert (await post_acs(one, unsolicited)).status_code in (302, 303)
        two.cookies.clear()
        assert (await post_acs(two, unsolicited)).status_code == 401
        assert refusal_reason(await audit_actions(tenant_a)) == "replayed"
    client = redis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter("salescopilot:saml*")]
    finally:
        await client.aclose()
    assert keys, "the replay cache is not in Redis"
