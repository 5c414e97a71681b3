"""SCIM requests in the shapes Okta sends: lookups by userName, create, PUT, PATCH with a
value object (activate/deactivate), Push Groups with add/remove member PATCHes and renames."""

from __future__ import annotations

import pytest

from salescopilot.sso.service import SsoSettingsChange, SsoSettingsService
from salescopilot.tenancy.context import tenant_scope
from tests.integration.scim.scim_support import GROUP, Scim, okta_user, role_of, scim_token
from tests.integration.sso.sso_support import audit_actions


@pytest.fixture
async def scim(app, client_a, tenant_a) -> Scim:
    return Scim(client_a, await scim_token(app, tenant_a))


async def test_okta_creates_a_user_after_looking_it_up(scim, tenant_a):
    lookup = await scim.get("/Users", filter='userName eq "ada.lovelace@acme.test"', startIndex=1, count=100)
    assert lookup.status_code == 200
    assert lookup.headers["content-type"].startswith("application/scim+json")
    assert lookup.json()["totalResults"] == 0 and lookup.json()["Resources"] == []
    created = await scim.post("/Users", okta_user("ada.lovelace@acme.test"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["userName"] == "ada.lovelace@acme.test" and body["active"] is True
    assert body["name"]["givenName"] == "Ada" and body["externalId"] == "00u1abc"
    assert "password" not in body and "Okta-Sent-This" not in created.text
    assert created.headers["location"] == f"http://acme.localhost/scim/v2/Users/{body['id']}"
    assert await role_of(tenant_a, "ada.lovelace@acme.test") == "member"
    found = await scim.get("/Users", filter='userName eq "ADA.LOVELACE@acme.test"')
    assert found.json()["totalResults"] == 1 and found.json()["Resources"][0]["id"] == body["id"]
    fetched = await scim.get(f"/Users/{body['id']}")
    assert fetched.status_code == 200 and fetched.json()["emails"][0]["value"] == "ada.lovelace@acme.test"
    assert "scim.user_created" in [e["action"] for e in await audit_actions(tenant_a, "scim.")]


async def test_a_duplicate_username_is_a_uniqueness_conflict(scim):
    assert (await scim.post("/Users", okta_user("ada@acme.test"))).status_code == 201
    again = await scim.post("/Users", okta_user("ada@acme.test", external_id="00u2"))
    assert again.status_code == 409
    assert again.json()["scimType"] == "uniqueness"
    assert again.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


async def test_okta_put_replaces_the_user(scim):
    user = (await scim.post("/Users", okta_user("ada@acme.test"))).json()
    body = okta_user("ada@acme.test")
    body["name"] = {"givenName": "Augusta", "familyName": "King"}
    body["title"] = "Countess"
    replaced = await scim.put(f"/Users/{user['id']}", body)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"]["givenName"] == "Augusta" and replaced.json()["title"] == "Countess"


async def test_okta_deactivates_and_reactivates_with_a_value_patch(scim, tenant_a):
    user = (await scim.post("/Users", okta_user("ada@acme.test"))).json()
    off = await scim.patch(f"/Users/{user['id']}", [{"op": "replace", "value": {"active": False}}])
    assert off.status_code == 200 and off.json()["active"] is False
    assert await role_of(tenant_a, "ada@acme.test") is None
    on = await scim.patch(f"/Users/{user['id']}", [{"op": "replace", "value": {"active": True}}])
    assert on.json()["active"] is True
    assert await role_of(tenant_a, "ada@acme.test") == "member"
    actions = [e["action"] for e in await audit_actions(tenant_a, "scim.")]
    assert "scim.user_deactivated" in actions and "scim.user_activated" in actions


async def test_a_user_created_inactive_is_no_member(scim, tenant_a):
    created = await scim.post("/Users", okta_user("ada@acme.test", active=False))
    assert created.status_code == 201 and created.json()["active"] is False
    assert await role_of(tenant_a, "ada@acme.test") is None


async def test_okta_push_groups_and_roles_follow_the_sso_group_map(app, scim, tenant_a):
    async with tenant_scope(tenant_a):
        service = SsoSettingsService(clock=app.state.services.clock, secret_box=app.state.services.secret_box)
        await service.ensure_connection("acme")
        await service.update(SsoSettingsChange(group_roles={"Sales Admins": "admin"}, default_role="viewer"))
    ada = (await scim.post("/Users", okta_user("ada@acme.test"))).json()
    bob = (await scim.post("/Users", okta_user("bob@acme.test", external_id="00u2"))).json()
    assert await role_of(tenant_a, "ada@acme.test") == "viewer"
    group = await scim.post("/Groups", {"schemas": [GROUP], "displayName": "Sales Admins", "members": []})
    assert group.status_code == 201, group.text
    gid = group.json()["id"]
    added = await scim.patch(f"/Groups/{gid}", [{"op": "add", "path": "members", "value": [
        {"value": ada["id"], "display": "ada@acme.test"}, {"value": bob["id"], "display": "bob@acme.test"},
    ]}])
    assert added.status_code == 200, added.text
    assert {m["value"] for m in added.json()["members"]} == {ada["id"], bob["id"]}
    assert await role_of(tenant_a, "ada@acme.test") == "admin"
    removed = await scim.patch(f"/Groups/{gid}", [{"op": "remove", "path": f'members[value eq "{bob["id"]}"]'}])
    assert [m["value"] for m in removed.json()["members"]] == [ada["id"]]
    assert await role_of(tenant_a, "bob@acme.test") == "viewer"
    renamed = await scim.patch(f"/Groups/{gid}", [{"op": "replace", "value": {"id": gid, "displayName": "Sales"}}])
    assert renamed.json()["displayName"] == "Sales"
    assert await role_of(tenant_a, "ada@acme.test") == "viewer"  # "Sales" maps to no role
    found = await scim.get("/Groups", filter='displayName eq "Sales"')
    assert found.json()["totalResults"] == 1
    assert (await scim.delete(f"/Groups/{gid}")).status_code == 204
    assert (await scim.get(f"/Groups/{gid}")).status_code == 404


async def test_group_members_must_be_provisioned_users(scim):
    group = await scim.post("/Groups", {"schemas": [GROUP], "displayName": "X",
                                        "members": [{"value": "3f0e2a52-3a1c-4b8e-9a55-5b6f2f8a9d10"}]})
    assert group.status_code == 400 and group.json()["scimType"] == "invalidValue"
    assert (await scim.get("/Groups", filter='displayName eq "X"')).json()["totalResults"] == 0


async def test_lists_page_with_start_index_and_count(scim):
    for n in range(5):
        await scim.post("/Users", okta_user(f"user{n}@acme.test", external_id=f"e{n}"))
    seen = []
    for start in (1, 3, 5):
        page = (await scim.get("/Users", startIndex=start, count=2)).json()
        assert page["totalResults"] == 5 and page["startIndex"] == start
        assert page["itemsPerPage"] == (2 if start < 5 else 1)
        seen += [r["userName"] for r in page["Resources"]]
    assert sorted(seen) == [f"user{n}@acme.test" for n in range(5)]
