"""Every Response an attacker (or a misconfigured IdP) could send, each refused for the right
reason, nobody signed in, nothing crashing; and the legitimate edge cases (clock skew, signed
Response when allowed, certificate rollover) accepted."""

from __future__ import annotations

import base64
import copy
import datetime as dt

import pytest
from lxml import etree

from tests.integration.sso.saml_idp import NS, SAMLP, TestIdp, encode
from tests.integration.sso.sso_support import (
    audit_actions,
    claims_for,
    configure,
    post_acs,
    refusal_reason,
    signed_in_as,
    start_login,
)
from tests.support import add_member

pytestmark = pytest.mark.usefixtures("tenant_a")


@pytest.fixture
def idp() -> TestIdp:
    return TestIdp()


@pytest.fixture
async def ready(app, tenant_a, idp):
    """Tenant A with SSO to `idp`, its member Ada, and no attacker account."""
    await add_member(tenant_a, "ada@acme.test", "member")
    await configure(app, tenant_a, idp, jit_provisioning=True)
    return tenant_a


async def _refused(client, tenant, saml_response: str, reason: str | tuple[str, ...]) -> None:
    response = await post_acs(client, saml_response)
    assert response.status_code == 401, response.text
    assert await signed_in_as(client) is None
    got = refusal_reason(await audit_actions(tenant))
    assert got in ((reason,) if isinstance(reason, str) else reason), got


async def _accepted(client, saml_response: str, email: str = "ada@acme.test") -> None:
    response = await post_acs(client, saml_response)
    assert response.status_code in (302, 303), response.text
    assert await signed_in_as(client) == email


def _signed_document(idp: TestIdp, claims, **kwargs) -> etree._Element:
    return etree.fromstring(base64.b64decode(idp.response(claims, **kwargs)))


# -- signatures -----------------------------------------------------------------------------------


async def test_an_unsigned_response_is_refused(client_a, ready, idp):
    request_id = await start_login(client_a)
    await _refused(client_a, ready, idp.response(claims_for(ready, in_response_to=request_id), sign_assertion=False),
                   ("unsigned_assertion", "unsigned"))


async def test_a_signed_response_with_an_unsigned_assertion_is_refused_by_default(client_a, ready, idp):
    request_id = await start_login(client_a)
    saml_response = idp.response(claims_for(ready, in_response_to=request_id), sign_assertion=False, sign_response=True)
    await _refused(client_a, ready, saml_response, "unsigned_assertion")


async def test_a_signed_response_alone_is_accepted_when_the_tenant_allows_it(app, client_a, ready, idp):
    await configure(app, ready, idp, accept_signed_response_only=True)
    request_id = await start_login(client_a)
    saml_response = idp.response(claims_for(ready, in_response_to=request_id), sign_assertion=False, sign_response=True)
    await _accepted(client_a, saml_response)


async def test_a_response_signed_by_another_key_is_refused(client_a, ready, idp):
    other = TestIdp(entity_id=idp.entity_id, common_name="impostor")
    request_id = await start_login(client_a)
    await _refused(client_a, ready, other.response(claims_for(ready, in_response_to=request_id)), "bad_signature")


async def test_a_response_changed_after_signing_is_refused(client_a, ready, idp):
    request_id = await start_login(client_a)
    document = _signed_document(idp, claims_for(ready, in_response_to=request_id))
    document.find(".//saml:NameID", NS).text = "olga@acme.test"
    await _refused(client_a, ready, encode(document), "bad_signature")


async def test_a_sha1_signature_is_refused(client_a, ready, idp):
    request_id = await start_login(client_a)
    await _refused(client_a, ready, idp.response(claims_for(ready, in_response_to=request_id), sha1=True),
                   "deprecated_algorithm")


# -- XML signature wrapping -----------------------------------------------------------------------


def _evil_copy(assertion: etree._Element, *, keep_id: bool) -> etree._Element:
    evil = copy.deepcopy(assertion)
    signature = evil.find("ds:Signature", NS)
    if signature is not None:
        evil.remove(signature)
    evil.find(".//saml:NameID", NS).text = "mallory@evil.test"
    if not keep_id:
        evil.set("ID", "_evil")
    return evil


def _xsw_variants(document: etree._Element) -> dict[str, etree._Element]:
    variants = {}
    # 1: an unsigned evil assertion before the signed one.
    d = copy.deepcopy(document)
    signed = d.find("saml:Assertion", NS)
    d.insert(list(d).index(signed), _evil_copy(signed, keep_id=False))
    variants["evil_first"] = d
    # 2: an evil assertion with the signed one's ID, the signed one hidden in Extensions.
    d = copy.deepcopy(document)
    signed = d.find("saml:Assertion", NS)
    evil = _evil_copy(signed, keep_id=True)
    d.remove(signed)
    extensions = etree.Element(f"{{{SAMLP}}}Extensions")
    extensions.append(signed)
    d.insert(1, extensions)
    d.append(evil)
    variants["signed_in_extensions"] = d
    # 3: the signed assertion wrapped inside the evil one (inside its Subject).
    d = copy.deepcopy(document)
    signed = d.find("saml:Assertion", NS)
    evil = _evil_copy(signed, keep_id=False)
    d.replace(signed, evil)
    evil.find("saml:Subject", NS).append(signed)
    variants["signed_inside_evil_subject"] = d
    # 4: the signed assertion moved into the evil one's Signature Object (XSW7/8 style).
    d = copy.deepcopy(document)
    signed = d.find("saml:Assertion", NS)
    evil = _evil_copy(signed, keep_id=True)
    d.replace(signed, evil)
    evil_signature = copy.deepcopy(signed.find("ds:Signature", NS))
    evil.insert(1, evil_signature)
    obj = etree.SubElement(evil_signature, "{http://www.w3.org/2000/09/xmldsig#}Object")
    obj.append(signed)
    variants["signed_in_signature_object"] = d
    # 5: a second, unsigned evil assertion after the signed one.
    d = copy.deepcopy(document)
    d.append(_evil_copy(d.find("saml:Assertion", NS), keep_id=False))
    variants["evil_last"] = d
    return variants


@pytest.mark.parametrize(
    "variant",
    ["evil_first", "signed_in_extensions", "signed_inside_evil_subject", "signed_in_signature_object", "evil_last"],
)
async def test_xml_signature_wrapping_is_refused(client_a, ready, idp, variant):
    request_id = await start_login(client_a)
    document = _signed_document(idp, claims_for(ready, in_response_to=request_id))
    await _refused(client_a, ready, encode(_xsw_variants(document)[variant]),
                   ("malformed", "bad_signature", "invalid", "unsigned_assertion"))


async def test_a_comment_in_the_nameid_does_not_truncate_it(client_a, ready, idp):
    """The IdP signed "ada@acme.test.evil.test" for the attacker's own account; a comment
    added afterwards (invisible to the signature) must not make it read "ada@acme.test"."""
    request_id = await start_login(client_a)
    document = _signed_document(idp, claims_for(ready, name_id="ada@acme.test.evil.test", in_response_to=request_id))
    text = etree.tostring(document).decode().replace("ada@acme.test.evil.test", "ada@acme.test<!---->.evil.test")
    response = await post_acs(client_a, base64.b64encode(text.encode()).decode())
    assert await signed_in_as(client_a) != "ada@acme.test"
    if response.status_code in (302, 303):
        assert await signed_in_as(client_a) == "ada@acme.test.evil.test"
    else:
        assert response.status_code == 401


# -- audience, recipient, destination, InResponseTo -----------------------------------------------


async def test_a_wrong_audience_is_refused(client_a, ready, idp):
    request_id = await start_login(client_a)
    claims = claims_for(ready, in_response_to=request_id)
    claims.audience = "https://other-sp.test/metadata"
    await _refused(client_a, ready, idp.response(claims), "wrong_audience")


@pytest.mark.parametrize("recipient", ["https://other-sp.test/acs", "http://acme.localhost/sso/saml/acs/extra", ""])
async def test_a_wrong_or_missing_recipient_is_refused(client_a, ready, idp, recipient):
    request_id = await start_login(client_a)
    claims = claims_for(ready, in_response_to=request_id, recipient=recipient)
    await _refused(client_a, ready, idp.response(claims), ("wrong_recipient", "wrong_recipient_or_expired"))


@pytest.mark.parametrize("destination", ["https://other-sp.test/acs", ""])
async def test_a_wrong_or_missing_destination_is_refused(client_a, ready, idp, destination):
    request_id = await start_login(client_a)
    claims = claims_for(ready, in_response_to=request_id, destination=destination)
    await _refused(client_a, ready, idp.response(claims), "wrong_destination")


async def test_a_mismatched_in_response_to_is_refused(client_a, ready, idp):
    await start_login(client_a)
    await _refused(client_a, ready, idp.response(claims_for(ready, in_response_to="_not-our-request")),
                   "wrong_in_response_to")


async def test_an_answer_to_one_request_cannot_be_used_twice(client_a, ready, idp):
    request_id = await start_login(client_a)
    saml_response = idp.response(claims_for(ready, in_response_to=request_id))
    await _accepted(client_a, saml_response)
    client_a.cookies.clear()
    await _refused(client_a, ready, saml_response, "wrong_in_response_to")


async def test_a_replayed_idp_initiated_assertion_is_refused(app, client_a, ready, idp):
    await configure(app, ready, idp, allow_idp_initiated=True)
    saml_response = idp.response(claims_for(ready))
    await _accepted(client_a, saml_response)
    client_a.cookies.clear()
    await _refused(client_a, ready, saml_response, "replayed")


# -- time ---------------------------------------------------------------------------------------


async def test_an_expired_assertion_is_refused(client_a, ready, idp):
    request_id = await start_login(client_a)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    claims = claims_for(ready, in_response_to=request_id, issue_instant=past - dt.timedelta(minutes=5),
                        not_before=past - dt.timedelta(minutes=5), not_on_or_after=past)
    await _refused(client_a, ready, idp.response(claims), ("expired", "wrong_recipient_or_expired"))


async def test_a_not_yet_valid_assertion_is_refused(client_a, ready, idp):
    request_id = await start_login(client_a)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    claims = claims_for(ready, in_response_to=request_id, not_before=future,
                        not_on_or_after=future + dt.timedelta(minutes=5))
    await _refused(client_a, ready, idp.response(claims), "not_yet_valid")


async def test_a_small_clock_skew_is_tolerated(client_a, ready, idp):
    request_id = await start_login(client_a)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    claims = claims_for(ready, in_response_to=request_id, not_before=soon)
    await _accepted(client_a, idp.response(claims))


# -- hostile XML ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" Version="2.0">&x;</samlp:Response>',
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" Version="2.0">&b;</samlp:Response>',
        '<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>',
        "not xml at all",
    ],
    ids=["xxe", "entity-expansion", "external-dtd", "garbage"],
)
async def test_dtds_entities_and_garbage_are_refused(client_a, ready, payload):
    await _refused(client_a, ready, base64.b64encode(payload.encode()).decode(), "malformed")


async def test_a_dtd_inside_a_correctly_signed_response_is_refused(client_a, ready, idp):
    request_id = await start_login(client_a)
    document = _signed_document(idp, claims_for(ready, in_response_to=request_id))
    text = '<!DOCTYPE samlp:Response [<!ENTITY e "x">]>' + etree.tostring(document).decode()
    await _refused(client_a, ready, base64.b64encode(text.encode()).decode(), "malformed")


@pytest.mark.parametrize("body", [{}, {"SAMLResponse": ""}, {"SAMLResponse": "%%%not-base64%%%"}])
async def test_a_missing_or_broken_saml_response_is_a_clear_refusal(client_a, ready, body):
    response = await client_a.post("/sso/saml/acs", data=body, follow_redirects=False)
    assert response.status_code == 401


# -- tenants --------------------------------------------------------------------------------------


async def test_tenant_a_idp_is_never_accepted_at_tenant_b(app, client_a, client_b, ready, tenant_b, idp):
    idp_b = TestIdp(entity_id="https://idp-b.test/metadata", common_name="idp-b")
    await add_member(tenant_b, "ada@acme.test", "owner")
    await configure(app, tenant_b, idp_b, allow_idp_initiated=True)
    # A Response meant for A, posted at B.
    request_id = await start_login(client_a)
    await _refused(client_b, tenant_b, idp.response(claims_for(ready, in_response_to=request_id)),
                   "wrong_in_response_to")
    await _refused(client_b, tenant_b, idp.response(claims_for(ready)),
                   ("wrong_destination", "wrong_audience", "wrong_recipient", "wrong_issuer", "bad_signature"))
    # A's IdP writing a Response addressed to B: B trusts only its own IdP.
    await _refused(client_b, tenant_b, idp.response(claims_for(tenant_b)), ("wrong_issuer", "bad_signature"))
    forged = TestIdp(entity_id=idp_b.entity_id, common_name="idp-a-posing-as-b")
    await _refused(client_b, tenant_b, forged.response(claims_for(tenant_b)), "bad_signature")
    # B's own IdP still works.
    await _accepted(client_b, idp_b.response(claims_for(tenant_b)))


# -- certificate rollover -------------------------------------------------------------------------


async def test_during_a_rollover_both_certificates_are_accepted_and_after_it_only_the_new(app, client_a, ready, idp):
    new_idp = TestIdp(entity_id=idp.entity_id, common_name="idp-next")
    await configure(app, ready, idp, idp_certificates=[idp.certificate, new_idp.certificate])
    for signer in (idp, new_idp):
        client_a.cookies.clear()
        request_id = await start_login(client_a)
        await _accepted(client_a, signer.response(claims_for(ready, in_response_to=request_id)))
    await configure(app, ready, idp, idp_certificates=[new_idp.certificate])
    client_a.cookies.clear()
    request_id = await start_login(client_a)
    await _refused(client_a, ready, idp.response(claims_for(ready, in_response_to=request_id)), "bad_signature")
    request_id = await start_login(client_a)
    await _accepted(client_a, new_idp.response(claims_for(ready, in_response_to=request_id)))



