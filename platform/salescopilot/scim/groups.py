"""SCIM groups of the current tenant, and the roles they give: a group whose displayName the
SSO settings map to a role gives its members that role (the highest wins; members of no mapped
group get the default role; nothing changes while no group is mapped)."""

from __future__ import annotations

import uuid
from typing import Any

from salescopilot.accounts.errors import LastOwner
from salescopilot.accounts.team import TeamService
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.db.json_column import json_dict
from salescopilot.scim import protocol as p
from salescopilot.scim.repository import (
    ScimGroupMemberRepository,
    ScimGroupRepository,
    ScimUserRepository,
)
from salescopilot.scim.tables import ScimGroup, ScimGroupMember
from salescopilot.sso.repository import SsoConnectionRepository
from salescopilot.sso.service import role_rank


async def default_role() -> str:
    """The role of newly provisioned users: the SSO settings' default, else member."""
    connection = await SsoConnectionRepository().current()
    return connection.default_role if connection else "member"


class ScimGroupService:
    def __init__(self, *, clock: Clock) -> None:
        self.clock = clock
        self.scim_users = ScimUserRepository()
        self.groups = ScimGroupRepository()
        self.members = ScimGroupMemberRepository()
        self.team = TeamService(clock=clock)
        self.audit = AuditService(clock)

    # -- groups --------------------------------------------------------------------------------

    async def list_groups(self, filter_text: str | None, start_index: int | None, count: int | None,
                          base: str, *, with_members: bool) -> dict:
        start, offset, limit = p.paging(start_index, count)
        criteria: dict[str, Any] = {}
        ids: set[uuid.UUID] | None = None
        for clause in p.parse_filter(filter_text):
            if clause.attribute == "displayname":
                criteria["display_name"] = str(clause.value or "")
            elif clause.attribute == "externalid":
                criteria["external_id"] = str(clause.value or "")
            elif clause.attribute in ("id", "members", "members.value"):
                parsed = p.parse_id(str(clause.value or ""))
                found = set()
                if parsed is not None:
                    found = {parsed} if clause.attribute == "id" else set(await self.members.groups_of(parsed))
                ids = found if ids is None else ids & found
            else:
                raise p.invalid(f"Groups cannot be filtered by {clause.attribute}.", "invalidFilter")
        rows, total = await self.groups.page(offset, limit, ids=sorted(ids) if ids is not None else None, **criteria)
        return p.list_response([await self._group_json(g, base, with_members) for g in rows], total, start)

    async def get_group(self, group_id: str, base: str, *, with_members: bool = True) -> dict:
        return await self._group_json(await self._load_group(group_id), base, with_members)

    async def create_group(self, body: Any, base: str) -> dict:
        display_name, external_id, member_ids = self._group_fields(body)
        if await self.groups.by_display_name(display_name) is not None:
            raise p.ScimError(409, "A group with that displayName exists.", "uniqueness")
        group = ScimGroup(display_name=display_name, external_id=external_id,
                          created_at=self.clock.now(), updated_at=self.clock.now())
        await self.groups.add(group)
        await self.audit.record("scim.group_created", target_type="scim_group", target_id=str(group.id),
                                after={"displayName": display_name})
        await self._change_members(group, [("add", member_ids)])
        return await self._group_json(group, base, True)

    async def replace_group(self, group_id: str, body: Any, base: str) -> dict:
        group = await self._load_group(group_id)
        display_name, external_id, member_ids = self._group_fields(body)
        await self._rename(group, display_name, external_id)
        await self._change_members(group, [("replace", member_ids)])
        return await self._group_json(group, base, True)

    async def patch_group(self, group_id: str, body: Any, base: str) -> dict | None:
        group = await self._load_group(group_id)
        operations = p.patch_operations(body)
        patched = p.apply_patch(await self._group_json(group, base, False), operations)
        display_name = patched.get("displayName")
        if not isinstance(display_name, str) or not 1 <= len(display_name.strip()) <= 256:
            raise p.invalid("displayName is 1 to 256 characters.")
        await self._rename(group, display_name.strip(), str(patched.get("externalId") or "")[:512])
        await self._change_members(group, p.member_changes(operations))
        return await self._group_json(group, base, True)

    async def delete_group(self, group_id: str) -> None:
        group = await self._load_group(group_id)
        former = await self.members.users_of(group.id)
        await self.members.remove(group.id)
        await self.groups.delete_where(ScimGroup.id == group.id)
        await self.audit.record("scim.group_deleted", target_type="scim_group", target_id=str(group.id),
                                before={"displayName": group.display_name})
        await self._sync_roles(former)

    async def _rename(self, group: ScimGroup, display_name: str, external_id: str) -> None:
        if display_name == group.display_name and external_id == group.external_id:
            return
        other = await self.groups.by_display_name(display_name)
        if other is not None and other.id != group.id:
            raise p.ScimError(409, "A group with that displayName exists.", "uniqueness")
        before = {"displayName": group.display_name, "externalId": group.external_id}
        group.display_name, group.external_id, group.updated_at = display_name, external_id, self.clock.now()
        await self.groups.save(group)
        await self.audit.record("scim.group_updated", target_type="scim_group", target_id=str(group.id),
                                before=before, after={"displayName": display_name, "externalId": external_id})
        await self._sync_roles(await self.members.users_of(group.id))

    async def _change_members(self, group: ScimGroup, changes: list[tuple[str, list[str] | None]]) -> None:
        affected: set[uuid.UUID] = set()
        for op, raw_ids in changes:
            ids = await self._known_users(raw_ids) if raw_ids is not None else None
            current = set(await self.members.users_of(group.id))
            if op == "remove":
                gone = current if ids is None else current & set(ids)
                await self.members.remove(group.id, sorted(gone))
                affected |= gone
                continue
            if op == "replace":
                gone = current - set(ids or [])
                await self.members.remove(group.id, sorted(gone))
                affected |= gone
            for user_id in ids or []:
                await self.members.add(ScimGroupMember(group=group.id, user=user_id))
                affected.add(user_id)
        if affected:
            await self.audit.record("scim.group_members_changed", target_type="scim_group",
                                    target_id=str(group.id),
                                    after={"changes": [[op, ids] for op, ids in changes][:50]})
            await self._sync_roles(sorted(affected))

    async def _known_users(self, raw_ids: list[str]) -> list[uuid.UUID]:
        parsed = [p.parse_id(i) for i in raw_ids]
        if any(i is None for i in parsed):
            raise p.invalid("Group members are user ids.")
        known = {s.user for s in await self.scim_users.of_users([i for i in parsed if i])}
        unknown = [str(i) for i in parsed if i not in known]
        if unknown:
            raise p.invalid(f"Unknown users: {', '.join(unknown[:5])}.")
        return list(dict.fromkeys(parsed))  # type: ignore[arg-type]

    def _group_fields(self, body: Any) -> tuple[str, str, list[str]]:
        if not isinstance(body, dict):
            raise p.invalid("The body is a SCIM Group object.", "invalidSyntax")
        display_name = body.get("displayName")
        if not isinstance(display_name, str) or not 1 <= len(display_name.strip()) <= 256:
            raise p.invalid("displayName is 1 to 256 characters.")
        members = body.get("members") or []
        if not isinstance(members, list):
            raise p.invalid("members is a list.")
        member_ids = [m.get("value") if isinstance(m, dict) else None for m in members]
        if any(not isinstance(m, str) for m in member_ids):
            raise p.invalid("Members are given as {\"value\": id}.")
        return display_name.strip(), str(body.get("externalId") or "")[:512], member_ids  # type: ignore[return-value]

    async def _group_json(self, group: ScimGroup, base: str, with_members: bool) -> dict:
        resource: dict[str, Any] = {
            "schemas": [p.GROUP_SCHEMA],
            "id": str(group.id),
            "displayName": group.display_name,
        }
        if group.external_id:
            resource["externalId"] = group.external_id
        if with_members:
            member_ids = await self.members.users_of(group.id)
            names = {s.user: s.user_name for s in await self.scim_users.of_users(member_ids)}
            resource["members"] = [
                {"value": str(m), "display": names.get(m, ""), "$ref": f"{base}/Users/{m}"} for m in member_ids
            ]
        resource["meta"] = p.meta("Group", group.created_at, group.updated_at, f"{base}/Groups/{group.id}")
        return resource

    async def _load_group(self, group_id: str) -> ScimGroup:
        parsed = p.parse_id(group_id)
        group = await self.groups.get(parsed) if parsed else None
        if group is None:
            raise p.ScimError(404, "No such group.")
        return group

    # -- roles from groups ---------------------------------------------------------------------

    async def _sync_roles(self, user_ids: list[uuid.UUID]) -> None:
        """Give each user the highest role their groups map to (the default role when none
        does); nothing changes while the SSO settings map no group."""
        connection = await SsoConnectionRepository().current()
        group_roles = json_dict(connection.group_roles) if connection else {}
        if not group_roles or not user_ids:
            return
        for user_id in user_ids:
            if connection.break_glass_user == user_id:
                continue
            names = [g.display_name for g in await self.groups.by_ids(await self.members.groups_of(user_id))]
            roles = [group_roles[n] for n in names if n in group_roles]
            role = max(roles, key=role_rank) if roles else connection.default_role
            scim_user = await self.scim_users.of_user(user_id)
            if scim_user is not None and scim_user.role != role:
                scim_user.role = role
                await self.scim_users.save(scim_user)
            try:
                await self.team.set_role_from_provisioning(user_id, role, source="scim_groups")
            except LastOwner:
                continue
