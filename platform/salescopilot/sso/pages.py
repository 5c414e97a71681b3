"""The admin page `/settings/sso`: the SP's details to give the IdP, the IdP connection (metadata
upload or fields, two certificates for a rollover), the rules, "test connection", and the SCIM
tokens."""

from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from salescopilot.accounts.permissions import ROLES
from salescopilot.errors import DomainError
from salescopilot.listing import ListQuery
from salescopilot.sso.controllers import new_browser_nonce, sp_endpoints, with_browser_binding
from salescopilot.sso.service import MAPPED_FIELDS, SsoSettingsChange
from salescopilot.sso.errors import SsoSettingsInvalid
from salescopilot.tenancy.context import current_tenant
from salescopilot.web.deps import (
    safe_next,
    scim_token_service,
    sso_login_service,
    sso_settings_service,
    team_service,
)
from salescopilot.web.guards import principal_of

#: The metadata upload may be a file of some size; other forms are small.
UPLOAD_LIMIT = 1_048_576


class SsoSettingsPages(Controller):
    path = "/settings/sso"
    include_in_schema = False
    opt = {"permission": "sso.manage"}

    async def _render(self, request: Request, *, error: str | None = None, notice: str | None = None,
                      new_scim_token: str | None = None, status_code: int = 200) -> Template:
        service = sso_settings_service(request)
        connection = await service.ensure_connection(f"{current_tenant().slug} SAML SP")
        owners = await team_service(request).members(ListQuery(limit=200, filters={"role": "owner"}))
        sp = sp_endpoints(request)
        return Template(
            "sso_settings.html",
            context={
                "sp": sp,
                "settings": service.public_settings(connection),
                "certificates": service.idp_certificates(connection),
                "owners": owners.items,
                "roles": ROLES,
                "mapped_fields": MAPPED_FIELDS,
                "scim_base": f"{sp.origin}/scim/v2",
                "scim_tokens": await scim_token_service(request).list(),
                "new_scim_token": new_scim_token,
                "error": error,
                "notice": notice,
                "principal": principal_of(request),
            },
            status_code=status_code,
        )

    @get("/", opt={"writes": True})  # the tenant's SP key pair is made on the first visit
    async def page(self, request: Request) -> Template:
        return await self._render(request)

    @post("/")
    async def save(self, request: Request) -> Response:
        form = await request.form()
        try:
            change = change_from_form(form)
            await sso_settings_service(request).update(change)
        except DomainError as error:
            return await self._render(request, error=error.message, status_code=error.status_code)
        return Redirect(path="/settings/sso")

    @post("/metadata", request_max_body_size=UPLOAD_LIMIT + 65536)
    async def upload_metadata(self, request: Request) -> Response:
        form = await request.form()
        upload = form.get("metadata_file")
        xml = str(form.get("metadata", ""))
        if upload is not None and hasattr(upload, "read"):
            raw = await upload.read()
            xml = raw.decode("utf-8", "replace") if raw else xml
        try:
            await sso_settings_service(request).import_idp_metadata(xml)
        except DomainError as error:
            return await self._render(request, error=error.message, status_code=error.status_code)
        return Redirect(path="/settings/sso")

    @post("/sp-certificate")
    async def rotate_sp_certificate(self, request: Request) -> Response:
        await sso_settings_service(request).rotate_sp_certificate(f"{current_tenant().slug} SAML SP")
        return Redirect(path="/settings/sso")

    @post("/test")
    async def test_connection(self, request: Request) -> Response:
        """Send the admin through the IdP; the ACS then shows what came back and why it was
        accepted or refused, without signing anyone in."""
        nonce = new_browser_nonce(request)
        try:
            url = await sso_login_service(request).begin(
                sp_endpoints(request), safe_next("/settings/sso"), purpose="test", browser=nonce
            )
        except DomainError as error:
            return await self._render(request, error=error.message, status_code=error.status_code)
        return with_browser_binding(request, Redirect(path=url), nonce)

    @post("/scim-tokens")
    async def create_scim_token(self, request: Request) -> Template:
        _, token = await scim_token_service(request).create(principal_of(request))
        return await self._render(request, new_scim_token=token)

    @post("/scim-tokens/{token_id:uuid}/revoke")
    async def revoke_scim_token(self, request: Request, token_id: uuid.UUID) -> Response:
        await scim_token_service(request).revoke(token_id)
        return Redirect(path="/settings/sso")


def change_from_form(form) -> SsoSettingsChange:
    """The settings form as a change. Checkboxes absent from a submitted form are off."""

    def text(name: str, limit: int = 2048) -> str:
        return str(form.get(name, ""))[:limit].strip()

    certificates = [c for c in (text("idp_certificate", 20000), text("idp_certificate_next", 20000)) if c]
    group_roles: dict[str, str] = {}
    for number, line in enumerate(text("group_roles", 20000).splitlines(), start=1):
        if not line.strip():
            continue
        group, separator, role = line.rpartition("=")
        if not separator or not group.strip():
            raise SsoSettingsInvalid(f"Line {number} of the group roles is not 'group = role'.",
                                     details={"field": "group_roles"})
        group_roles[group.strip()] = role.strip()
    try:
        lifetime = int(text("session_lifetime_minutes", 10) or "480")
    except ValueError:
        raise SsoSettingsInvalid("The session lifetime is a number of minutes.",
                                 details={"field": "session_lifetime_minutes"}) from None
    break_glass = text("break_glass_user", 64)
    try:
        break_glass_user = uuid.UUID(break_glass) if break_glass else None
    except ValueError:
        raise SsoSettingsInvalid("Choose a break-glass owner from the list.",
                                 details={"field": "break_glass_user"}) from None
    return SsoSettingsChange(
        enabled=form.get("enabled") == "on",
        idp_entity_id=text("idp_entity_id", 1024),
        idp_sso_url=text("idp_sso_url"),
        idp_slo_url=text("idp_slo_url"),
        idp_certificates=certificates or None,
        accept_signed_response_only=form.get("accept_signed_response_only") == "on",
        allow_idp_initiated=form.get("allow_idp_initiated") == "on",
        sso_required=form.get("sso_required") == "on",
        break_glass_user=break_glass_user,
        session_lifetime_minutes=lifetime,
        jit_provisioning=form.get("jit_provisioning") == "on",
        default_role=text("default_role", 20) or "member",
        attribute_map={f: text(f"attr_{f}", 300) for f in MAPPED_FIELDS},
        groups_attribute=text("groups_attribute", 200),
        group_roles=group_roles,
    )
