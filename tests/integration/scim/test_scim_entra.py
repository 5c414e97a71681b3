"""SCIM requests in the shapes Microsoft Entra ID sends: path-based PATCH with capitalised ops
and string booleans, filtered multi-valued paths, the enterprise extension, externalId lookups,
member Add/Remove with value lists, excludedAttributes=members."""

from __future__ import annotations

import pytest

from tests.integration.scim.scim_support import ENTERPRISE, GROUP, Scim, entra_user, role_of, scim_token


@pytest.fixture
async def scim(app, client_a, tenant_a) -> Scim:
    return Scim(client_a, await scim_token(app, tenant_a))


async def test_entra_creates_and_finds_a_user_by_external_id(scim, tenant_a):
    assert (await scim.get("/Users", filter='userName eq "ada@acme.test"')).json()["totalResults"] == 0
    created = await scim.post("/Users", entra_user("ada@acme.test", "ada-object-id"))
    assert created.status_code == 201, created.text
    assert ENTERPRISE in created.json()["schemas"]
    assert created.json()[ENTERPRISE]["department"] == "Engineering"
    found = (await scim.get("/Users", filter='externalId eq "ada-object-id"')).json()
    assert found["totalResults"] == 1 and found["Resources"][0]["userName"] == "ada@acme.test"
    assert await role_of(tenant_a, "ada@acme.test") == "member"


async def test_entra_patches_attributes_by_path(scim):
    user = (await scim.post("/Users", entra_user("ada@acme.test", "ada-oid"))).json()
    patched = await scim.patch(f"/Users/{user['id']}", [
        {"op": "Replace", "path": "displayName", "value": "Ada King"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ada@acme.test"},
        {"op": "Replace", "path": "name.givenName", "value": "Augusta"},
        {"op": "Add", "path": f"{ENTERPRISE}:department", "value": "Sales"},
        {"op": "Add", "path": "title", "value": "Countess"},
        {"op": "Remove", "path": "name.formatted"},
    ])
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["displayName"] == "Ada King" and body["name"]["givenName"] == "Augusta"
    assert "formatted" not in body["name"] and body["title"] == "Countess"
    assert body[ENTERPRISE]["department"] == "Sales"
    assert body["emails"] == [{"primary": True, "type": "work", "value": "ada@acme.test"}]
    again = (await scim.get(f"/Users/{user['id']}")).json()
    assert again["title"] == "Countess"


async def test_entra_disables_with_a_string_boolean_and_deletes(scim, tenant_a):
    user = (await scim.post("/Users", entra_user("ada@acme.test", "ada-oid"))).json()
    off = await scim.patch(f"/Users/{user['id']}", [{"op": "Replace", "path": "active", "value": "False"}])
    assert off.status_code == 200 and off.json()["active"] is False
    assert await role_of(tenant_a, "ada@acme.test") is None
    on = await scim.patch(f"/Users/{user['id']}", [{"op": "Replace", "path": "active", "value": "True"}])
    assert on.json()["active"] is True and await role_of(tenant_a, "ada@acme.test") == "member"
    assert (await scim.delete(f"/Users/{user['id']}")).status_code == 204
    assert (await scim.get(f"/Users/{user['id']}")).status_code == 404
    assert await role_of(tenant_a, "ada@acme.test") is None


async def test_entra_group_membership_add_and_remove_with_value_lists(scim):
    ada = (await scim.post("/Users", entra_user("ada@acme.test", "ada-oid"))).json()
    bob = (await scim.post("/Users", entra_user("bob@acme.test", "bob-oid"))).json()
    group = await scim.post("/Groups", {"schemas": [GROUP], "externalId": "grp-oid", "displayName": "Sales", "members": []})
    assert group.status_code == 201
    gid = group.json()["id"]
    add = await scim.patch(f"/Groups/{gid}", [{"op": "Add", "path": "members", "value": [{"value": ada["id"]}, {"value": bob["id"]}]}])
    assert add.status_code == 200, add.text
    remove = await scim.patch(f"/Groups/{gid}", [{"op": "Remove", "path": "members", "value": [{"value": ada["id"]}]}])
    assert [m["value"] for m in remove.json()["members"]] == [bob["id"]]
    rename = await scim.patch(f"/Groups/{gid}", [{"op": "Replace", "path": "displayName", "value": "Sales EMEA"}])
    assert rename.json()["displayName"] == "Sales EMEA"
    listed = (await scim.get("/Groups", excludedAttributes="members", filter='displayName eq "Sales EMEA"')).json()
    assert listed["totalResults"] == 1 and "members" not in listed["Resources"][0]
    by_external = (await scim.get("/Groups", filter='externalId eq "grp-oid"')).json()
    assert by_external["totalResults"] == 1
    member_check = (await scim.get("/Groups", filter=f'id eq "{gid}" and members eq "{bob["id"]}"')).json()
    assert member_check["totalResults"] == 1
    not_member = (await scim.get("/Groups", filter=f'id eq "{gid}" and members eq "{ada["id"]}"')).json()
    assert not_member["totalResults"] == 0
    single = (await scim.get(f"/Groups/{gid}", excludedAttributes="members")).json()
    assert "members" not in single
    removed_all = await scim.patch(f"/Groups/{gid}", [{"op": "Remove", "path": "members"}])
    assert removed_all.json()["members"] == []


async def test_entra_put_group_replaces_members(scim):
    ada = (await scim.post("/Users", entra_user("ada@acme.test", "ada-oid"))).json()
    bob = (await scim.post("/Users", entra_user("bob@acme.test", "bob-oid"))).json()
    gid = (await scim.post("/Groups", {"schemas": [GROUP], "displayName": "G", "members": [{"value": ada["id"]}]})).json()["id"]
    replaced = await scim.put(f"/Groups/{gid}", {"schemas": [GROUP], "displayName": "G2", "members": [{"value": bob["id"]}]})
    assert replaced.status_code == 200
    assert replaced.json()["displayName"] == "G2" and [m["value"] for m in replaced.json()["members"]] == [bob["id"]]


async def test_discovery_endpoints(scim):
    config = (await scim.get("/ServiceProviderConfig")).json()
    assert config["patch"]["supported"] is True and config["filter"]["supported"] is True
    types = (await scim.get("/ResourceTypes")).json()
    assert {t["name"] for t in types["Resources"]} == {"User", "Group"}
