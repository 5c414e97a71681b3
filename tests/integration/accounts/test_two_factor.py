import re

import pyotp

from tests.support import PASSWORD, add_member, csrf_from, form_post, sign_in


async def _enable_totp(client, app) -> str:
    page = await form_post(client, "/account/security/", "/account/security/totp/begin", {})
    secret = re.search(r'<code class="secret">([A-Z2-7]{16,})</code>', page.text).group(1)
    code = pyotp.TOTP(secret).at(app.state.services.clock.now())
    done = await form_post(client, "/account/security/", "/account/security/totp/confirm", {"code": code})
    assert done.status_code in (302, 303), done.text
    return secret


async def test_two_factor_is_required_after_enrolment(app, client_a, tenant_a):
    await add_member(tenant_a, "ann@acme.test")
    await sign_in(client_a, "ann@acme.test")
    secret = await _enable_totp(client_a, app)
    await form_post(client_a, "/", "/logout", {})
    client_a.cookies.clear()

    response = await sign_in(client_a, "ann@acme.test", PASSWORD)
    assert response.headers["location"].startswith("/login/2fa")
    # The password alone gives no session.
    assert (await client_a.get("/api/v1/me")).status_code == 401
    wrong = await form_post(client_a, "/login/2fa", "/login/2fa", {"code": "000000", "next": "/"})
    assert wrong.status_code == 401
    app.state.services.clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(app.state.services.clock.now())
    ok = await form_post(client_a, "/login/2fa", "/login/2fa", {"code": code, "next": "/"})
    assert ok.status_code in (302, 303)
    assert (await client_a.get("/api/v1/me")).status_code == 200

    # The same code cannot be used twice.
    await form_post(client_a, "/", "/logout", {})
    client_a.cookies.clear()
    await sign_in(client_a, "ann@acme.test", PASSWORD)
    replay = await form_post(client_a, "/login/2fa", "/login/2fa", {"code": code, "next": "/"})
    assert replay.status_code == 401


async def test_a_wrong_code_does_not_turn_two_factor_on(app, client_a, tenant_a):
    await add_member(tenant_a, "ann@acme.test")
    await sign_in(client_a, "ann@acme.test")
    await form_post(client_a, "/account/security/", "/account/security/totp/begin", {})
    refused = await form_post(client_a, "/account/security/", "/account/security/totp/confirm", {"code": "123456"})
    assert refused.status_code == 400
    page = await client_a.get("/account/security/")
    assert "is off" in page.text or "Set up two-factor" in page.text
    assert csrf_from(page.text)


async def test_a_mistyped_confirmation_code_keeps_the_key_being_enrolled(app, client_a, tenant_a):
    await add_member(tenant_a, "ann@acme.test")
    await sign_in(client_a, "ann@acme.test")
    page = await form_post(client_a, "/account/security/", "/account/security/totp/begin", {})
    secret = re.search(r'<code class="secret">([A-Z2-7]{16,})</code>', page.text).group(1)
    refused = await form_post(client_a, "/account/security/", "/account/security/totp/confirm", {"code": "123456"})
    assert refused.status_code == 400 and secret in refused.text
    code = pyotp.TOTP(secret).at(app.state.services.clock.now())
    done = await form_post(client_a, "/account/security/", "/account/security/totp/confirm", {"code": code})
    assert done.status_code in (302, 303)


async def test_signed_in_responses_are_not_cached(client_a, tenant_a):
    await add_member(tenant_a, "ann@acme.test", "owner")
    await sign_in(client_a, "ann@acme.test")
    assert (await client_a.get("/settings/api-keys/")).headers["cache-control"] == "no-store"
    assert (await client_a.get("/api/v1/me")).headers["cache-control"] == "no-store"


async def test_the_sign_in_entry_names_the_person(client_a, tenant_a):
    await add_member(tenant_a, "ann@acme.test", "owner")
    await sign_in(client_a, "ann@acme.test")
    entries = (await client_a.get("/api/v1/audit", params={"action": "auth.sign_in"})).json()["data"]
    assert entries[0]["actor_kind"] == "user" and entries[0]["actor_label"] == "ann@acme.test"
