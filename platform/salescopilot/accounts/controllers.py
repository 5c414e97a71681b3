"""JSON API for the signed-in principal, the team, invitations and API keys (`/api/v1`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter

from salescopilot.accounts.api_keys import ApiKeyService
from salescopilot.accounts.team import TeamService

from salescopilot.errors import ValidationFailed
from salescopilot.tenancy.context import current_tenant
from salescopilot.web.deps import api_key_service, team_service
from salescopilot.web.guards import principal_of
from salescopilot.web.idempotency import idempotent
from salescopilot.web.openapi import error_responses
from salescopilot.web.params import ListParams, provide_list_params

Role = Literal["owner", "admin", "member", "viewer"]
IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False, max_length=255)]
BULK_MAX = 500
#: A change that would leave the tenant without an owner.
LAST_OWNER = error_responses(409)
#: Idempotency-Key: a twin request in progress (409), the key reused with another body (422).
IDEMPOTENT = error_responses(409, 422)


class RoleChange(msgspec.Struct, forbid_unknown_fields=True):
    role: Role


class InviteCreate(msgspec.Struct, forbid_unknown_fields=True):
    role: Role
    email: Annotated[str, msgspec.Meta(max_length=320)] = ""


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    role: Role
    expires_at: dt.datetime | None = None


class MemberBulk(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["remove", "set_role"]
    ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=BULK_MAX)]
    role: Role | None = None


class ApiKeyBulk(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["revoke"]
    ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=BULK_MAX)]


def _api_key_json(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "prefix": row["prefix"],
        "role": row["role"],
        "createdBy": str(row["created_by"]) if row["created_by"] else None,
        "createdAt": _iso(row["created_at"]),
        "lastUsedAt": _iso(row["last_used_at"]),
        "expiresAt": _iso(row["expires_at"]),
        "revoked": row["revoked_at"] is not None,
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["account"]

    @get("/", opt={"permission": "dashboard.view"})
    async def me(self, request: Request) -> dict:
        """Who the request acts as, in which tenant, with which permissions."""
        principal = principal_of(request)
        return {
            "data": {
                "userId": str(principal.user_id) if principal.user_id else None,
                "label": principal.label,
                "role": principal.role,
                "via": principal.via,
                "tenant": current_tenant().slug,
                "permissions": sorted(principal.permissions),
            }
        }


class MemberController(Controller):
    path = "/api/v1/members"
    tags = ["team"]
    dependencies = {"listing": Provide(provide_list_params)}

    @get("/", opt={"permission": "team.view"})
    async def list_members(
        self, request: Request, listing: ListParams,
        role: Role | None = Parameter(query="role", default=None),
    ) -> dict:
        """The tenant's members, filterable by role, sortable by created_at or role."""
        page = await team_service(request).members(
            listing.query(sortable=TeamService.SORTABLE, filters={"role": role})
        )
        return page.envelope([m.to_dict() for m in page.items])

    @patch("/{member_id:uuid}", opt={"permission": "team.manage"}, responses=LAST_OWNER)
    async def change_role(self, request: Request, member_id: uuid.UUID, data: RoleChange) -> dict:
        """Change a member's role (owners only grant or remove owner; a tenant keeps one owner)."""
        membership = await team_service(request).change_role(principal_of(request), member_id, data.role)
        return {"data": {"id": str(membership.id), "role": membership.role}}

    @delete("/{member_id:uuid}", opt={"permission": "team.manage"}, status_code=204, responses=LAST_OWNER)
    async def remove_member(self, request: Request, member_id: uuid.UUID) -> None:
        """Remove a member from the tenant."""
        await team_service(request).remove(principal_of(request), member_id)

    @post("/bulk", opt={"permission": "team.manage"}, status_code=200, responses=LAST_OWNER)
    async def bulk(self, request: Request, data: MemberBulk) -> dict:
        """Remove members or set their role, all or nothing."""
        processed = await team_service(request).bulk(principal_of(request), data.action, data.ids, data.role)
        return {"data": {"action": data.action, "processed": processed}}


class InviteController(Controller):
    path = "/api/v1/invites"
    tags = ["team"]

    @get("/", opt={"permission": "team.view"})
    async def list_invites(self, request: Request) -> dict:
        """Pending, unexpired invitations."""
        invites = await team_service(request).pending_invites()
        return {
            "data": [
                {"id": str(i.id), "email": i.email, "role": i.role, "expiresAt": _iso(i.expires_at)}
                for i in invites
            ]
        }

    @post("/", opt={"permission": "team.manage"}, status_code=201, responses=IDEMPOTENT)
    async def create_invite(self, request: Request, data: InviteCreate, idempotency_key: IdempotencyKey = None) -> Response:
        """Create an invitation link (shown once) valid for 7 days."""

        async def produce() -> tuple[int, dict]:
            invite, token = await team_service(request).invite(principal_of(request), data.email, data.role)
            link = str(request.base_url).rstrip("/") + f"/invite/{token}"
            return 201, {
                "data": {"id": str(invite.id), "email": invite.email, "role": invite.role,
                         "expiresAt": _iso(invite.expires_at), "link": link}
            }

        return await idempotent(request, idempotency_key, data, produce)

    @delete("/{invite_id:uuid}", opt={"permission": "team.manage"}, status_code=204)
    async def revoke_invite(self, request: Request, invite_id: uuid.UUID) -> None:
        """Revoke a pending invitation."""
        await team_service(request).revoke_invite(invite_id)


class ApiKeyController(Controller):
    path = "/api/v1/api-keys"
    tags = ["api keys"]
    dependencies = {"listing": Provide(provide_list_params)}

    @get("/", opt={"permission": "api_keys.view"})
    async def list_keys(
        self, request: Request, listing: ListParams,
        role: Role | None = Parameter(query="role", default=None),
    ) -> dict:
        """The tenant's API keys (never the keys themselves)."""
        page = await api_key_service(request).list(
            listing.query(sortable=ApiKeyService.SORTABLE, filters={"role": role})
        )
        return page.envelope([_api_key_json(row) for row in page.items])

    @post("/", opt={"permission": "api_keys.manage"}, status_code=201, responses=IDEMPOTENT)
    async def create_key(self, request: Request, data: ApiKeyCreate, idempotency_key: IdempotencyKey = None) -> Response:
        """Create an API key. The response is the only time the key is shown."""

        async def produce() -> tuple[int, dict]:
            expires_at = data.expires_at
            if expires_at is not None and expires_at.tzinfo is None:
                raise ValidationFailed("expiresAt needs a timezone.", details={"field": "expiresAt"})
            key, token = await api_key_service(request).create(principal_of(request), data.name, data.role, expires_at)
            return 201, {"data": {"id": str(key.id), "name": key.name, "role": key.role,
                                  "prefix": key.prefix, "key": token, "expiresAt": _iso(key.expires_at)}}

        return await idempotent(request, idempotency_key, data, produce)

    @delete("/{key_id:uuid}", opt={"permission": "api_keys.manage"}, status_code=204)
    async def revoke_key(self, request: Request, key_id: uuid.UUID) -> None:
        """Revoke an API key; it stops working at once."""
        await api_key_service(request).revoke(key_id)

    @post("/bulk", opt={"permission": "api_keys.manage"}, status_code=200)
    async def bulk(self, request: Request, data: ApiKeyBulk) -> dict:
        """Revoke several keys, all or nothing."""
        processed = await api_key_service(request).revoke_many(data.ids)
        return {"data": {"action": data.action, "processed": processed}}


