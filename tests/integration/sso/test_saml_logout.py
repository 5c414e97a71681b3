"""Single logout over the HTTP-Redirect binding: SP-initiated (our signed LogoutRequest, the
IdP's signed answer) and IdP-initiated (the IdP's signed LogoutRequest ends the user's sessions
in this tenant only). Unsigned or forged logout messages are refused."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode

import pytest
import xmlsec
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from tests.integration.sso.saml_idp import SAML, SAMLP, TestIdp
from tests.integration.sso.sso_support import (
    audit_actions,
    claims_for,
    configure,
    origin,
    post_acs,
    saml_request_of,
    signed_in_as,
    start_login,
)
from tests.support import add_member, csrf_from, sign_in

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@pytest.fixture
def idp() -> TestIdp:
    return TestIdp()


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _redirect_query(idp: TestIdp, kind: str, xml: str, relay_state: str | None, *, signed: bool = True,
                    key_pem: str | None = None) -> str:
    """The query string of an HTTP-Redirect binding message, signed by the IdP's key."""
    parts = {kind: OneLogin_Saml2_Utils.deflate_and_base64_encode(xml)}
    if relay_state is not None:
        parts["RelayState"] = relay_state
    if not signed:
        return urlencode(parts)
    parts["SigAlg"] = RSA_SHA256
    signed_text = urlencode(parts)
    signature = OneLogin_Saml2_Utils.sign_binary(signed_text, key_pem or idp.private_key, xmlsec.Transform.RSA_SHA256)
    return signed_text + "&" + urlencode({"Signature": OneLogin_Saml2_Utils.b64encode(signature)})


def _logout_request(idp: TestIdp, tenant, name_id: str) -> str:
    return (
        f'<samlp:LogoutRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_lr{uuid.uuid4().hex}" '
        f'Version="2.0" IssueInstant="{_now()}" Destination="{origin(tenant)}/sso/saml/slo">'
        f"<saml:Issuer>{idp.entity_id}</saml:Issuer><saml:NameID>{name_id}</saml:NameID>"
        "<samlp:SessionIndex>_session-1</samlp:SessionIndex></samlp:LogoutRequest>"
    )


def _logout_response(idp: TestIdp, tenant, in_response_to: str) -> str:
    return (
        f'<samlp:LogoutResponse xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_lp{uuid.uuid4().hex}" '
        f'Version="2.0" IssueInstant="{_now()}" Destination="{origin(tenant)}/sso/saml/slo" '
        f'InResponseTo="{in_response_to}"><saml:Issuer>{idp.entity_id}</saml:Issuer>'
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
        "</samlp:LogoutResponse>"
    )


async def _sso_sign_in(app, client, tenant, idp) -> None:
    request_id = await start_login(client)
    response = await post_acs(client, idp.response(claims_for(tenant, in_response_to=request_id)))
    assert response.status_code in (302, 303), response.text
    assert await signed_in_as(client) == "ada@acme.test"


@pytest.fixture
async def ready(app, tenant_a, idp):
    await add_member(tenant_a, "ada@acme.test", "member")
    await configure(app, tenant_a, idp)
    return tenant_a


async def test_sign_out_of_an_sso_session_sends_a_signed_logout_request_and_accepts_the_answer(
    app, client_a, ready, idp
):
    await _sso_sign_in(app, client_a, ready, idp)
    csrf = csrf_from((await client_a.get("/account/security")).text)
    response = await client_a.post("/logout", data={"_csrf_token": csrf}, follow_redirects=False)
    location = response.headers["location"]
    assert location.startswith(idp.slo_url + "?")
    assert await signed_in_as(client_a) is None
    request, query = saml_request_of(location)
    assert request.tag == f"{{{SAMLP}}}LogoutRequest"
    assert request.find(f"{{{SAML}}}NameID").text == "ada@acme.test"
    assert query["SigAlg"] == RSA_SHA256 and query["Signature"]
    answer = _redirect_query(idp, "SAMLResponse", _logout_response(idp, ready, request.get("ID")), query["RelayState"])
    done = await client_a.get("/sso/saml/slo?" + answer, follow_redirects=False)
    assert done.status_code in (302, 303) and done.headers["location"] == "/login"
    assert "sso.logout_completed" in [e["action"] for e in await audit_actions(ready)]


async def test_an_unsigned_or_unexpected_logout_response_is_refused(app, client_a, ready, idp):
    await _sso_sign_in(app, client_a, ready, idp)
    csrf = csrf_from((await client_a.get("/account/security")).text)
    location = (await client_a.post("/logout", data={"_csrf_token": csrf}, follow_redirects=False)).headers["location"]
    request, query = saml_request_of(location)
    unsigned = _redirect_query(idp, "SAMLResponse", _logout_response(idp, ready, request.get("ID")),
                               query["RelayState"], signed=False)
    assert (await client_a.get("/sso/saml/slo?" + unsigned)).status_code == 400
    stranger = _redirect_query(idp, "SAMLResponse", _logout_response(idp, ready, "_other"), "unknown-relay")
    assert (await client_a.get("/sso/saml/slo?" + stranger)).status_code == 400
    assert "sso.logout_refused" in [e["action"] for e in await audit_actions(ready)]


async def test_a_password_session_signs_out_locally(app, client_a, ready, idp):
    await add_member(ready, "olga@acme.test", "owner")
    await sign_in(client_a, "olga@acme.test")
    csrf = csrf_from((await client_a.get("/account/security")).text)
    response = await client_a.post("/logout", data={"_csrf_token": csrf}, follow_redirects=False)
    assert response.headers["location"] == "/login"


async def test_the_idps_logout_request_ends_the_users_sessions_in_this_tenant_only(
    app, client_a, client_b, ready, tenant_b, idp
):
    await add_member(tenant_b, "ada@acme.test", "member")
    await sign_in(client_b, "ada@acme.test")
    await _sso_sign_in(app, client_a, ready, idp)
    query = _redirect_query(idp, "SAMLRequest", _logout_request(idp, ready, "ada@acme.test"), "idp-relay")
    response = await client_a.get("/sso/saml/slo?" + query, follow_redirects=False)
    assert response.status_code in (302, 303), response.text
    answer = response.headers["location"]
    assert answer.startswith(idp.slo_url + "?SAMLResponse=")
    assert "RelayState=idp-relay" in answer and "Signature=" in answer
    assert await signed_in_as(client_a) is None
    assert await signed_in_as(client_b) == "ada@acme.test"


@pytest.mark.parametrize("forgery", ["unsigned", "other_key"])
async def test_a_forged_logout_request_ends_nothing(app, client_a, ready, idp, forgery):
    await _sso_sign_in(app, client_a, ready, idp)
    xml = _logout_request(idp, ready, "ada@acme.test")
    if forgery == "unsigned":
        query = _redirect_query(idp, "SAMLRequest", xml, None, signed=False)
    else:
        query = _redirect_query(idp, "SAMLRequest", xml, None, key_pem=TestIdp(common_name="x").private_key)
    assert (await client_a.get("/sso/saml/slo?" + query)).status_code == 400
    assert await signed_in_as(client_a) == "ada@acme.test"
