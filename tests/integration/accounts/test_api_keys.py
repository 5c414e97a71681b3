from tests.support import add_member, session_csrf, sign_in


async def _owner_session(client, tenant):
    await add_member(tenant, "olga@acme.test", "owner")
    await sign_in(client, "olga@acme.test")
    return {"X-CSRF-Token": await session_csrf(client)}


async def _create_key(client, headers, role="viewer", name="ci"):
    response = await client.post("/api/v1/api-keys", json={"name": name, "role": role}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_a_key_is_shown_once_and_authenticates_with_its_role(client_a, tenant_a):
    headers = await _owner_session(client_a, tenant_a)
    created = await _create_key(client_a, headers, role="viewer")
    assert created["key"].startswith("sc_")
    listed = (await client_a.get("/api/v1/api-keys")).json()["data"]
    assert listed[0]["prefix"] == created["prefix"] and "key" not in listed[0]
    bearer = {"Authorization": f"Bearer {created['key']}"}
    client_a.cookies.clear()
    me = (await client_a.get("/api/v1/me", headers=bearer)).json()["data"]
    assert me["via"] == "api_key" and me["role"] == "viewer"
    # A viewer key cannot create keys.
    response = await client_a.post("/api/v1/api-keys", json={"name": "x", "role": "viewer"}, headers=bearer)
    assert response.status_code == 403


async def test_a_revoked_key_stops_working_at_once(client_a, tenant_a):
    headers = await _owner_session(client_a, tenant_a)
    created = await _create_key(client_a, headers, role="admin")
    assert (await client_a.delete(f"/api/v1/api-keys/{created['id']}", headers=headers)).status_code == 204
    client_a.cookies.clear()
    response = await client_a.get("/api/v1/me", headers={"Authorization": f"Bearer {created['key']}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"


async def test_a_key_works_only_on_its_own_tenant(client_a, client_b, tenant_a, tenant_b):
    headers = await _owner_session(client_a, tenant_a)
    created = await _create_key(client_a, headers, role="owner")
    response = await client_b.get("/api/v1/me", headers={"Authorization": f"Bearer {created['key']}"})
    assert response.status_code == 401


async def test_a_key_cannot_outrank_its_creator(client_a, tenant_a):
    await add_member(tenant_a, "adam@acme.test", "admin")
    await sign_in(client_a, "adam@acme.test")
    headers = {"X-CSRF-Token": await session_csrf(client_a)}
    response = await client_a.post("/api/v1/api-keys", json={"name": "x", "role": "owner"}, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ROLE_NOT_ALLOWED"


async def test_cookie_api_writes_need_the_csrf_header(client_a, tenant_a):
    await _owner_session(client_a, tenant_a)
    response = await client_a.post("/api/v1/api-keys", json={"name": "x", "role": "viewer"})
    assert response.status_code == 403
    assert (await client_a.get("/api/v1/api-keys")).json()["pagination"]["total"] == 0


async def test_bulk_revoke_is_all_or_nothing(client_a, tenant_a):
    import uuid

    headers = await _owner_session(client_a, tenant_a)
    first = await _create_key(client_a, headers, name="one")
    response = await client_a.post(
        "/api/v1/api-keys/bulk", json={"action": "revoke", "ids": [first["id"], str(uuid.uuid4())]}, headers=headers
    )
    assert response.status_code == 404
    keys = (await client_a.get("/api/v1/api-keys")).json()["data"]
    assert keys[0]["revoked"] is False
    response = await client_a.post("/api/v1/api-keys/bulk", json={"action": "revoke", "ids": [first["id"]]}, headers=headers)
    assert response.status_code == 200 and response.json()["data"]["processed"] == 1


async def test_an_api_key_read_records_its_use_after_the_response(client_a, tenant_a):
    """A read-only request cannot write in its own transaction: the key's use is written in
    one of its own once the response is out."""
    from salescopilot.accounts.repository import ApiKeyRepository
    from salescopilot.tenancy.context import tenant_scope
    from tests.support import add_member, session_csrf, sign_in

    await add_member(tenant_a, "rita@acme.test", "owner")
    await sign_in(client_a, "rita@acme.test")
    created = (await client_a.post(
        "/api/v1/api-keys", json={"name": "reader", "role": "viewer"},
        headers={"X-CSRF-Token": await session_csrf(client_a)},
    )).json()["data"]
    client_a.cookies.clear()
    bearer = {"Authorization": f"Bearer {created['key']}"}
    assert (await client_a.get("/api/v1/me", headers=bearer)).status_code == 200
    async with tenant_scope(tenant_a, write=False):
        assert (await ApiKeyRepository().by_prefix(created["prefix"])).last_used_at is not None
