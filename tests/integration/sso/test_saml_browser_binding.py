"""With secure cookies (production), a sign-in is bound to the browser that started it: a
Response for someone else's pending request, posted from another browser, is refused (login
CSRF: an attacker cannot sign a victim in as the attacker)."""

from __future__ import annotations

import httpx

from salescopilot.clock import FakeClock
from salescopilot.settings import get_settings
from salescopilot.web.app import create_app
from tests.integration.sso.saml_idp import Claims, TestIdp
from tests.integration.sso.sso_support import (
    audit_actions,
    configure,
    post_acs,
    refusal_reason,
    signed_in_as,
    start_login,
)
from tests.support import add_member

ORIGIN = "https://acme.localhost"


def _claims(request_id: str) -> Claims:
    return Claims(acs_url=f"{ORIGIN}/sso/saml/acs", audience=f"{ORIGIN}/sso/saml/metadata", in_response_to=request_id)


async def test_a_response_must_come_back_through_the_browser_that_asked(settings, db, tenant_a, monkeypatch):
    monkeypatch.setenv("SALESCOPILOT_SESSIONS__SECURE_COOKIES", "true")
    get_settings.cache_clear()
    app = create_app(get_settings(), clock=FakeClock())
    idp = TestIdp()
    await add_member(tenant_a, "ada@acme.test", "member")
    await add_member(tenant_a, "mallory@acme.test", "member")
    await configure(app, tenant_a, idp)
    for hook in app.on_startup:
        await hook(app)
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 51000))
        async with (
            httpx.AsyncClient(transport=transport, base_url=ORIGIN) as attacker,
            httpx.AsyncClient(transport=transport, base_url=ORIGIN) as victim,
        ):
            request_id = await start_login(attacker)
            assert attacker.cookies.get("sc_saml")
            claims = _claims(request_id)
            claims.name_id = "mallory@acme.test"
            forced = await post_acs(victim, idp.response(claims))
            assert forced.status_code == 401
            assert await signed_in_as(victim) is None
            assert refusal_reason(await audit_actions(tenant_a)) == "other_browser"
            # The same flow through one browser signs in.
            request_id = await start_login(victim)
            response = await post_acs(victim, idp.response(_claims(request_id)))
            assert response.status_code in (302, 303), response.text
            assert await signed_in_as(victim) == "ada@acme.test"
    finally:
        for hook in app.on_shutdown:
            await hook(app)
