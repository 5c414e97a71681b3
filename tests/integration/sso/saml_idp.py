"""A SAML identity provider built for the tests: its key pair and certificate are made at test
time, its Responses are written here and signed with xmlsec, and every part an attacker could
bend (audience, recipient, destination, times, algorithms, where the signature sits) is a
parameter."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass, field

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS}
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def key_pair(common_name: str = "test-idp") -> tuple[str, str]:
    """(certificate PEM, private key PEM), RSA-2048, valid from a minute ago for a year."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()).decode(),
    )


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Claims:
    """What one Response says; defaults make a valid one for `acs_url`/`audience`."""

    acs_url: str
    audience: str
    name_id: str = "ada@acme.test"
    in_response_to: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    destination: str | None = None  # None: acs_url; "" : left out
    recipient: str | None = None  # None: acs_url; "": left out
    issue_instant: dt.datetime | None = None
    not_before: dt.datetime | None = None
    not_on_or_after: dt.datetime | None = None
    session_index: str = "_session-1"
    assertion_id: str | None = None


class TestIdp:
    __test__ = False  # a helper, not a test class
    def __init__(self, entity_id: str = "https://idp.test/metadata", common_name: str = "test-idp") -> None:
        self.entity_id = entity_id
        self.sso_url = "https://idp.test/sso"
        self.slo_url = "https://idp.test/slo"
        self.certificate, self.private_key = key_pair(common_name)

    # -- building -------------------------------------------------------------------------------

    def response_xml(self, claims: Claims) -> etree._Element:
        now = dt.datetime.now(dt.UTC)
        issued = claims.issue_instant or now
        not_before = claims.not_before or now - dt.timedelta(seconds=30)
        not_on_or_after = claims.not_on_or_after or now + dt.timedelta(minutes=5)
        response = etree.Element(f"{{{SAMLP}}}Response", nsmap={"samlp": SAMLP, "saml": SAML})
        response.set("ID", "_r" + uuid.uuid4().hex)
        response.set("Version", "2.0")
        response.set("IssueInstant", _time(issued))
        destination = claims.acs_url if claims.destination is None else claims.destination
        if destination:
            response.set("Destination", destination)
        if claims.in_response_to:
            response.set("InResponseTo", claims.in_response_to)
        etree.SubElement(response, f"{{{SAML}}}Issuer").text = self.entity_id
        status = etree.SubElement(response, f"{{{SAMLP}}}Status")
        etree.SubElement(status, f"{{{SAMLP}}}StatusCode").set("Value", "urn:oasis:names:tc:SAML:2.0:status:Success")
        assertion = etree.SubElement(response, f"{{{SAML}}}Assertion")
        assertion.set("ID", claims.assertion_id or "_a" + uuid.uuid4().hex)
        assertion.set("Version", "2.0")
        assertion.set("IssueInstant", _time(issued))
        etree.SubElement(assertion, f"{{{SAML}}}Issuer").text = self.entity_id
        subject = etree.SubElement(assertion, f"{{{SAML}}}Subject")
        name_id = etree.SubElement(subject, f"{{{SAML}}}NameID")
        name_id.set("Format", EMAIL_FORMAT)
        name_id.text = claims.name_id
        confirmation = etree.SubElement(subject, f"{{{SAML}}}SubjectConfirmation")
        confirmation.set("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")
        data = etree.SubElement(confirmation, f"{{{SAML}}}SubjectConfirmationData")
        data.set("NotOnOrAfter", _time(not_on_or_after))
        recipient = claims.acs_url if claims.recipient is None else claims.recipient
        if recipient:
            data.set("Recipient", recipient)
        if claims.in_response_to:
            data.set("InResponseTo", claims.in_response_to)
        conditions = etree.SubElement(assertion, f"{{{SAML}}}Conditions")
        conditions.set("NotBefore", _time(not_before))
        conditions.set("NotOnOrAfter", _time(not_on_or_after))
        restriction = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
        etree.SubElement(restriction, f"{{{SAML}}}Audience").text = claims.audience
        authn = etree.SubElement(assertion, f"{{{SAML}}}AuthnStatement")
        authn.set("AuthnInstant", _time(issued))
        authn.set("SessionIndex", claims.session_index)
        context = etree.SubElement(authn, f"{{{SAML}}}AuthnContext")
        etree.SubElement(context, f"{{{SAML}}}AuthnContextClassRef").text = (
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        )
        if claims.attributes:
            statement = etree.SubElement(assertion, f"{{{SAML}}}AttributeStatement")
            for name, values in claims.attributes.items():
                attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute")
                attribute.set("Name", name)
                for value in values:
                    etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = value
        return response

    # -- signing --------------------------------------------------------------------------------

    def sign(self, element: etree._Element, *, sha1: bool = False, key_pem: str | None = None,
             cert_pem: str | None = None) -> etree._Element:
        """Sign `element` (a Response or Assertion) in place, enveloped, after its Issuer."""
        method = xmlsec.constants.TransformRsaSha1 if sha1 else xmlsec.constants.TransformRsaSha256
        digest = xmlsec.constants.TransformSha1 if sha1 else xmlsec.constants.TransformSha256
        signature = xmlsec.template.create(element, xmlsec.constants.TransformExclC14N, method, ns="ds")
        element.insert(1, signature)  # right after Issuer, as the schema wants
        reference = xmlsec.template.add_reference(signature, digest, uri="#" + element.get("ID"))
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
        key_info = xmlsec.template.ensure_key_info(signature)
        xmlsec.template.add_x509_data(key_info)
        context = xmlsec.SignatureContext()
        xmlsec.tree.add_ids(element, ["ID"])
        key = xmlsec.Key.from_memory((key_pem or self.private_key).encode(), xmlsec.constants.KeyDataFormatPem)
        key.load_cert_from_memory((cert_pem or self.certificate).encode(), xmlsec.constants.KeyDataFormatCertPem)
        context.key = key
        context.sign(signature)
        return element

    def response(self, claims: Claims, *, sign_assertion: bool = True, sign_response: bool = False,
                 sha1: bool = False, key_pem: str | None = None, cert_pem: str | None = None) -> str:
        """A Response as the HTTP-POST binding carries it (base64)."""
        document = self.response_xml(claims)
        if sign_assertion:
            self.sign(document.find("saml:Assertion", NS), sha1=sha1, key_pem=key_pem, cert_pem=cert_pem)
        if sign_response:
            self.sign(document, sha1=sha1, key_pem=key_pem, cert_pem=cert_pem)
        return encode(document)

    def metadata(self, extra_certificates: tuple[str, ...] = ()) -> str:
        certs = "".join(
            f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{_body(c)}'
            "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            for c in (self.certificate, *extra_certificates)
        )
        return (
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'xmlns:ds="{DS}" entityID="{self.entity_id}">'
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            f"{certs}"
            '<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f'Location="{self.slo_url}"/>'
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f'Location="{self.sso_url}"/>'
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        )


def encode(document: etree._Element | str | bytes) -> str:
    raw = document if isinstance(document, bytes) else (
        document.encode() if isinstance(document, str) else etree.tostring(document)
    )
    return base64.b64encode(raw).decode()


def _body(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if "-----" not in line)
