"""Web sessions in each store: file (embedded default) and Redis (scale-out, shared by processes)."""

import pytest

from salescopilot.clock import FakeClock
from salescopilot.settings import get_settings
from salescopilot.web.app import create_app
from tests.conftest import app_client
from tests.support import add_member, sign_in


@pytest.mark.redis
async def test_a_session_in_redis_is_seen_by_another_web_process(settings, db, tenant_a, redis_url, monkeypatch):
    import redis.asyncio as redis

    monkeypatch.setenv("SALESCOPILOT_SESSIONS__STORE", "redis")
    monkeypatch.setenv("SALESCOPILOT_REDIS__URL", redis_url)
    get_settings.cache_clear()
    scaled = get_settings()
    await add_member(tenant_a, "ann@acme.test", "admin")
    first, second = create_app(scaled, clock=FakeClock()), create_app(scaled, clock=FakeClock())
    async with app_client(first, "acme.localhost") as one, app_client(second, "acme.localhost") as two:
        await sign_in(one, "ann@acme.test")
        two.cookies.update(one.cookies)
        assert (await two.get("/api/v1/me")).status_code == 200
        client = redis.Redis.from_url(redis_url)
        try:
            keys = [k async for k in client.scan_iter("salescopilot:sessions*")]
        finally:
            await client.aclose()
        assert keys, "the session was not stored in Redis"
        # The cookie is not the store key: a leaked store holds no usable cookie.
        token = one.cookies.get("sc_session")
        assert all(token.encode() not in key for key in keys)


async def test_file_sessions_survive_a_restart(settings, db, tenant_a, monkeypatch):
    monkeypatch.setenv("SALESCOPILOT_SESSIONS__STORE", "file")
    get_settings.cache_clear()
    embedded = get_settings()
    await add_member(tenant_a, "ann@acme.test", "admin")
    async with app_client(create_app(embedded, clock=FakeClock()), "acme.localhost") as before:
        signed = await sign_in(before, "ann@acme.test")
        assert signed.status_code in (302, 303), signed.text
        cookies = before.cookies
    async with app_client(create_app(embedded, clock=FakeClock()), "acme.localhost") as after:
        after.cookies.update(cookies)
        assert (await after.get("/api/v1/me")).status_code == 200
