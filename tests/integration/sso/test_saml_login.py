"""SP-initiated SAML sign-in against the test IdP: valid login, JIT, roles from groups, IdP-
initiated policy, RelayState limits, SSO required with a break-glass owner, session lifetime."""

from __future__ import annotations

import time

import pytest

from salescopilot.accounts.repository import MembershipRepository, UserRepository
from salescopilot.tenancy.context import tenant_scope
from tests.integration.sso.saml_idp import TestIdp
from tests.integration.sso.sso_support import (
    audit_actions,
    claims_for,
    configure,
    post_acs,
    refusal_reason,
    signed_in_as,
    start_login,
)
from tests.support import add_member, sign_in


@pytest.fixture
def idp() -> TestIdp:
    return TestIdp()


async def _role_of(tenant, email: str) -> str | None:
    async with tenant_scope(tenant):
        user = await UserRepository().by_email(email)
        membership = await MembershipRepository().for_user(user.id) if user else None
        return membership.role if membership else None


async def test_a_valid_response_signs_the_member_in_and_lands_on_next(app, client_a, tenant_a, idp):
    await add_member(tenant_a, "ada@acme.test", "member")
    await configure(app, tenant_a, idp)
    request_id = await start_login(client_a, "/team")
    response = await post_acs(client_a, idp.response(claims_for(tenant_a, in_response_to=request_id)))
    assert response.status_code in (302, 303), response.text
    assert response.headers["location"] == "/team"
    assert await signed_in_as(client_a) == "ada@acme.test"
    actions = [e["action"] for e in await audit_actions(tenant_a)]
    assert "sso.login_started" in actions and "sso.login_succeeded" in actions
    assert "auth.sign_in" in [e["action"] for e in await audit_actions(tenant_a, "auth.")]


async def test_the_login_page_offers_sso_only_when_it_is_on(app, client_a, tenant_a, idp):
    assert "Sign in with SSO" not in (await client_a.get("/login")).text
    await configure(app, tenant_a, idp)
    page = (await client_a.get("/login?next=/team")).text
    assert "/sso/saml/login?next=%2Fteam" in page


async def test_an_unknown_user_is_provisioned_just_in_time_with_the_default_role(app, client_a, tenant_a, idp):
    await configure(app, tenant_a, idp, default_role="viewer")
    request_id = await start_login(client_a)
    claims = claims_for(tenant_a, name_id="00u-opaque-id", in_response_to=request_id, attributes={
        "email": ["Grace@Acme.test"], "firstName": ["Grace"], "lastName": ["Hopper"],
    })
    response = await post_acs(client_a, idp.response(claims))
    assert response.status_code in (302, 303), response.text
    assert await signed_in_as(client_a) == "grace@acme.test"
    assert await _role_of(tenant_a, "grace@acme.test") == "viewer"
    async with tenant_scope(tenant_a):
        user = await UserRepository().by_email("grace@acme.test")
    assert user.name == "Grace Hopper" and user.password_hash == ""
    assert "sso.jit_provisioned" in [e["action"] for e in await audit_actions(tenant_a)]


async def test_the_nameid_link_survives_an_email_change_at_the_idp(app, client_a, tenant_a, idp):
    await configure(app, tenant_a, idp)
    for email in ("lin@acme.test", "lin.new@acme.test"):
        request_id = await start_login(client_a)
        claims = claims_for(tenant_a, name_id="emp-42", in_response_to=request_id, attributes={"mail": [email]})
        assert (await post_acs(client_a, idp.response(claims))).status_code in (302, 303)
        # The same person both times: the first email's account, found by its NameID.
        assert await signed_in_as(client_a) == "lin@acme.test"


async def test_without_jit_an_unknown_user_is_refused(app, client_a, tenant_a, idp):
    await configure(app, tenant_a, idp, jit_provisioning=False)
    request_id = await start_login(client_a)
    response = await post_acs(client_a, idp.response(claims_for(tenant_a, name_id="nobody@acme.test", in_response_to=request_id)))
    assert response.status_code == 401
    assert await signed_in_as(client_a) is None
    assert refusal_reason(await audit_actions(tenant_a)) == "not_provisioned"


async def test_the_role_comes_from_the_groups_attribute_at_every_sign_in(app, client_a, tenant_a, idp):
    await add_member(tenant_a, "olga@acme.test", "owner")
    await add_member(tenant_a, "ada@acme.test", "viewer")
    await configure(app, tenant_a, idp, groups_attribute="groups",
                    group_roles={"Sales Admins": "admin", "Sales": "member"})
    for groups, expected in ((["Sales", "Sales Admins"], "admin"), (["Sales"], "member"), (["Other"], "member")):
        request_id = await start_login(client_a)
        claims = claims_for(tenant_a, in_response_to=request_id, attributes={"groups": groups})
        assert (await post_acs(client_a, idp.response(claims))).status_code in (302, 303)
        assert await _role_of(tenant_a, "ada@acme.test") == expected, groups
    # A new user's role comes from the groups too.
    request_id = await start_login(client_a)
    claims = claims_for(tenant_a, name_id="bob@acme.test", in_response_to=request_id,
                        attributes={"groups": ["Sales Admins"]})
    assert (await post_acs(client_a, idp.response(claims))).status_code in (302, 303)
    assert await _role_of(tenant_a, "bob@acme.test") == "admin"


async def test_the_last_owner_is_not_demoted_by_groups(app, client_a, tenant_a, idp):
    await add_member(tenant_a, "olga@acme.test", "owner")
    await configure(app, tenant_a, idp, groups_attribute="groups", group_roles={"Sales": "member"})
    request_id = await start_login(client_a)
    claims = claims_for(tenant_a, name_id="olga@acme.test", in_response_to=request_id, attributes={"groups": ["Sales"]})
    assert (await post_acs(client_a, idp.response(claims))).status_code in (302, 303)
    assert await _role_of(tenant_a, "olga@acme.test") == "owner"


async def test_idp_initiated_sign_in_is_off_by_default(app, client_a, tenant_a, idp):
    await add_member(tenant_a, "ada@acme.test", "member")
    await configure(app, tenant_a, idp)
    response = await post_acs(client_a, idp.response(claims_for(tenant_a)), relay_state="/team")
    assert response.status_code == 401
    assert await signed_in_as(client_a) is None
    assert refusal_reason(await audit_actions(tenant_a)) == "idp_initiated_refused"


@pytest.mark.parametrize(
    ("relay_state", "landing"),
    [("/team", "/team"), ("https://evil.test/phish", "/"), ("//evil.test/x", "/"), (None, "/")],
)
async def test_idp_initiated_sign_in_when_allowed_lands_only_on_own_paths(
    app, client_a, tenant_a, idp, relay_state, landing
):
    await add_member(tenant_a, "ada@acme.test", "member")
    await configure(app, tenant_a, idp, allow_idp_initiated=True)
    response = await post_acs(client_a, idp.response(claims_for(tenant_a)), relay_state=relay_state)
    assert response.status_code in (302, 303), response.text
    assert response.headers["location"] == landing


async def test_sp_initiated_next_is_limited_to_own_paths(app, client_a, tenant_a, idp):
    await add_member(tenant_a, "ada@acme.test", "member")
    await configure(app, tenant_a, idp)
    request_id = await start_login(client_a, "https://evil.test/")
    # Whatever RelayState comes back, the landing is what was stored with the request.
    response = await post_acs(client_a, idp.response(claims_for(tenant_a, in_response_to=request_id)),
                              relay_state="https://evil.test/")
    assert response.headers["location"] == "/"


async def test_sso_required_refuses_passwords_except_for_the_break_glass_owner(app, client_a, tenant_a, idp):
    owner_id = await add_member(tenant_a, "olga@acme.test", "owner")
    await add_member(tenant_a, "ada@acme.test", "admin")
    await configure(app, tenant_a, idp, sso_required=True, break_glass_user=owner_id)
    refused = await sign_in(client_a, "ada@acme.test")
    assert refused.status_code == 403 and "single sign-on" in refused.text
    assert await signed_in_as(client_a) is None
    allowed = await sign_in(client_a, "olga@acme.test")
    assert allowed.status_code in (302, 303)
    assert await signed_in_as(client_a) == "olga@acme.test"
    assert "sso.password_sign_in_refused" in [e["action"] for e in await audit_actions(tenant_a)]


async def test_sso_required_needs_an_owner_as_break_glass(app, tenant_a, idp):
    from salescopilot.sso.errors import SsoSettingsInvalid

    admin_id = await add_member(tenant_a, "adam@acme.test", "admin")
    with pytest.raises(SsoSettingsInvalid):
        await configure(app, tenant_a, idp, sso_required=True)
    with pytest.raises(SsoSettingsInvalid):
        await configure(app, tenant_a, idp, sso_required=True, break_glass_user=admin_id)


async def test_an_sso_session_ends_at_the_tenant_session_lifetime(app, client_a, tenant_a, idp, monkeypatch):
    await add_member(tenant_a, "ada@acme.test", "member")
    await configure(app, tenant_a, idp, session_lifetime_minutes=30)
    request_id = await start_login(client_a)
    await post_acs(client_a, idp.response(claims_for(tenant_a, in_response_to=request_id)))
    assert await signed_in_as(client_a) == "ada@acme.test"
    started = time.time()
    monkeypatch.setattr("salescopilot.accounts.sessions.time.time", lambda: started + 29 * 60)
    assert await signed_in_as(client_a) == "ada@acme.test"
    monkeypatch.setattr("salescopilot.accounts.sessions.time.time", lambda: started + 31 * 60)
    assert await signed_in_as(client_a) is None


async def test_sso_login_is_refused_while_sso_is_off(app, client_a, tenant_a, idp):
    await configure(app, tenant_a, idp)
    request_id = await start_login(client_a)
    await configure(app, tenant_a, idp, enabled=False)
    response = await post_acs(client_a, idp.response(claims_for(tenant_a, in_response_to=request_id)))
    assert response.status_code == 401
    assert (await client_a.get("/sso/saml/login")).status_code == 404
