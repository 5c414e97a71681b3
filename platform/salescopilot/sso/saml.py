"""The SAML protocol, through python3-saml: settings for one tenant's connection, AuthnRequests,
Response validation with the checks python3-saml leaves to its caller, logout messages.

Nothing here touches the database or a request object: `SpEndpoints` says where the service
provider lives, `IdpConfig` who the identity provider is, and every function returns data or
raises `SamlRefused` with a reason a person can read on the "test connection" page.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import xmlsec
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.logout_response import OneLogin_Saml2_Logout_Response
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

#: Largest SAMLResponse accepted (base64 text); real responses are a few kilobytes.
MAX_MESSAGE = 256 * 1024
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"


class SamlRefused(Exception):
    """A SAML message was refused. `reason` is a stable slug, `detail` says why in words."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SpEndpoints:
    """Where this tenant's service provider lives, from the origin its users visit."""

    origin: str  # scheme://host[:port]

    @property
    def entity_id(self) -> str:
        return f"{self.origin}/sso/saml/metadata"

    @property
    def acs_url(self) -> str:
        return f"{self.origin}/sso/saml/acs"

    @property
    def slo_url(self) -> str:
        return f"{self.origin}/sso/saml/slo"


@dataclass(frozen=True, slots=True)
class IdpConfig:
    entity_id: str
    sso_url: str
    slo_url: str
    certificates: tuple[str, ...]
    sp_certificate: str
    sp_private_key: str
    accept_signed_response_only: bool = False


@dataclass(slots=True)
class Assertion:
    """What a valid Response said."""

    name_id: str
    name_id_format: str
    session_index: str | None
    attributes: dict[str, list[str]]
    assertion_id: str
    in_response_to: str | None
    not_on_or_after: dt.datetime | None
    issuer: str
    signed_parts: list[str] = field(default_factory=list)


def settings_for(sp: SpEndpoints, idp: IdpConfig, *, for_logout: bool = False) -> OneLogin_Saml2_Settings:
    """python3-saml settings in strict mode. Logout messages from the IdP must be signed; for
    login Responses the assertion must be signed (or, when the tenant allows it, the Response)."""
    signing = [_pem_body(c) for c in idp.certificates if c.strip()]
    security = {
        "authnRequestsSigned": bool(idp.sp_private_key),
        "logoutRequestSigned": bool(idp.sp_private_key),
        "logoutResponseSigned": bool(idp.sp_private_key),
        "wantAssertionsSigned": not idp.accept_signed_response_only,
        "wantMessagesSigned": for_logout or idp.accept_signed_response_only,
        "wantNameId": True,
        "wantAttributeStatement": False,
        "rejectDeprecatedAlgorithm": True,
        "rejectUnsolicitedResponsesWithInResponseTo": True,
        "signatureAlgorithm": C.RSA_SHA256,
        "digestAlgorithm": C.SHA256,
        "allowRepeatAttributeName": True,
    }
    data: dict[str, Any] = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": sp.entity_id,
            "assertionConsumerService": {"url": sp.acs_url, "binding": C.BINDING_HTTP_POST},
            "singleLogoutService": {"url": sp.slo_url, "binding": C.BINDING_HTTP_REDIRECT},
            "NameIDFormat": NAMEID_UNSPECIFIED,
            "x509cert": _pem_body(idp.sp_certificate),
            "privateKey": idp.sp_private_key,
        },
        "idp": {
            "entityId": idp.entity_id or "urn:unconfigured",
            "singleSignOnService": {"url": idp.sso_url or "https://unconfigured.invalid/",
                                    "binding": C.BINDING_HTTP_REDIRECT},
            "singleLogoutService": {"url": idp.slo_url, "binding": C.BINDING_HTTP_REDIRECT},
            "x509certMulti": {"signing": signing, "encryption": signing[:1]},
        },
        "security": security,
    }
    return OneLogin_Saml2_Settings(data, sp_validation_only=not idp.entity_id)


def sp_metadata(sp: SpEndpoints, idp: IdpConfig) -> str:
    """Our SP metadata, with the signing certificate the IdP checks our requests with."""
    metadata = settings_for(sp, idp).get_sp_metadata()
    return metadata.decode() if isinstance(metadata, bytes) else metadata


def authn_request_url(sp: SpEndpoints, idp: IdpConfig, relay_state: str) -> tuple[str, str]:
    """(redirect URL to the IdP, the AuthnRequest's ID to expect back as InResponseTo)."""
    settings = settings_for(sp, idp)
    request = OneLogin_Saml2_Authn_Request(settings, set_nameid_policy=True)
    parameters = {"SAMLRequest": request.get_request(), "RelayState": relay_state}
    if idp.sp_private_key:
        _sign_redirect(settings, parameters, "SAMLRequest")
    return OneLogin_Saml2_Utils.redirect(idp.sso_url, parameters), request.get_id()


def validate_response(
    sp: SpEndpoints, idp: IdpConfig, saml_response: str, *, expected_request_id: str | None
) -> Assertion:
    """The assertion of a valid Response posted to our ACS, else `SamlRefused`.

    Beyond python3-saml's strict checks (signature with SHA-256 or better, audience, issuer,
    conditions with clock skew, schema, InResponseTo when given), a Response must name our ACS
    as its Destination and its bearer confirmation our ACS as Recipient: python3-saml accepts
    them absent, and signed messages must say where they are meant to go."""
    if not saml_response or len(saml_response) > MAX_MESSAGE:
        raise SamlRefused("malformed", "No SAMLResponse, or one too large.")
    settings = settings_for(sp, idp)
    try:
        response = OneLogin_Saml2_Response(settings, saml_response)
    except Exception as error:  # noqa: BLE001 - bad base64, XML, DTD, entities: all refusals
        raise SamlRefused("malformed", f"The SAMLResponse cannot be read: {_short(error)}") from None
    request_data = _request_data(sp.acs_url)
    try:
        response.is_valid(request_data, expected_request_id, raise_exceptions=True)
    except Exception as error:  # noqa: BLE001 - python3-saml raises several types
        raise SamlRefused(_reason_of(error), _short(error)) from None
    document = response.document
    if document.get("Destination") != sp.acs_url:
        raise SamlRefused("wrong_destination", f"Destination is {document.get('Destination')!r}, not {sp.acs_url!r}.")
    recipients = [
        node.get("Recipient")
        for node in response._query_assertion(
            "/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData"
        )
    ]
    if sp.acs_url not in recipients:
        raise SamlRefused("wrong_recipient", f"Recipient is {recipients!r}, not {sp.acs_url!r}.")
    in_response_to = response.get_in_response_to()
    if in_response_to is not None and in_response_to != expected_request_id:
        raise SamlRefused("wrong_in_response_to", "InResponseTo names no request of ours.")
    name_id = (response.get_nameid() or "").strip()
    if not name_id:
        raise SamlRefused("no_name_id", "The assertion has no NameID.")
    not_on_or_after = response.get_assertion_not_on_or_after()
    return Assertion(
        name_id=name_id,
        name_id_format=response.get_nameid_format() or NAMEID_UNSPECIFIED,
        session_index=response.get_session_index(),
        attributes={k: [str(v) for v in values] for k, values in response.get_attributes().items()},
        assertion_id=response.get_assertion_id(),
        in_response_to=in_response_to,
        not_on_or_after=(
            dt.datetime.fromtimestamp(not_on_or_after, dt.UTC) if not_on_or_after else None
        ),
        issuer=(response.get_issuers() or [""])[0],
        signed_parts=[tag.split("}")[-1] for tag in response.process_signed_elements()],
    )


def peek_in_response_to(saml_response: str) -> str | None:
    """The InResponseTo of a posted Response before it is validated (to find the pending
    request it answers), None when absent; `SamlRefused` when the message is unreadable or
    carries a DTD (refused before anything else looks at it)."""
    if not saml_response or len(saml_response) > MAX_MESSAGE:
        raise SamlRefused("malformed", "No SAMLResponse, or one too large.")
    try:
        document = OneLogin_Saml2_XML.to_etree(OneLogin_Saml2_Utils.b64decode(saml_response))
    except Exception as error:  # noqa: BLE001 - bad base64, XML, DTD, entities: all refusals
        raise SamlRefused("malformed", f"The SAMLResponse cannot be read: {_short(error)}") from None
    return document.get("InResponseTo")


def logout_request_url(
    sp: SpEndpoints, idp: IdpConfig, name_id: str, name_id_format: str, session_index: str | None,
    relay_state: str,
) -> tuple[str, str]:
    """(redirect URL to the IdP's single logout service, the LogoutRequest's ID)."""
    settings = settings_for(sp, idp)
    request = OneLogin_Saml2_Logout_Request(
        settings, name_id=name_id, session_index=session_index, name_id_format=name_id_format
    )
    parameters = {"SAMLRequest": request.get_request(), "RelayState": relay_state}
    if idp.sp_private_key:
        _sign_redirect(settings, parameters, "SAMLRequest")
    return OneLogin_Saml2_Utils.redirect(idp.slo_url, parameters), request.id


@dataclass(frozen=True, slots=True)
class IdpLogoutRequest:
    name_id: str
    session_indexes: list[str]
    request_id: str


def read_logout_request(sp: SpEndpoints, idp: IdpConfig, query: dict[str, str]) -> IdpLogoutRequest:
    """A signed LogoutRequest from the IdP (HTTP-Redirect binding), else `SamlRefused`."""
    settings = settings_for(sp, idp, for_logout=True)
    request_data = _request_data(sp.slo_url, get_data=query)
    try:
        request = OneLogin_Saml2_Logout_Request(settings, query["SAMLRequest"])
        if not _redirect_signature_valid(settings, query, "SAMLRequest"):
            raise SamlRefused("bad_signature", "The LogoutRequest is not signed by the IdP.")
        request.is_valid(request_data, raise_exceptions=True)
        xml = request.get_xml()
        name_id = OneLogin_Saml2_Logout_Request.get_nameid(xml, settings.get_sp_key())
        indexes = OneLogin_Saml2_Logout_Request.get_session_indexes(xml)
        request_id = OneLogin_Saml2_Logout_Request.get_id(xml)
    except SamlRefused:
        raise
    except Exception as error:  # noqa: BLE001
        raise SamlRefused(_reason_of(error), _short(error)) from None
    return IdpLogoutRequest(name_id=name_id, session_indexes=indexes, request_id=request_id)


def logout_response_url(sp: SpEndpoints, idp: IdpConfig, in_response_to: str, relay_state: str | None) -> str:
    settings = settings_for(sp, idp)
    builder = OneLogin_Saml2_Logout_Response(settings)
    builder.build(in_response_to)
    parameters = {"SAMLResponse": builder.get_response()}
    if relay_state:
        parameters["RelayState"] = relay_state
    if idp.sp_private_key:
        _sign_redirect(settings, parameters, "SAMLResponse")
    return OneLogin_Saml2_Utils.redirect(idp.slo_url, parameters)


def read_logout_response(sp: SpEndpoints, idp: IdpConfig, query: dict[str, str], request_id: str | None) -> None:
    """Accept the IdP's signed answer to our LogoutRequest `request_id`, else `SamlRefused`."""
    settings = settings_for(sp, idp, for_logout=True)
    request_data = _request_data(sp.slo_url, get_data=query)
    try:
        response = OneLogin_Saml2_Logout_Response(settings, query["SAMLResponse"])
        if not _redirect_signature_valid(settings, query, "SAMLResponse"):
            raise SamlRefused("bad_signature", "The LogoutResponse is not signed by the IdP.")
        response.is_valid(request_data, request_id, raise_exceptions=True)
        if response.get_status() != C.STATUS_SUCCESS:
            raise SamlRefused("logout_failed", "The IdP says the logout did not succeed.")
    except SamlRefused:
        raise
    except Exception as error:  # noqa: BLE001
        raise SamlRefused(_reason_of(error), _short(error)) from None


def decoded_xml(saml_message: str) -> str:
    """A posted SAML message as text, for the "test connection" page (never parsed here)."""
    try:
        return base64.b64decode(saml_message[:MAX_MESSAGE], validate=False).decode("utf-8", "replace")
    except (ValueError, TypeError):
        return "(not base64)"


def check_xml_is_safe(xml: str | bytes) -> None:
    """Refuse DTDs and entities before any other parsing (metadata uploads)."""
    try:
        OneLogin_Saml2_XML.to_etree(xml)
    except Exception as error:  # noqa: BLE001
        raise SamlRefused("malformed", f"The XML cannot be read safely: {_short(error)}") from None


# -- helpers ------------------------------------------------------------------------------------


def _request_data(url: str, get_data: dict | None = None, post_data: dict | None = None) -> dict:
    """python3-saml's view of the request: the URL our endpoint is published at, so the
    Destination and Recipient it compares are ours, whatever Host header reached us."""
    scheme, rest = url.split("://", 1)
    host, _, path = rest.partition("/")
    return {
        "https": "on" if scheme == "https" else "off",
        "http_host": host,
        "script_name": "/" + path,
        "get_data": get_data or {},
        "post_data": post_data or {},
    }


def _sign_redirect(settings: OneLogin_Saml2_Settings, parameters: dict, kind: str) -> None:
    algorithm = C.RSA_SHA256
    query = f"{kind}={OneLogin_Saml2_Utils.escape_url(parameters[kind])}"
    if "RelayState" in parameters:
        query += f"&RelayState={OneLogin_Saml2_Utils.escape_url(parameters['RelayState'])}"
    query += f"&SigAlg={OneLogin_Saml2_Utils.escape_url(algorithm)}"
    parameters["SigAlg"] = algorithm
    parameters["Signature"] = OneLogin_Saml2_Utils.b64encode(
        OneLogin_Saml2_Utils.sign_binary(query.encode(), settings.get_sp_key(), xmlsec.Transform.RSA_SHA256)
    )


def _redirect_signature_valid(settings: OneLogin_Saml2_Settings, query: dict, kind: str) -> bool:
    """The HTTP-Redirect signature of `query` by one of the IdP's certificates, SHA-256 or
    better. The signed text is rebuilt from the raw query string when the caller kept it
    (`query["__raw__"]`): IdPs differ in how they percent-encode (ADFS writes lower case)."""
    signature, algorithm = query.get("Signature"), query.get("SigAlg")
    if not signature or algorithm not in (C.RSA_SHA256, C.RSA_SHA384, C.RSA_SHA512):
        return False
    raw = _raw_parts(query.get("__raw__", ""))
    names = [kind, *(["RelayState"] if "RelayState" in query else []), "SigAlg"]
    if all(name in raw for name in names):
        signed = "&".join(f"{name}={raw[name]}" for name in names)
    else:
        signed = "&".join(f"{name}={OneLogin_Saml2_Utils.escape_url(query[name])}" for name in names)
    idp = settings.get_idp_data()
    for cert in idp.get("x509certMulti", {}).get("signing", []):
        try:
            if OneLogin_Saml2_Utils.validate_binary_sign(
                signed.encode(), OneLogin_Saml2_Utils.b64decode(signature),
                OneLogin_Saml2_Utils.format_cert(cert), algorithm
            ):
                return True
        except Exception:  # noqa: BLE001 - a signature that cannot be checked is no signature
            continue
    return False


def _raw_parts(query_string: str) -> dict[str, str]:
    """name -> value exactly as sent (still percent-encoded), first occurrence wins."""
    parts: dict[str, str] = {}
    for item in query_string.split("&"):
        name, _, value = item.partition("=")
        parts.setdefault(name, value)
    return parts


def _pem_body(pem: str) -> str:
    """A certificate as python3-saml wants it: PEM with or without armour, whitespace-free."""
    return OneLogin_Saml2_Utils.format_cert(pem.strip(), heads=False) if pem.strip() else ""


_REASONS = {
    "WRONG_AUDIENCE": "wrong_audience",
    "WRONG_DESTINATION": "wrong_destination",
    "WRONG_INRESPONSETO": "wrong_in_response_to",
    "WRONG_SUBJECTCONFIRMATION": "wrong_recipient_or_expired",
    "ASSERTION_EXPIRED": "expired",
    "ASSERTION_TOO_EARLY": "not_yet_valid",
    "NO_SIGNED_ASSERTION": "unsigned_assertion",
    "NO_SIGNED_MESSAGE": "unsigned_message",
    "NO_SIGNATURE_FOUND": "unsigned",
    "INVALID_SIGNATURE": "bad_signature",
    "INVALID_SIGNED_ELEMENT": "bad_signature",
    "DUPLICATED_ID_IN_SIGNED_ELEMENTS": "bad_signature",
    "DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS": "bad_signature",
    "UNEXPECTED_SIGNED_ELEMENTS": "bad_signature",
    "WRONG_SIGNED_ELEMENT": "bad_signature",
    "ID_NOT_FOUND_IN_SIGNED_ELEMENT": "bad_signature",
    "WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE": "bad_signature",
    "WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION": "bad_signature",
    "WRONG_NUMBER_OF_SIGNATURES": "bad_signature",
    "WRONG_ISSUER": "wrong_issuer",
    "INVALID_XML_FORMAT": "malformed",
    "WRONG_NUMBER_OF_ASSERTIONS": "malformed",
    "STATUS_CODE_IS_NOT_SUCCESS": "idp_error",
    "DEPRECATED_SIGNATURE_METHOD": "deprecated_algorithm",
    "DEPRECATED_DIGEST_METHOD": "deprecated_algorithm",
    "NO_NAMEID": "no_name_id",
    "EMPTY_NAMEID": "no_name_id",
    "SESSION_EXPIRED": "expired",
    "RESPONSE_EXPIRED": "expired",
}


def _reason_of(error: Exception) -> str:
    code = getattr(error, "code", None)
    if code is not None:
        for name, reason in _REASONS.items():
            if getattr(type(error), name, object()) == code:
                return reason
    return "invalid"


def _short(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text[:500]
