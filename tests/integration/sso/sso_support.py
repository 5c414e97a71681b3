"""Helpers for the SAML tests: configure a tenant's connection, walk the SP-initiated flow,
post Responses to the ACS, read what the audit log recorded."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from salescopilot.audit.repository import AuditRepository
from salescopilot.listing import ListQuery
from salescopilot.sso.keys import new_sp_key_pair as _make_sp_key_pair
from salescopilot.sso.service import SsoSettingsChange, SsoSettingsService
from salescopilot.tenancy.context import TenantRef, tenant_scope
from tests.integration.sso.saml_idp import Claims, TestIdp


async def configure(app, tenant: TenantRef, idp: TestIdp, **settings) -> None:
    """Give `tenant` an enabled connection to `idp`; `settings` override SsoSettingsChange fields."""
    services = app.state.services
    async with tenant_scope(tenant):
        service = SsoSettingsService(clock=services.clock, secret_box=services.secret_box)
        await service.ensure_connection(f"{tenant.slug} SP")
        change = SsoSettingsChange(
            enabled=True, idp_entity_id=idp.entity_id, idp_sso_url=idp.sso_url, idp_slo_url=idp.slo_url,
            idp_certificates=[idp.certificate],
        )
        for name, value in settings.items():
            setattr(change, name, value)
        await service.update(change)


def origin(tenant: TenantRef) -> str:
    return f"http://{tenant.slug}.localhost"


def claims_for(tenant: TenantRef, **fields) -> Claims:
    base = origin(tenant)
    return Claims(acs_url=f"{base}/sso/saml/acs", audience=f"{base}/sso/saml/metadata", **fields)


def saml_request_of(location: str) -> tuple[etree._Element, dict[str, str]]:
    """The AuthnRequest/LogoutRequest carried by a redirect URL, and the URL's query."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(query["SAMLRequest"])
    return etree.fromstring(xml.encode() if isinstance(xml, str) else xml), query


async def start_login(client, next_path: str = "/team") -> str:
    """Begin SP-initiated sign-in; the AuthnRequest ID the Response must answer."""
    response = await client.get("/sso/saml/login", params={"next": next_path})
    assert response.status_code in (302, 303), response.text
    request, _ = saml_request_of(response.headers["location"])
    return request.get("ID")


async def post_acs(client, saml_response: str, relay_state: str | None = None):
    data = {"SAMLResponse": saml_response}
    if relay_state is not None:
        data["RelayState"] = relay_state
    return await client.post("/sso/saml/acs", data=data, follow_redirects=False)


async def signed_in_as(client) -> str | None:
    """The email of the session's user, or None when not signed in."""
    response = await client.get("/api/v1/me")
    return response.json()["data"]["label"] if response.status_code == 200 else None


async def audit_actions(tenant: TenantRef, prefix: str = "sso.") -> list[dict]:
    async with tenant_scope(tenant):
        page = await AuditRepository().list_page(ListQuery(limit=200, sort="seq", descending=False))
    return [row for row in page.items if row["action"].startswith(prefix)]


def refusal_reason(entries: list[dict]) -> str | None:
    refused = [e for e in entries if e["action"] == "sso.login_refused"]
    if not refused:
        return None
    after = refused[-1]["after"]
    match = re.search(r'"reason":\s*"([^"]+)"', after if isinstance(after, str) else str(after))
    return match.group(1) if match else (after or {}).get("reason")


class SpKeyPool:
    """Real SP key pairs made once per test session and handed out in turn (RSA-3072 takes
    about a second to make; every test that configures SSO needs one). Consecutive pairs
    differ, so a rotation still changes the certificate."""

    def __init__(self, size: int = 3) -> None:
        self.size = size
        self.pairs: list[tuple[str, str]] = []
        self.turn = 0

    def __call__(self, common_name: str, now) -> tuple[str, str]:
        if len(self.pairs) < self.size:
            self.pairs.append(_make_sp_key_pair(common_name, now))
        pair = self.pairs[self.turn % len(self.pairs)]
        self.turn += 1
        return pair
