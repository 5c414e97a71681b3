"""Signing in through the tenant's IdP: the AuthnRequest, the Response's checks (python3-saml's
plus ours: pending request, IdP-initiated policy, replay), then who the user is (NameID link,
email, just-in-time provisioning) and their role from the groups attribute. Every outcome,
accepted or refused, is audited."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

from salescopilot.accounts.errors import LastOwner
from salescopilot.accounts.repository import UserRepository
from salescopilot.accounts.service import AccountService, is_plausible_email, normalise_email
from salescopilot.accounts.tables import User
from salescopilot.accounts.team import TeamService
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.crypto import constant_time_equals
from salescopilot.db.json_column import json_dict
from salescopilot.scim.repository import ScimUserRepository
from salescopilot.sso import saml
from salescopilot.sso.errors import SsoNotConfigured
from salescopilot.sso.repository import SsoIdentityRepository
from salescopilot.sso.service import DEFAULT_ATTRIBUTES, SsoSettingsService, role_rank
from salescopilot.sso.state import PendingLogin, SamlState
from salescopilot.sso.tables import SsoConnection, SsoIdentity
from salescopilot.tenancy.context import current_tenant_id, keep_writes_on_error


@dataclass(slots=True)
class MappedUser:
    """What the assertion says about the user, through the tenant's attribute mapping."""

    email: str
    name: str
    groups: list[str]
    role: str | None


@dataclass(slots=True)
class SsoOutcome:
    """The result of one Response: accepted (with a user, unless a test) or refused (reason)."""

    accepted: bool
    purpose: str  # "login", "test" or "idp_initiated"
    next_path: str = "/"
    reason: str = ""
    detail: str = ""
    assertion: saml.Assertion | None = None
    mapped: MappedUser | None = None
    user: User | None = None
    session_lifetime: int = 0
    notes: list[str] = field(default_factory=list)


class SsoLoginService:
    def __init__(self, *, settings: SsoSettingsService, accounts: AccountService, state: SamlState, clock: Clock) -> None:
        self.settings = settings
        self.accounts = accounts
        self.state = state
        self.clock = clock
        self.identities = SsoIdentityRepository()
        self.users = UserRepository()
        self.team = TeamService(clock=clock)
        self.audit = AuditService(clock)

    async def begin(self, sp: saml.SpEndpoints, next_path: str, *, purpose: str = "login", browser: str = "") -> str:
        """The IdP URL to send the browser to. A test may run while SSO is still off.
        `browser`: the nonce of the browser's SAML cookie, when the caller set one."""
        connection = await self.settings.connection()
        if connection is None or not connection.idp_sso_url or (purpose == "login" and not connection.enabled):
            raise SsoNotConfigured()
        url, request_id = saml.authn_request_url(sp, self.settings.idp_config(connection), next_path)
        await self.state.begin_login(current_tenant_id(), request_id, next_path, purpose, browser)
        await self.audit.record(
            "sso.login_started", target_type="sso_connection", target_id=str(connection.id),
            after={"request_id": request_id, "purpose": purpose},
        )
        return url

    async def finish(
        self, sp: saml.SpEndpoints, saml_response: str, relay_state: str | None, *, browser: str | None = None
    ) -> SsoOutcome:
        """Check a Response posted to the ACS. Refusals are audited and returned (not raised),
        so the caller can show a test's details or a refusal page."""
        connection = await self.settings.connection()
        if connection is None or not connection.idp_entity_id:
            return await self._refused(SsoOutcome(False, "login"), "not_configured", "SSO is not set up.")
        try:
            in_response_to = saml.peek_in_response_to(saml_response)
        except saml.SamlRefused as refusal:
            return await self._refused(SsoOutcome(False, "login"), refusal.reason, refusal.detail)
        pending: PendingLogin | None = None
        if in_response_to is not None:
            pending = await self.state.take_login(current_tenant_id(), in_response_to)
        outcome = SsoOutcome(False, pending.purpose if pending else "idp_initiated" if in_response_to is None else "login")
        if pending is not None:
            outcome.next_path = pending.next_path
        if in_response_to is not None and pending is None:
            return await self._refused(outcome, "wrong_in_response_to",
                                       "InResponseTo names no pending request of this organisation (unknown, expired or used).")
        if pending is not None and pending.browser and not constant_time_equals(pending.browser, browser or ""):
            return await self._refused(outcome, "other_browser",
                                       "The answer did not come back through the browser that started the sign-in.")
        if outcome.purpose != "test" and not connection.enabled:
            return await self._refused(outcome, "disabled", "SSO is turned off for this organisation.")
        if in_response_to is None and not connection.allow_idp_initiated:
            return await self._refused(outcome, "idp_initiated_refused",
                                       "IdP-initiated sign-in is off: start from the sign-in page.")
        try:
            assertion = saml.validate_response(
                sp, self.settings.idp_config(connection), saml_response,
                expected_request_id=pending.request_id if pending else None,
            )
        except saml.SamlRefused as refusal:
            return await self._refused(outcome, refusal.reason, refusal.detail)
        outcome.assertion = assertion
        ttl = int((assertion.not_on_or_after - self.clock.now()).total_seconds()) if assertion.not_on_or_after else 0
        if not await self.state.first_use_of_assertion(current_tenant_id(), assertion.assertion_id, ttl):
            return await self._refused(outcome, "replayed", "This assertion was used already.")
        if in_response_to is None:
            # The IdP's (or an attacker's) choice: the controller keeps it to our own paths.
            outcome.next_path = relay_state or "/"
        outcome.mapped = map_assertion(connection, assertion)
        if outcome.purpose == "test":
            outcome.accepted = True
            await self.audit.record(
                "sso.test_succeeded", target_type="sso_connection", target_id=str(connection.id),
                after={"name_id": assertion.name_id, "email": outcome.mapped.email, "role": outcome.mapped.role},
            )
            return outcome
        return await self._sign_in(connection, outcome)

    async def _sign_in(self, connection: SsoConnection, outcome: SsoOutcome) -> SsoOutcome:
        assertion, mapped = outcome.assertion, outcome.mapped
        identity = await self.identities.by_name_id(assertion.name_id)
        user = await self.users.by_id(identity.user) if identity else None
        if user is None and mapped.email:
            user = await self.users.by_email(mapped.email)
        if user is not None and not user.is_active:
            return await self._refused(outcome, "inactive", "This account is deactivated.")
        provisioned = await ScimUserRepository().of_user(user.id) if user else None
        if provisioned is not None and not provisioned.active:
            # Deprovisioned over SCIM: just-in-time provisioning must not bring them back.
            return await self._refused(outcome, "deprovisioned", "This account was deactivated by SCIM provisioning.")
        membership = await self.team.membership_of(user.id) if user else None
        if membership is None:
            if not connection.jit_provisioning:
                return await self._refused(outcome, "not_provisioned",
                                           "No member of this organisation matches, and just-in-time provisioning is off.")
            if not mapped.email:
                return await self._refused(outcome, "no_email", "The assertion carries no email address.")
            if user is None:
                user = await self.accounts.create_user(mapped.email, mapped.name, None)
            role = mapped.role or connection.default_role
            await self.team.add_member(user, role, audit_action="sso.jit_provisioned")
            outcome.notes.append(f"provisioned with role {role}")
        elif mapped.role and user.id != connection.break_glass_user and mapped.role != membership.role:
            try:
                await self.team.set_role_from_provisioning(user.id, mapped.role, source="sso_groups")
                outcome.notes.append(f"role {membership.role} -> {mapped.role}")
            except LastOwner:
                outcome.notes.append("kept the last owner's role")
        if identity is None:
            identity = SsoIdentity(user=user.id, name_id=assertion.name_id, created_at=self.clock.now())
            await self.identities.add(identity)
        identity.last_sign_in_at = self.clock.now()
        await self.identities.save(identity)
        if not user.name and mapped.name:
            user.name = mapped.name[:200]
        await self.accounts.complete_sign_in(user, method="saml")
        await self.audit.record(
            "sso.login_succeeded", target_type="user", target_id=str(user.id),
            after={"name_id": assertion.name_id, "session_index": assertion.session_index,
                   "assertion_id": assertion.assertion_id, "via": outcome.purpose, "notes": outcome.notes},
        )
        outcome.accepted = True
        outcome.user = user
        outcome.session_lifetime = connection.session_lifetime_minutes * 60
        return outcome

    async def _refused(self, outcome: SsoOutcome, reason: str, detail: str) -> SsoOutcome:
        outcome.accepted = False
        outcome.reason = reason
        outcome.detail = detail
        await self.audit.record(
            "sso.login_refused", target_type="sso_connection", target_id=str(current_tenant_id()),
            after={"reason": reason, "detail": detail[:500], "via": outcome.purpose},
        )
        keep_writes_on_error()
        return outcome

    # -- single logout ------------------------------------------------------------------------

    async def begin_logout(self, sp: saml.SpEndpoints, sso: dict) -> str | None:
        """Our signed LogoutRequest for a SAML session that just ended, as a redirect URL to the
        IdP; None when the IdP has no single logout service."""
        connection = await self.settings.connection()
        if connection is None or not connection.enabled or not connection.idp_slo_url:
            return None
        relay = secrets.token_urlsafe(24)
        url, request_id = saml.logout_request_url(
            sp, self.settings.idp_config(connection), sso.get("name_id", ""),
            sso.get("name_id_format") or saml.NAMEID_UNSPECIFIED, sso.get("session_index"), relay,
        )
        await self.state.remember_logout(current_tenant_id(), relay, request_id)
        await self.audit.record(
            "sso.logout_started", target_type="sso_connection", target_id=str(connection.id),
            after={"name_id": sso.get("name_id"), "request_id": request_id},
        )
        return url

    async def finish_logout(self, sp: saml.SpEndpoints, query: dict[str, str]) -> None:
        """Accept the IdP's LogoutResponse to a LogoutRequest of ours (else `SamlRefused`)."""
        connection = await self._connection_for_logout()
        request_id = await self.state.take_logout(current_tenant_id(), query.get("RelayState"))
        if request_id is None:
            raise saml.SamlRefused("wrong_in_response_to", "This LogoutResponse answers no request of ours.")
        saml.read_logout_response(sp, self.settings.idp_config(connection), query, request_id)
        await self.audit.record(
            "sso.logout_completed", target_type="sso_connection", target_id=str(connection.id),
            after={"request_id": request_id},
        )

    async def answer_idp_logout(self, sp: saml.SpEndpoints, query: dict[str, str]) -> tuple[uuid.UUID | None, str]:
        """(the user the IdP logged out, or None if unknown here; the URL of our answer)."""
        connection = await self._connection_for_logout()
        idp = self.settings.idp_config(connection)
        request = saml.read_logout_request(sp, idp, query)
        identity = await self.identities.by_name_id(request.name_id)
        await self.audit.record(
            "sso.idp_logout", target_type="user",
            target_id=str(identity.user) if identity else request.name_id[:200],
            after={"name_id": request.name_id, "known": identity is not None},
        )
        url = saml.logout_response_url(sp, idp, request.request_id, query.get("RelayState"))
        return (identity.user if identity else None), url

    async def record_logout_refused(self, refusal: saml.SamlRefused) -> None:
        await self.audit.record(
            "sso.logout_refused", target_type="sso_connection", target_id=str(current_tenant_id()),
            after={"reason": refusal.reason, "detail": refusal.detail[:500]},
        )

    async def _connection_for_logout(self) -> SsoConnection:
        connection = await self.settings.connection()
        if connection is None or not connection.enabled or not connection.idp_slo_url:
            raise saml.SamlRefused("not_configured", "Single logout is not set up.")
        return connection


def map_assertion(connection: SsoConnection, assertion: saml.Assertion) -> MappedUser:
    """Email, name, groups and role from the assertion through the tenant's mapping."""
    mapping = json_dict(connection.attribute_map)

    def first(field_name: str) -> str:
        names = [mapping[field_name]] if mapping.get(field_name) else list(DEFAULT_ATTRIBUTES[field_name])
        for name in names:
            values = assertion.attributes.get(name) or []
            if values and values[0].strip():
                return values[0].strip()
        return ""

    email = first("email") or assertion.name_id
    email = normalise_email(email) if is_plausible_email(email) else ""
    name = first("display_name") or " ".join(p for p in (first("first_name"), first("last_name")) if p)
    groups = (
        [g.strip() for g in assertion.attributes.get(connection.groups_attribute, []) if g.strip()]
        if connection.groups_attribute else []
    )
    group_roles = json_dict(connection.group_roles)
    roles = [group_roles[g] for g in groups if g in group_roles]
    role = max(roles, key=role_rank) if roles else None
    if role is None and connection.groups_attribute and group_roles:
        # Roles come from groups: a user in no mapped group gets the default role.
        role = connection.default_role
    return MappedUser(email=email, name=name[:200], groups=groups, role=role)


