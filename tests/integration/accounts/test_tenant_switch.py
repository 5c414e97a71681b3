from urllib.parse import urlsplit

from tests.conftest import app_client
from tests.support import add_member, form_post, sign_in


async def test_a_person_in_two_tenants_switches_without_signing_in_again(app, client_a, tenant_a, tenant_b):
    await add_member(tenant_a, "sam@both.test", "member")
    await add_member(tenant_b, "sam@both.test", "viewer")
    await sign_in(client_a, "sam@both.test")
    switcher = await client_a.get("/switch")
    assert "Globex Inc" in switcher.text and "Acme Corp" in switcher.text
    response = await form_post(client_a, "/switch", f"/switch/{tenant_b.id}", {})
    target = urlsplit(response.headers["location"])
    assert target.hostname == "globex.localhost" and target.path == "/auth/handoff"
    async with app_client(app, "globex.localhost") as globex:
        arrived = await globex.get(f"{target.path}?{target.query}", follow_redirects=False)
        assert arrived.headers["location"] == "/"
        me = (await globex.get("/api/v1/me")).json()["data"]
        assert me["tenant"] == "globex" and me["role"] == "viewer"
        # A hand-off link works once.
        globex.cookies.clear()
        again = await globex.get(f"{target.path}?{target.query}", follow_redirects=False)
        assert again.headers["location"] == "/login"


async def test_a_handoff_token_for_another_tenant_is_refused(app, client_a, tenant_a, tenant_b):
    await add_member(tenant_a, "sam@both.test", "member")
    await add_member(tenant_b, "sam@both.test", "viewer")
    await sign_in(client_a, "sam@both.test")
    response = await form_post(client_a, "/switch", f"/switch/{tenant_b.id}", {})
    target = urlsplit(response.headers["location"])
    # Replayed at tenant A's host, a token minted for B gives nothing.
    client_a.cookies.clear()
    arrived = await client_a.get(f"{target.path}?{target.query}", follow_redirects=False)
    assert arrived.headers["location"] == "/login"
