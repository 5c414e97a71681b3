"""SCIM authentication (its own bearer token, of its own tenant, never a session or an API key),
deprovisioning that ends sessions and API keys, and clear errors for hostile input."""

from __future__ import annotations

import re

import pytest

from tests.integration.scim.scim_support import Scim, okta_user, role_of, scim_token
from tests.integration.sso.sso_support import signed_in_as
from tests.support import add_member, csrf_from, session_csrf, sign_in


async def test_scim_needs_a_live_token_of_its_own_tenant(app, client_a, client_b, tenant_a, tenant_b):
    token_a = await scim_token(app, tenant_a)
    assert (await client_a.get("/scim/v2/Users")).status_code == 401
    assert (await client_a.get("/scim/v2/Users", headers={"Authorization": "Bearer scim_nothing_here"})).status_code == 401
    assert (await client_b.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token_a}"})).status_code == 401
    assert (await client_a.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token_a}"})).status_code == 200
    # A SCIM token is no API key, and an API key is no SCIM token.
    assert (await client_a.get("/api/v1/me", headers={"Authorization": f"Bearer {token_a}"})).status_code == 401


async def test_an_owner_session_or_api_key_cannot_use_scim(app, client_a, tenant_a):
    await add_member(tenant_a, "olga@acme.test", "owner")
    await sign_in(client_a, "olga@acme.test")
    headers = {"X-CSRF-Token": await session_csrf(client_a)}
    assert (await client_a.get("/scim/v2/Users")).status_code == 401
    key = (await client_a.post("/api/v1/api-keys", json={"name": "k", "role": "owner"}, headers=headers)).json()["data"]["key"]
    assert (await client_a.get("/scim/v2/Users", headers={"Authorization": f"Bearer {key}"})).status_code == 401


async def test_a_revoked_token_stops_working_and_tokens_are_made_on_the_settings_page(app, client_a, tenant_a):
    await add_member(tenant_a, "olga@acme.test", "owner")
    await sign_in(client_a, "olga@acme.test")
    page = await client_a.get("/settings/sso")
    created = await client_a.post("/settings/sso/scim-tokens", data={"_csrf_token": csrf_from(page.text)})
    token = re.search(r'id="new-scim-token">([^<]+)<', created.text)[1]
    token_id = re.search(r'/settings/sso/scim-tokens/([0-9a-f-]+)/revoke', created.text)[1]
    client_a.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client_a.get("/scim/v2/Users", headers=bearer)).status_code == 200
    await sign_in(client_a, "olga@acme.test")
    csrf = csrf_from((await client_a.get("/settings/sso")).text)
    await client_a.post(f"/settings/sso/scim-tokens/{token_id}/revoke", data={"_csrf_token": csrf})
    client_a.cookies.clear()
    assert (await client_a.get("/scim/v2/Users", headers=bearer)).status_code == 401


async def test_deprovisioning_ends_sessions_and_api_keys_in_this_tenant(app, client_a, client_b, tenant_a, tenant_b):
    from tests.conftest import app_client

    await add_member(tenant_a, "ada@acme.test", "admin")
    await add_member(tenant_b, "ada@acme.test", "member")
    # Ada signed in on both tenants, with an API key in A.
    await sign_in(client_b, "ada@acme.test")
    async with app_client(app, "acme.localhost") as ada:
        await sign_in(ada, "ada@acme.test")
        headers = {"X-CSRF-Token": await session_csrf(ada)}
        key = (await ada.post("/api/v1/api-keys", json={"name": "laptop", "role": "member"}, headers=headers)).json()["data"]["key"]
        scim = Scim(client_a, await scim_token(app, tenant_a))
        user = await scim.post("/Users", okta_user("ada@acme.test"))
        assert user.status_code == 201 and await role_of(tenant_a, "ada@acme.test") == "admin"
        off = await scim.patch(f"/Users/{user.json()['id']}", [{"op": "replace", "value": {"active": False}}])
        assert off.status_code == 200
        assert await signed_in_as(ada) is None
        ada.cookies.clear()
        assert (await ada.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})).status_code == 401
    assert await signed_in_as(client_b) == "ada@acme.test"
    assert await role_of(tenant_b, "ada@acme.test") == "member"
    # Reactivation gives back the role Ada had.
    await scim.patch(f"/Users/{user.json()['id']}", [{"op": "replace", "value": {"active": True}}])
    assert await role_of(tenant_a, "ada@acme.test") == "admin"


async def test_the_last_owner_cannot_be_deprovisioned(app, client_a, tenant_a):
    await add_member(tenant_a, "olga@acme.test", "owner")
    scim = Scim(client_a, await scim_token(app, tenant_a))
    user = (await scim.post("/Users", okta_user("olga@acme.test"))).json()
    refused = await scim.patch(f"/Users/{user['id']}", [{"op": "replace", "value": {"active": False}}])
    assert refused.status_code == 409
    assert await role_of(tenant_a, "olga@acme.test") == "owner"
    assert (await scim.get(f"/Users/{user['id']}")).json()["active"] is True


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "scim_type"),
    [
        ("GET", "/Users?filter=userName%20sw%20%22a%22", None, 400, "invalidFilter"),
        ("GET", "/Users?filter=title%20eq%20%22x%22", None, 400, "invalidFilter"),
        ("POST", "/Users", b"{not json", 400, "invalidSyntax"),
        ("POST", "/Users", b"[]", 400, "invalidSyntax"),
        ("POST", "/Users", b'{"userName": ""}', 400, "invalidValue"),
        ("POST", "/Users", b'{"userName": "no-email-here"}', 400, "invalidValue"),
        ("PATCH", "/Users/00000000-0000-0000-0000-000000000000", b'{"Operations": []}', 404, None),
        ("PATCH", "/Users/not-a-uuid", b'{"Operations": []}', 404, None),
        ("GET", "/Groups/not-a-uuid", None, 404, None),
        ("POST", "/Groups", b'{"displayName": "x", "members": "nope"}', 400, "invalidValue"),
    ],
)
async def test_bad_requests_get_scim_errors(app, client_a, tenant_a, method, path, body, status, scim_type):
    token = await scim_token(app, tenant_a)
    response = await client_a.request(method, "/scim/v2" + path, content=body,
                                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert payload["status"] == str(status)
    assert payload.get("scimType") == scim_type


async def test_a_bad_patch_changes_nothing(app, client_a, tenant_a):
    scim = Scim(client_a, await scim_token(app, tenant_a))
    user = (await scim.post("/Users", okta_user("ada@acme.test"))).json()
    response = await scim.patch(f"/Users/{user['id']}", [
        {"op": "replace", "path": "active", "value": False},
        {"op": "replace", "path": "active", "value": "maybe"},
    ])
    assert response.status_code == 400
    assert await role_of(tenant_a, "ada@acme.test") == "member"
    assert (await scim.get(f"/Users/{user['id']}")).json()["active"] is True


async def test_a_user_deprovisioned_over_scim_cannot_come_back_through_sso_jit(app, client_a, tenant_a):
    from tests.integration.sso.saml_idp import TestIdp
    from tests.integration.sso.sso_support import (
        audit_actions, claims_for, configure, post_acs, refusal_reason, start_login,
    )

    idp = TestIdp()
    await configure(app, tenant_a, idp, jit_provisioning=True)
    scim = Scim(client_a, await scim_token(app, tenant_a))
    user = (await scim.post("/Users", okta_user("ada@acme.test"))).json()
    await scim.patch(f"/Users/{user['id']}", [{"op": "replace", "value": {"active": False}}])
    request_id = await start_login(client_a)
    response = await post_acs(client_a, idp.response(claims_for(tenant_a, in_response_to=request_id)))
    assert response.status_code == 401
    assert await role_of(tenant_a, "ada@acme.test") is None
    assert refusal_reason(await audit_actions(tenant_a)) == "deprovisioned"
