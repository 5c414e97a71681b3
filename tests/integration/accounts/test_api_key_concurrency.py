"""Many requests with one API key at once: recording `last_used_at` is best effort and never
fails a request (on SQLite only one read transaction of the racing ones can become a writer)."""

from __future__ import annotations

import asyncio

from tests.support import add_member, session_csrf, sign_in


async def test_concurrent_first_uses_of_a_key_all_succeed(client_a, tenant_a):
    await add_member(tenant_a, "olga@acme.test", "owner")
    await sign_in(client_a, "olga@acme.test")
    headers = {"X-CSRF-Token": await session_csrf(client_a)}
    response = await client_a.post(
        "/api/v1/api-keys", json={"name": "ci", "role": "admin"}, headers=headers
    )
    created = response.json()["data"]
    client_a.cookies.clear()
    bearer = {"Authorization": f"Bearer {created['key']}"}

    responses = await asyncio.gather(
        *(client_a.get("/api/v1/api-keys", headers=bearer) for _ in range(8))
    )

    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    listed = (await client_a.get("/api/v1/api-keys", headers=bearer)).json()["data"]
    assert listed[0]["lastUsedAt"] is not None
