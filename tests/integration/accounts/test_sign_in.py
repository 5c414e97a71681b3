from salescopilot.audit.service import AuditService
from salescopilot.listing import ListQuery
from salescopilot.tenancy.context import tenant_scope
from tests.support import PASSWORD, add_member, session_csrf, sign_in


async def test_a_member_signs_in_and_sees_the_dashboard(client_a, tenant_a):
    await add_member(tenant_a, "ann@acme.test", "admin")
    response = await sign_in(client_a, "ann@acme.test")
    assert response.status_code in (302, 303), response.text
    assert response.headers["location"] == "/"
    page = await client_a.get("/")
    assert page.status_code == 200
    assert "Acme Corp" in page.text and "Team" in page.text
    me = (await client_a.get("/api/v1/me")).json()["data"]
    assert me["role"] == "admin" and me["tenant"] == "acme" and me["via"] == "session"


async def test_a_wrong_password_is_refused_and_the_failure_is_audited(client_a, tenant_a):
    await add_member(tenant_a, "ann@acme.test")
    response = await sign_in(client_a, "ann@acme.test", "wrong-password-1")
    assert response.status_code == 401
    assert "not right" in response.text
    assert (await client_a.get("/api/v1/me")).status_code == 401
    async with tenant_scope(tenant_a):
        entries = (await AuditService().list_entries(ListQuery(limit=50))).items
    actions = [e["action"] for e in entries]
    assert "auth.sign_in_failed" in actions


async def test_sign_in_is_throttled_after_repeated_failures(client_a, tenant_a):
    await add_member(tenant_a, "ann@acme.test")
    for _ in range(5):
        assert (await sign_in(client_a, "ann@acme.test", "wrong-password-1")).status_code == 401
    # Even the right password is refused while throttled.
    assert (await sign_in(client_a, "ann@acme.test", PASSWORD)).status_code == 429


async def test_a_member_of_another_tenant_cannot_sign_in_here(client_a, tenant_a, tenant_b):
    await add_member(tenant_b, "bob@globex.test", "owner")
    assert (await sign_in(client_a, "bob@globex.test")).status_code == 401


async def test_sign_out_ends_the_session(client_a, tenant_a):
    await add_member(tenant_a, "ann@acme.test")
    await sign_in(client_a, "ann@acme.test")
    token = await session_csrf(client_a)
    assert token
    page = await client_a.get("/")
    from tests.support import csrf_from

    response = await client_a.post("/logout", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert response.status_code in (302, 303)
    assert (await client_a.get("/api/v1/me")).status_code == 401


async def test_an_unknown_host_gets_404(app, db):
    from tests.conftest import app_client

    async with app_client(app, "nobody.localhost") as client:
        response = await client.get("/login")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
