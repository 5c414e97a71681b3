"""The admin page: who may use it, SP metadata, settings validation (nothing half-saved),
IdP metadata upload (with rollover certificates, hostile XML refused), SP certificate rotation,
and the "test connection" flow that shows what the IdP sent and why it was accepted or refused."""

from __future__ import annotations

import pytest
from lxml import etree

from salescopilot.sso.repository import SsoConnectionRepository
from salescopilot.tenancy.context import tenant_scope
from tests.integration.sso.saml_idp import TestIdp
from tests.integration.sso.sso_support import audit_actions, claims_for, post_acs, saml_request_of
from tests.support import add_member, csrf_from, form_post, sign_in

MD = "urn:oasis:names:tc:SAML:2.0:metadata"


@pytest.fixture
def idp() -> TestIdp:
    return TestIdp()


@pytest.fixture
async def owner(client_a, tenant_a):
    await add_member(tenant_a, "olga@acme.test", "owner")
    await sign_in(client_a, "olga@acme.test")
    return client_a


def _form(idp: TestIdp, **overrides) -> dict:
    form = {
        "idp_entity_id": idp.entity_id, "idp_sso_url": idp.sso_url, "idp_slo_url": idp.slo_url,
        "idp_certificate": idp.certificate, "default_role": "member", "session_lifetime_minutes": "480",
        "jit_provisioning": "on", "enabled": "on",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


async def _connection(tenant):
    async with tenant_scope(tenant):
        return await SsoConnectionRepository().current()


async def test_only_owners_reach_the_page(client_a, tenant_a):
    await add_member(tenant_a, "adam@acme.test", "admin")
    await sign_in(client_a, "adam@acme.test")
    assert (await client_a.get("/settings/sso")).status_code == 403
    client_a.cookies.clear()
    assert (await client_a.get("/settings/sso", follow_redirects=False)).status_code in (302, 303, 401)


async def test_the_page_shows_what_to_give_the_idp_and_the_metadata_matches(owner):
    page = (await owner.get("/settings/sso")).text
    assert "http://acme.localhost/sso/saml/acs" in page and "http://acme.localhost/sso/saml/metadata" in page
    response = await owner.get("/sso/saml/metadata")
    assert response.headers["content-type"].startswith("application/samlmetadata+xml")
    metadata = etree.fromstring(response.content)
    assert metadata.get("entityID") == "http://acme.localhost/sso/saml/metadata"
    acs = metadata.find(f".//{{{MD}}}AssertionConsumerService")
    assert acs.get("Location") == "http://acme.localhost/sso/saml/acs"
    descriptor = metadata.find(f"{{{MD}}}SPSSODescriptor")
    assert descriptor.get("WantAssertionsSigned") == "true"


async def test_saving_valid_settings_turns_sso_on_and_is_audited(owner, tenant_a, idp):
    response = await form_post(owner, "/settings/sso", "/settings/sso", _form(idp))
    assert response.status_code in (302, 303), response.text
    connection = await _connection(tenant_a)
    assert connection.enabled and connection.idp_entity_id == idp.entity_id
    assert "sso.settings_changed" in [e["action"] for e in await audit_actions(tenant_a)]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"idp_sso_url": "javascript:alert(1)"}, "http(s) URL"),
        ({"idp_certificate": "not a certificate"}, "X.509"),
        ({"session_lifetime_minutes": "1"}, "5 minutes"),
        ({"default_role": "owner"}, "default role"),
        ({"group_roles": "Admins = superuser"}, "Map groups"),
        ({"group_roles": "no equals sign"}, "group = role"),
        ({"idp_certificate": "", "idp_entity_id": ""}, "before turning SSO on"),
        ({"sso_required": "on"}, "break-glass"),
    ],
)
async def test_invalid_settings_are_refused_and_nothing_is_saved(owner, tenant_a, idp, overrides, message):
    response = await form_post(owner, "/settings/sso", "/settings/sso", _form(idp, **overrides))
    assert response.status_code == 400, response.text
    assert message in response.text
    connection = await _connection(tenant_a)
    assert connection is None or not connection.enabled


async def test_idp_metadata_upload_fills_entity_urls_and_both_rollover_certificates(owner, tenant_a, idp):
    next_certificate = TestIdp(common_name="next").certificate
    response = await form_post(owner, "/settings/sso", "/settings/sso/metadata",
                               {"metadata": idp.metadata(extra_certificates=(next_certificate,))})
    assert response.status_code in (302, 303), response.text
    connection = await _connection(tenant_a)
    assert connection.idp_entity_id == idp.entity_id
    assert connection.idp_sso_url == idp.sso_url and connection.idp_slo_url == idp.slo_url
    page = (await owner.get("/settings/sso")).text
    assert page.count("SHA-256 <code>") == 3  # ours and the IdP's two


@pytest.mark.parametrize(
    "metadata",
    [
        '<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><md:EntityDescriptor '
        'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&x;"/>',
        "<not-closed",
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>',
        "",
    ],
    ids=["xxe", "broken", "no-idp", "empty"],
)
async def test_bad_idp_metadata_is_refused_clearly(owner, tenant_a, metadata):
    response = await form_post(owner, "/settings/sso", "/settings/sso/metadata", {"metadata": metadata})
    assert response.status_code == 400
    assert "alert-error" in response.text
    connection = await _connection(tenant_a)
    assert connection is None or not connection.idp_entity_id


async def test_a_new_sp_certificate_changes_the_metadata(owner):
    assert (await owner.get("/sso/saml/metadata")).status_code == 404  # nothing set up yet
    csrf = csrf_from((await owner.get("/settings/sso")).text)
    before = (await owner.get("/sso/saml/metadata")).text
    await owner.post("/settings/sso/sp-certificate", data={"_csrf_token": csrf})
    after = (await owner.get("/sso/saml/metadata")).text

    def certificate(xml: str) -> str:
        return etree.fromstring(xml.encode()).find(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate").text

    assert certificate(before) and certificate(before) != certificate(after)


async def _begin_test(owner, idp) -> str:
    await form_post(owner, "/settings/sso", "/settings/sso", _form(idp, enabled=None))
    response = await form_post(owner, "/settings/sso", "/settings/sso/test", {})
    assert response.status_code in (302, 303), response.text
    request, _ = saml_request_of(response.headers["location"])
    return request.get("ID")


async def test_test_connection_shows_what_the_idp_sent_and_signs_nobody_in(owner, tenant_a, idp, app):
    request_id = await _begin_test(owner, idp)
    claims = claims_for(tenant_a, name_id="tess@acme.test", in_response_to=request_id,
                        attributes={"email": ["tess@acme.test"], "groups": ["Sales"]})
    # The IdP's POST is cross-site: the admin's session cookie does not come with it.
    owner.cookies.clear()
    response = await post_acs(owner, idp.response(claims))
    assert response.status_code == 200, response.text
    assert "Accepted" in response.text and "tess@acme.test" in response.text and "Sales" in response.text
    assert (await owner.get("/api/v1/me")).status_code == 401
    actions = [e["action"] for e in await audit_actions(tenant_a)]
    assert "sso.test_succeeded" in actions and "sso.login_succeeded" not in actions


async def test_test_connection_explains_a_refusal(owner, tenant_a, idp):
    request_id = await _begin_test(owner, idp)
    claims = claims_for(tenant_a, in_response_to=request_id)
    claims.audience = "https://someone-else.test/"
    owner.cookies.clear()
    response = await post_acs(owner, idp.response(claims))
    assert response.status_code == 400
    assert "Refused" in response.text and "wrong_audience" in response.text
    # The received XML is shown escaped, never interpreted.
    assert "&lt;samlp:Response" in response.text or "&lt;ns0:Response" in response.text
