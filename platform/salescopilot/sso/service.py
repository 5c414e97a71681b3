"""A tenant's SSO settings: the connection to its IdP (by metadata upload or by fields, with two
signing certificates during a rollover), the service provider's key pair, the rules (SSO
required with a break-glass owner, IdP-initiated login, JIT, roles from groups, session
lifetime). Every change is audited."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

from salescopilot.accounts.permissions import ROLES
from salescopilot.accounts.repository import UserRepository
from salescopilot.accounts.team import TeamService
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.crypto import SecretBox, SecretDecryptionFailed
from salescopilot.db.json_column import json_dict
from salescopilot.sso import keys, saml
from salescopilot.sso.errors import SsoNotConfigured, SsoRequired, SsoSettingsInvalid
from salescopilot.sso.repository import SsoConnectionRepository
from salescopilot.sso.tables import SsoConnection
from salescopilot.tenancy.context import keep_writes_on_error

#: Attribute names tried when the tenant maps none (common IdP defaults: plain names, the
#: Microsoft claim URIs, the LDAP OIDs).
DEFAULT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "email": (
        "email", "mail", "emailAddress", "Email",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "urn:oid:0.9.2342.19200300.100.1.3",
    ),
    "first_name": (
        "firstName", "givenName", "first_name",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", "urn:oid:2.5.4.42",
    ),
    "last_name": (
        "lastName", "surname", "sn", "last_name",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", "urn:oid:2.5.4.4",
    ),
    "display_name": (
        "displayName", "name", "http://schemas.microsoft.com/identity/claims/displayname",
        "urn:oid:2.16.840.1.113730.3.1.241",
    ),
}
MAPPED_FIELDS = tuple(DEFAULT_ATTRIBUTES)
MAX_CERTIFICATES = 2
MAX_GROUP_ROLES = 200
SETTINGS_FIELDS = (
    "enabled", "idp_entity_id", "idp_sso_url", "idp_slo_url", "accept_signed_response_only",
    "allow_idp_initiated", "sso_required", "break_glass_user", "session_lifetime_minutes",
    "jit_provisioning", "default_role", "attribute_map", "groups_attribute", "group_roles",
)


@dataclass(slots=True)
class SsoSettingsChange:
    """The settings form or API body; None leaves a field as it is."""

    enabled: bool | None = None
    idp_entity_id: str | None = None
    idp_sso_url: str | None = None
    idp_slo_url: str | None = None
    #: Replaces the IdP certificates (one, or two during a rollover).
    idp_certificates: list[str] | None = None
    accept_signed_response_only: bool | None = None
    allow_idp_initiated: bool | None = None
    sso_required: bool | None = None
    break_glass_user: uuid.UUID | None = None
    session_lifetime_minutes: int | None = None
    jit_provisioning: bool | None = None
    default_role: str | None = None
    attribute_map: dict[str, str] | None = None
    groups_attribute: str | None = None
    group_roles: dict[str, str] | None = None


class SsoSettingsService:
    def __init__(self, *, clock: Clock, secret_box: SecretBox) -> None:
        self.clock = clock
        self.secret_box = secret_box
        self.connections = SsoConnectionRepository()
        self.audit = AuditService(clock)

    async def connection(self) -> SsoConnection | None:
        return await self.connections.current()

    async def require_connection(self) -> SsoConnection:
        connection = await self.connections.current()
        if connection is None:
            raise SsoNotConfigured()
        return connection

    async def ensure_connection(self, common_name: str) -> SsoConnection:
        """The tenant's connection, made (disabled, with a new SP key pair) on first use."""
        connection = await self.connections.current()
        if connection is not None:
            return connection
        certificate, private_key = keys.new_sp_key_pair(common_name, self.clock.now())
        connection = SsoConnection(
            sp_certificate=certificate,
            sp_private_key=self.secret_box.encrypt(private_key),
            created_at=self.clock.now(),
            updated_at=self.clock.now(),
        )
        await self.connections.add(connection)
        await self.audit.record(
            "sso.connection_created", target_type="sso_connection", target_id=str(connection.id),
            after={"sp_certificate": keys.certificate_summary(certificate)["sha256"]},
        )
        return connection

    def idp_config(self, connection: SsoConnection) -> saml.IdpConfig:
        certificates = connection.idp_certificates
        if isinstance(certificates, str):
            certificates = json.loads(certificates or "[]")
        try:
            private_key = self.secret_box.decrypt(connection.sp_private_key) if connection.sp_private_key else ""
            keys.certificate_summary(connection.sp_certificate)
        except (SecretDecryptionFailed, ValueError):
            # Restored from another installation, or keys rotated away: a new pair fixes it.
            raise SsoSettingsInvalid(
                "The stored SP key pair cannot be read: make a new signing certificate.",
                details={"field": "sp_certificate"},
            ) from None
        return saml.IdpConfig(
            entity_id=connection.idp_entity_id,
            sso_url=connection.idp_sso_url,
            slo_url=connection.idp_slo_url,
            certificates=tuple(certificates),
            sp_certificate=connection.sp_certificate,
            sp_private_key=private_key,
            accept_signed_response_only=connection.accept_signed_response_only,
        )

    def idp_certificates(self, connection: SsoConnection) -> list[str]:
        return _certificates(connection)

    async def update(self, change: SsoSettingsChange) -> SsoConnection:
        """Apply a validated change; nothing is saved when any field is refused."""
        connection = await self.require_connection()
        before = self.public_settings(connection)
        for name in SETTINGS_FIELDS:
            value = getattr(change, name)
            if value is not None:
                setattr(connection, name, _checked(name, value))
        if change.idp_certificates is not None:
            connection.idp_certificates = json.dumps(_checked_certificates(change.idp_certificates))
        await self._check_rules(connection)
        connection.updated_at = self.clock.now()
        await self.connections.save(connection)
        after = self.public_settings(connection)
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        if changed:
            await self.audit.record(
                "sso.settings_changed", target_type="sso_connection", target_id=str(connection.id),
                before={k: before.get(k) for k in changed}, after=changed,
            )
        return connection

    async def import_idp_metadata(self, xml: str) -> SsoConnection:
        """Take the entity ID, SSO/SLO URLs and signing certificates from IdP metadata XML."""
        if not xml.strip() or len(xml) > 1_000_000:
            raise SsoSettingsInvalid("Upload the IdP's metadata XML (at most 1 MB).", details={"field": "metadata"})
        try:
            saml.check_xml_is_safe(xml)
            parsed = OneLogin_Saml2_IdPMetadataParser.parse(xml)
        except saml.SamlRefused as error:
            raise SsoSettingsInvalid(error.detail, details={"field": "metadata"}) from None
        except Exception as error:  # noqa: BLE001 - the parser raises several types
            raise SsoSettingsInvalid(f"The metadata cannot be read: {str(error)[:300]}",
                                     details={"field": "metadata"}) from None
        idp = parsed.get("idp") or {}
        multi = (idp.get("x509certMulti") or {}).get("signing") or []
        certificates = multi or ([idp["x509cert"]] if idp.get("x509cert") else [])
        sso_url = (idp.get("singleSignOnService") or {}).get("url", "")
        if not idp.get("entityId") or not sso_url or not certificates:
            raise SsoSettingsInvalid(
                "The metadata must name the IdP's entity ID, an HTTP-Redirect SSO URL and a signing certificate.",
                details={"field": "metadata"},
            )
        return await self.update(SsoSettingsChange(
            idp_entity_id=idp["entityId"],
            idp_sso_url=sso_url,
            idp_slo_url=(idp.get("singleLogoutService") or {}).get("url", ""),
            idp_certificates=certificates[-MAX_CERTIFICATES:],
        ))

    async def rotate_sp_certificate(self, common_name: str) -> SsoConnection:
        connection = await self.require_connection()
        before = _summary_or_error(connection.sp_certificate).get("sha256")
        certificate, private_key = keys.new_sp_key_pair(common_name, self.clock.now())
        connection.sp_certificate = certificate
        connection.sp_private_key = self.secret_box.encrypt(private_key)
        connection.updated_at = self.clock.now()
        await self.connections.save(connection)
        await self.audit.record(
            "sso.sp_certificate_rotated", target_type="sso_connection", target_id=str(connection.id),
            before={"sha256": before}, after={"sha256": keys.certificate_summary(certificate)["sha256"]},
        )
        return connection

    async def check_password_sign_in(self, email: str) -> None:
        """Raise `SsoRequired` when the tenant requires SSO and `email` is not its break-glass
        owner. Decided before the password is looked at, so the answer tells nothing about it."""
        connection = await self.connections.current()
        if connection is None or not (connection.enabled and connection.sso_required):
            return
        user = await UserRepository().by_email(email) if connection.break_glass_user else None
        if user is not None and user.id == connection.break_glass_user:
            return
        await self.audit.record(
            "sso.password_sign_in_refused", target_type="user", target_id=email.strip().lower()[:320],
            after={"reason": "sso_required"},
        )
        keep_writes_on_error()
        raise SsoRequired()

    def public_settings(self, connection: SsoConnection) -> dict[str, Any]:
        """The settings as the page and the API show them (never the SP private key)."""
        certificates = connection.idp_certificates
        if isinstance(certificates, str):
            certificates = json.loads(certificates or "[]")
        result = {name: getattr(connection, name) for name in SETTINGS_FIELDS}
        result["break_glass_user"] = str(connection.break_glass_user) if connection.break_glass_user else None
        result["attribute_map"] = json_dict(connection.attribute_map)
        result["group_roles"] = json_dict(connection.group_roles)
        result["idp_certificates"] = [_summary_or_error(c) for c in certificates]
        result["sp_certificate"] = _summary_or_error(connection.sp_certificate)
        return result

    async def _check_rules(self, connection: SsoConnection) -> None:
        if connection.enabled and not (
            connection.idp_entity_id and connection.idp_sso_url and _certificates(connection)
        ):
            raise SsoSettingsInvalid(
                "Set the IdP's entity ID, SSO URL and certificate before turning SSO on.",
                details={"field": "enabled"},
            )
        if connection.sso_required:
            if connection.break_glass_user is None:
                raise SsoSettingsInvalid(
                    "Choose a break-glass owner who may still sign in with a password.",
                    details={"field": "break_glass_user"},
                )
            membership = await TeamService(clock=self.clock).membership_of(connection.break_glass_user)
            if membership is None or membership.role != "owner":
                raise SsoSettingsInvalid(
                    "The break-glass account must be an owner of this organisation.",
                    details={"field": "break_glass_user"},
                )


def _certificates(connection: SsoConnection) -> list[str]:
    value = connection.idp_certificates
    return json.loads(value or "[]") if isinstance(value, str) else list(value or [])


def _summary_or_error(pem: str) -> dict[str, str]:
    try:
        return keys.certificate_summary(pem)
    except ValueError:
        return {"error": "not a certificate"}


def _checked_certificates(certificates: list[str]) -> list[str]:
    cleaned = [c for c in certificates if c and c.strip()]
    if not 1 <= len(cleaned) <= MAX_CERTIFICATES:
        raise SsoSettingsInvalid(
            "Give one IdP signing certificate, or two while the IdP rolls its key over.",
            details={"field": "idp_certificates"},
        )
    try:
        return [keys.normalise_certificate(c) for c in cleaned]
    except ValueError:
        raise SsoSettingsInvalid("That is not an X.509 certificate.", details={"field": "idp_certificates"}) from None


def _checked(name: str, value: Any) -> Any:
    """One settings field, validated; raises `SsoSettingsInvalid` naming the field."""

    def refuse(message: str) -> SsoSettingsInvalid:
        return SsoSettingsInvalid(message, details={"field": name})

    if name in ("idp_sso_url", "idp_slo_url"):
        value = str(value).strip()
        if value and (urlsplit(value).scheme not in ("https", "http") or not urlsplit(value).netloc or len(value) > 2048):
            raise refuse("Give an http(s) URL.")
        return value
    if name == "idp_entity_id":
        value = str(value).strip()
        if len(value) > 1024:
            raise refuse("The entity ID is too long.")
        return value
    if name == "session_lifetime_minutes":
        if not 5 <= int(value) <= 30 * 24 * 60:
            raise refuse("Session lifetime is 5 minutes to 30 days.")
        return int(value)
    if name == "default_role":
        if value not in ROLES or value == "owner":
            raise refuse("The default role is admin, member or viewer.")
        return value
    if name == "attribute_map":
        unknown = set(value) - set(MAPPED_FIELDS)
        if unknown or any(not isinstance(v, str) or len(v) > 300 for v in value.values()):
            raise refuse(f"Map only {', '.join(MAPPED_FIELDS)} to attribute names.")
        return json.dumps({k: v.strip() for k, v in value.items() if v.strip()})
    if name == "group_roles":
        if len(value) > MAX_GROUP_ROLES or any(r not in ROLES for r in value.values()):
            raise refuse(f"Map groups to one of: {', '.join(ROLES)}.")
        if any(not k.strip() or len(k) > 256 for k in value):
            raise refuse("Group names are 1 to 256 characters.")
        return json.dumps({k.strip(): v for k, v in value.items()})
    if name == "groups_attribute":
        value = str(value).strip()
        if len(value) > 200:
            raise refuse("The groups attribute name is too long.")
        return value
    if name == "break_glass_user":
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return bool(value)


def role_rank(role: str) -> int:
    """owner 3, admin 2, member 1, viewer 0."""
    return len(ROLES) - 1 - ROLES.index(role)
