import re

from tests.support import add_member, csrf_from, form_post, session_csrf, sign_in


async def _admin(client, tenant, role="owner", email="olga@acme.test"):
    await add_member(tenant, email, role)
    await sign_in(client, email)
    return {"X-CSRF-Token": await session_csrf(client)}


async def test_invite_link_lets_a_new_person_join_with_the_role(client_a, tenant_a):
    await _admin(client_a, tenant_a)
    page = await form_post(client_a, "/team", "/team/invites", {"email": "new@acme.test", "role": "member"})
    assert page.status_code == 200
    link = re.search(r'id="invite-link">([^<]+)<', page.text).group(1)
    path = link.split("acme.localhost", 1)[1]
    client_a.cookies.clear()
    form = await client_a.get(path)
    assert form.status_code == 200 and "invited as" in form.text
    joined = await client_a.post(
        path, data={"_csrf_token": csrf_from(form.text), "email": "new@acme.test", "name": "New",
                    "password": "a-good-long-password"},
        follow_redirects=False,
    )
    assert joined.status_code in (302, 303), joined.text
    me = (await client_a.get("/api/v1/me")).json()["data"]
    assert me["role"] == "member"
    # The link works once.
    client_a.cookies.clear()
    assert (await client_a.get(path)).status_code == 410


async def test_an_expired_invite_is_refused(app, client_a, tenant_a):
    headers = await _admin(client_a, tenant_a)
    created = (await client_a.post("/api/v1/invites", json={"role": "viewer"}, headers=headers)).json()["data"]
    app.state.services.clock.advance(days=8)
    client_a.cookies.clear()
    path = created["link"].split("acme.localhost", 1)[1]
    assert (await client_a.get(path)).status_code == 410


async def test_roles_change_within_the_rules(client_a, tenant_a):
    headers = await _admin(client_a, tenant_a, role="admin", email="adam@acme.test")
    await add_member(tenant_a, "owen@acme.test", "owner")
    await add_member(tenant_a, "mia@acme.test", "member")
    members = {m["email"]: m for m in (await client_a.get("/api/v1/members")).json()["data"]}
    # An admin may promote a member to admin ...
    ok = await client_a.patch(f"/api/v1/members/{members['mia@acme.test']['id']}", json={"role": "admin"}, headers=headers)
    assert ok.status_code == 200 and ok.json()["data"]["role"] == "admin"
    # ... but not touch an owner, nor make anyone owner.
    refused = await client_a.patch(f"/api/v1/members/{members['owen@acme.test']['id']}", json={"role": "member"}, headers=headers)
    assert refused.status_code == 403
    refused = await client_a.patch(f"/api/v1/members/{members['mia@acme.test']['id']}", json={"role": "owner"}, headers=headers)
    assert refused.status_code == 403


async def test_the_last_owner_cannot_leave_or_be_demoted(client_a, tenant_a):
    headers = await _admin(client_a, tenant_a)
    me = (await client_a.get("/api/v1/members")).json()["data"][0]
    response = await client_a.patch(f"/api/v1/members/{me['id']}", json={"role": "admin"}, headers=headers)
    assert response.status_code == 409 and response.json()["error"]["code"] == "LAST_OWNER"
    assert (await client_a.delete(f"/api/v1/members/{me['id']}", headers=headers)).status_code == 409


async def test_removed_members_lose_access_immediately(client_a, tenant_a):
    from tests.conftest import app_client

    headers = await _admin(client_a, tenant_a)
    await add_member(tenant_a, "mia@acme.test", "member")
    async with app_client(client_a._transport.app, "acme.localhost") as other:
        await sign_in(other, "mia@acme.test")
        assert (await other.get("/api/v1/me")).status_code == 200
        mia = next(m for m in (await client_a.get("/api/v1/members")).json()["data"] if m["email"] == "mia@acme.test")
        assert (await client_a.delete(f"/api/v1/members/{mia['id']}", headers=headers)).status_code == 204
        assert (await other.get("/api/v1/me")).status_code == 401


async def test_team_changes_are_audited(client_a, tenant_a):
    headers = await _admin(client_a, tenant_a)
    await client_a.post("/api/v1/invites", json={"role": "viewer", "email": "v@acme.test"}, headers=headers)
    actions = {e["action"] for e in (await client_a.get("/api/v1/audit", params={"action": "team.*"})).json()["data"]}
    assert "team.invite_created" in actions
