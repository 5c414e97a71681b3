"""Interoperability: pysaml2, an independent SAML implementation, acts as the identity provider.
It reads our SP metadata and our (signed, deflated) AuthnRequest, and its Responses, signed with
the xmlsec1 tool, must sign users in: the valid-login cases."""

from __future__ import annotations

import base64
import shutil
from urllib.parse import parse_qs, urlsplit

from tests.integration.sso.saml_idp import key_pair
from tests.integration.sso.sso_support import origin, post_acs, signed_in_as
from tests.support import add_member, form_post, sign_in

XMLSEC1 = shutil.which("xmlsec1")

IDP_ENTITY = "https://pysaml2-idp.test/metadata"


class Pysaml2Idp:
    """A pysaml2 `Server` configured as the IdP of one tenant's SP."""

    def __init__(self, tmp_path, sp_metadata: str) -> None:
        from saml2 import BINDING_HTTP_REDIRECT
        from saml2.config import IdPConfig
        from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED
        from saml2.server import Server

        assert XMLSEC1, "xmlsec1 is missing: run python3 dev.py test (it installs the Debian package)"
        self.certificate, key = key_pair("pysaml2-idp")
        (tmp_path / "idp.crt").write_text(self.certificate)
        (tmp_path / "idp.key").write_text(key)
        config = IdPConfig()
        config.load({
            "entityid": IDP_ENTITY,
            "service": {"idp": {
                "endpoints": {
                    "single_sign_on_service": [("https://pysaml2-idp.test/sso", BINDING_HTTP_REDIRECT)],
                    "single_logout_service": [("https://pysaml2-idp.test/slo", BINDING_HTTP_REDIRECT)],
                },
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED],
                "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None}},
                "sign_response": False,
                "sign_assertion": True,
            }},
            "key_file": str(tmp_path / "idp.key"),
            "cert_file": str(tmp_path / "idp.crt"),
            "metadata": {"inline": [sp_metadata]},
            "xmlsec_binary": XMLSEC1,
            "signing_algorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "digest_algorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
        })
        self.server = Server(config=config)
        self.name_id_format = NAMEID_FORMAT_EMAILADDRESS

    def answer(self, redirect_location: str, email: str, identity: dict[str, list[str]]) -> str:
        """Read our AuthnRequest from the redirect URL and answer it (base64 Response)."""
        from saml2 import BINDING_HTTP_REDIRECT
        from saml2.saml import NameID

        query = {k: v[0] for k, v in parse_qs(urlsplit(redirect_location).query).items()}
        request = self.server.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT).message
        response = self.server.create_authn_response(
            identity=identity,
            in_response_to=request.id,
            destination=request.assertion_consumer_service_url,
            sp_entity_id=request.issuer.text,
            name_id=NameID(format=self.name_id_format, text=email),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
            sign_assertion=True,
            sign_response=False,
            sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
        )
        return base64.b64encode(str(response).encode()).decode()


async def _configure_by_page(client, tenant, tmp_path, **fields) -> Pysaml2Idp:
    """The owner sets SSO up as a person would: SP metadata from the endpoint, the IdP's
    metadata XML uploaded through the settings page, then the settings form."""
    await add_member(tenant, "olga@acme.test", "owner")
    await sign_in(client, "olga@acme.test")
    assert (await client.get("/settings/sso")).status_code == 200
    sp_metadata = (await client.get("/sso/saml/metadata")).text
    idp = Pysaml2Idp(tmp_path, sp_metadata)
    from saml2.metadata import create_metadata_string

    idp_metadata = create_metadata_string(None, config=idp.server.config, valid=24).decode()
    response = await form_post(client, "/settings/sso", "/settings/sso/metadata", {"metadata": idp_metadata})
    assert response.status_code in (302, 303), response.text
    form = {"enabled": "on", "jit_provisioning": "on", "default_role": "member",
            "session_lifetime_minutes": "480", "idp_entity_id": IDP_ENTITY,
            "idp_sso_url": "https://pysaml2-idp.test/sso", "idp_slo_url": "https://pysaml2-idp.test/slo", **fields}
    response = await form_post(client, "/settings/sso", "/settings/sso", form)
    assert response.status_code in (302, 303), response.text
    await client.post("/logout", data={}, follow_redirects=False)
    client.cookies.clear()
    return idp


async def _login(client, idp: Pysaml2Idp, email: str, identity: dict) -> None:
    redirect = await client.get("/sso/saml/login", params={"next": "/team"})
    assert redirect.headers["location"].startswith("https://pysaml2-idp.test/sso?")
    response = await post_acs(client, idp.answer(redirect.headers["location"], email, identity))
    assert response.status_code in (302, 303), response.text
    assert response.headers["location"] == "/team"


async def test_pysaml2_signs_a_member_in(client_a, tenant_a, tmp_path):
    idp = await _configure_by_page(client_a, tenant_a, tmp_path)
    await add_member(tenant_a, "ada@acme.test", "member")
    await _login(client_a, idp, "ada@acme.test", {"mail": ["ada@acme.test"]})
    assert await signed_in_as(client_a) == "ada@acme.test"


async def test_pysaml2_jit_user_with_role_from_group(client_a, tenant_a, tmp_path):
    idp = await _configure_by_page(
        client_a, tenant_a, tmp_path, groups_attribute="groups", group_roles="Sales Admins = admin\nSales = member"
    )
    await _login(client_a, idp, "grace@acme.test", {
        "mail": ["grace@acme.test"], "givenName": ["Grace"], "sn": ["Hopper"], "groups": ["Sales Admins"],
    })
    me = (await client_a.get("/api/v1/me")).json()["data"]
    assert me["label"] == "grace@acme.test" and me["role"] == "admin"


async def test_pysaml2_metadata_upload_fills_the_connection(client_a, tenant_a, tmp_path):
    await _configure_by_page(client_a, tenant_a, tmp_path)
    await sign_in(client_a, "olga@acme.test")
    page = (await client_a.get("/settings/sso")).text
    assert IDP_ENTITY in page and "https://pysaml2-idp.test/sso" in page
    assert origin(tenant_a) + "/sso/saml/acs" in page
