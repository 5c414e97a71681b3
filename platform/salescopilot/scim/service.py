"""SCIM users of the current tenant as the IdP manages them (groups: `scim.groups`).

A SCIM user is a global `User` plus this tenant's `ScimUser` record. Active means a member;
deactivating (PATCH active=false, PUT, or DELETE) removes the membership, ends the user's
sessions in this tenant and revokes the API keys they created here."""

from __future__ import annotations

import json
from typing import Any

from salescopilot.accounts.api_keys import ApiKeyService
from salescopilot.accounts.repository import UserRepository
from salescopilot.accounts.service import AccountService, is_plausible_email, normalise_email
from salescopilot.accounts.sessions import SessionManager
from salescopilot.accounts.tables import User
from salescopilot.accounts.team import TeamService
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.db.json_column import json_dict
from salescopilot.scim import protocol as p
from salescopilot.scim.groups import default_role
from salescopilot.scim.repository import ScimGroupMemberRepository, ScimUserRepository
from salescopilot.scim.tables import ScimUser
from salescopilot.tenancy.context import current_tenant_id

#: Attributes kept in the resource itself, not in `ScimUser.attributes`. A password is never kept.
_OWN_USER_FIELDS = {"id", "schemas", "meta", "username", "externalid", "active", "password", "groups"}


class ScimService:
    def __init__(self, *, clock: Clock, sessions: SessionManager, api_keys: ApiKeyService,
                 accounts: AccountService) -> None:
        self.clock = clock
        self.sessions = sessions
        self.api_keys = api_keys
        self.accounts = accounts
        self.scim_users = ScimUserRepository()
        self.members = ScimGroupMemberRepository()
        self.users = UserRepository()
        self.team = TeamService(clock=clock)
        self.audit = AuditService(clock)

    # -- users ---------------------------------------------------------------------------------

    async def list_users(self, filter_text: str | None, start_index: int | None, count: int | None, base: str) -> dict:
        start, offset, limit = p.paging(start_index, count)
        criteria: dict[str, Any] = {}
        for clause in p.parse_filter(filter_text):
            if clause.attribute == "username":
                criteria["user_name"] = str(clause.value or "")
            elif clause.attribute == "externalid":
                criteria["external_id"] = str(clause.value or "")
            elif clause.attribute in ("id", "emails.value", "emails"):
                found = await self._user_by_id_or_email(clause.attribute, str(clause.value or ""))
                if found is None:
                    return p.list_response([], 0, start)
                criteria["user_name"] = found.user_name
            else:
                raise p.invalid(f"Users cannot be filtered by {clause.attribute}.", "invalidFilter")
        rows, total = await self.scim_users.page(offset, limit, **criteria)
        users = await self.users.by_ids([r.user for r in rows])
        return p.list_response([self._user_json(r, users.get(r.user), base) for r in rows], total, start)

    async def get_user(self, user_id: str, base: str) -> dict:
        scim_user, user = await self._load_user(user_id)
        return self._user_json(scim_user, user, base)

    async def create_user(self, body: Any, base: str) -> dict:
        fields = self._user_fields(body)
        if await self.scim_users.by_user_name(fields["user_name"]) is not None:
            raise p.ScimError(409, "A user with that userName exists.", "uniqueness")
        user = await self.users.by_email(fields["email"])
        if user is None:
            user = await self.accounts.create_user(fields["email"], fields["name"], None)
        elif await self.scim_users.of_user(user.id) is not None:
            raise p.ScimError(409, "That user is provisioned already.", "uniqueness")
        scim_user = ScimUser(
            user=user.id, user_name=fields["user_name"], user_name_key=fields["user_name"].lower(),
            external_id=fields["external_id"], active=fields["active"], role=await default_role(),
            attributes=json.dumps(fields["attributes"]), created_at=self.clock.now(), updated_at=self.clock.now(),
        )
        membership = await self.team.membership_of(user.id)
        if membership is not None:
            scim_user.role = membership.role
        await self.scim_users.add(scim_user)
        await self.audit.record("scim.user_created", target_type="user", target_id=str(user.id),
                                after={"userName": scim_user.user_name, "active": scim_user.active})
        if scim_user.active:
            await self._activate(scim_user, user)
        else:
            await self._deactivate(scim_user, user)
        return self._user_json(scim_user, user, base)

    async def replace_user(self, user_id: str, body: Any, base: str) -> dict:
        scim_user, user = await self._load_user(user_id)
        fields = self._user_fields(body)
        return await self._store_user(scim_user, user, fields, base)

    async def patch_user(self, user_id: str, body: Any, base: str) -> dict:
        scim_user, user = await self._load_user(user_id)
        operations = p.patch_operations(body)
        patched = p.apply_patch(self._user_json(scim_user, user, base), operations)
        return await self._store_user(scim_user, user, self._user_fields(patched), base)

    async def delete_user(self, user_id: str) -> None:
        scim_user, user = await self._load_user(user_id)
        await self._deactivate(scim_user, user)
        await self.members.remove_user(user.id)
        await self.scim_users.delete_where(ScimUser.id == scim_user.id)
        await self.audit.record("scim.user_deleted", target_type="user", target_id=str(user.id),
                                before={"userName": scim_user.user_name})

    async def _store_user(self, scim_user: ScimUser, user: User, fields: dict, base: str) -> dict:
        if fields["user_name"].lower() != scim_user.user_name_key:
            other = await self.scim_users.by_user_name(fields["user_name"])
            if other is not None and other.id != scim_user.id:
                raise p.ScimError(409, "A user with that userName exists.", "uniqueness")
        before = {"userName": scim_user.user_name, "active": scim_user.active, "externalId": scim_user.external_id}
        was_active = scim_user.active
        scim_user.user_name = fields["user_name"]
        scim_user.user_name_key = fields["user_name"].lower()
        scim_user.external_id = fields["external_id"]
        scim_user.attributes = json.dumps(fields["attributes"])
        scim_user.active = fields["active"]
        scim_user.updated_at = self.clock.now()
        await self.scim_users.save(scim_user)
        after = {"userName": scim_user.user_name, "active": scim_user.active, "externalId": scim_user.external_id}
        if after != before:
            await self.audit.record("scim.user_updated", target_type="user", target_id=str(user.id),
                                    before=before, after=after)
        if was_active and not scim_user.active:
            await self._deactivate(scim_user, user)
        elif scim_user.active and not was_active:
            await self._activate(scim_user, user)
        return self._user_json(scim_user, user, base)

    async def _activate(self, scim_user: ScimUser, user: User) -> None:
        if await self.team.membership_of(user.id) is None:
            await self.team.add_member(user, scim_user.role, audit_action="scim.user_activated")

    async def _deactivate(self, scim_user: ScimUser, user: User) -> None:
        """No membership, no session in this tenant, no API key they made here."""
        membership = await self.team.remove_by_provisioning(user.id, source="scim")
        if membership is not None:
            scim_user.role = membership.role
            await self.scim_users.save(scim_user)
        ended = await self.sessions.end_all_for_user(user.id, current_tenant_id())
        revoked = await self.api_keys.revoke_all_of_user(user.id)
        await self.audit.record(
            "scim.user_deactivated", target_type="user", target_id=str(user.id),
            after={"membership_removed": membership is not None, "sessions_ended": ended,
                   "api_keys_revoked": revoked},
        )

    def _user_fields(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise p.invalid("The body is a SCIM User object.", "invalidSyntax")
        user_name = body.get(next((k for k in body if k.lower() == "username"), "userName"))
        if not isinstance(user_name, str) or not 1 <= len(user_name.strip()) <= 320:
            raise p.invalid("userName is required (at most 320 characters).")
        external_id = body.get(next((k for k in body if k.lower() == "externalid"), "externalId")) or ""
        active_key = next((k for k in body if k.lower() == "active"), None)
        active = p.as_bool(body[active_key]) if active_key is not None else True
        attributes = {k: v for k, v in body.items() if k.lower() not in _OWN_USER_FIELDS}
        email = _primary_email(attributes) or user_name.strip()
        if not is_plausible_email(email):
            raise p.invalid("The user needs an email address (emails, or a userName that is one).")
        name = attributes.get("displayName") or " ".join(
            str(part) for part in (
                (attributes.get("name") or {}).get("givenName"), (attributes.get("name") or {}).get("familyName")
            ) if part
        )
        return {
            "user_name": user_name.strip(),
            "external_id": str(external_id)[:512],
            "active": active,
            "attributes": attributes,
            "email": normalise_email(email),
            "name": str(name)[:200],
        }

    def _user_json(self, scim_user: ScimUser, user: User | None, base: str) -> dict:
        attributes = json_dict(scim_user.attributes)
        resource: dict[str, Any] = {
            "schemas": [p.USER_SCHEMA] + ([p.ENTERPRISE_SCHEMA] if p.ENTERPRISE_SCHEMA in attributes else []),
            "id": str(scim_user.user),
            "userName": scim_user.user_name,
            "active": scim_user.active,
            **attributes,
        }
        if scim_user.external_id:
            resource["externalId"] = scim_user.external_id
        if "emails" not in resource and user is not None:
            resource["emails"] = [{"value": user.email, "type": "work", "primary": True}]
        if "displayName" not in resource and user is not None and user.name:
            resource["displayName"] = user.name
        resource["meta"] = p.meta("User", scim_user.created_at, scim_user.updated_at, f"{base}/Users/{scim_user.user}")
        return resource

    async def _load_user(self, user_id: str) -> tuple[ScimUser, User]:
        parsed = p.parse_id(user_id)
        scim_user = await self.scim_users.of_user(parsed) if parsed else None
        user = await self.users.by_id(parsed) if scim_user else None
        if scim_user is None or user is None:
            raise p.ScimError(404, "No such user.")
        return scim_user, user

    async def _user_by_id_or_email(self, attribute: str, value: str) -> ScimUser | None:
        if attribute == "id":
            parsed = p.parse_id(value)
            return await self.scim_users.of_user(parsed) if parsed else None
        user = await self.users.by_email(value) if is_plausible_email(value) else None
        return await self.scim_users.of_user(user.id) if user else None


def _primary_email(attributes: dict[str, Any]) -> str | None:
    emails = attributes.get("emails")
    if not isinstance(emails, list):
        return None
    values = [e for e in emails if isinstance(e, dict) and isinstance(e.get("value"), str)]
    primary = next((e for e in values if e.get("primary") in (True, "true", "True")), None)
    chosen = primary or next((e for e in values if e.get("type") == "work"), None) or (values[0] if values else None)
    return chosen["value"].strip() if chosen else None
