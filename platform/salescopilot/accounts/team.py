"""The team of a tenant: members and their roles, invitations by link."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from salescopilot.accounts import passwords
from salescopilot.accounts.errors import (
    AlreadyMember,
    InviteInvalid,
    InviteNotFound,
    LastOwner,
    MemberNotFound,
    RoleNotAllowed,
)
from salescopilot.accounts.permissions import ROLES, can_assign
from salescopilot.accounts.principal import Principal
from salescopilot.accounts.repository import (
    InviteRepository,
    MembershipRepository,
    UserRepository,
    UserTenantRepository,
)
from salescopilot.accounts.service import normalise_email, require_email
from salescopilot.accounts.tables import Invite, Membership, User
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.crypto import sha256_hex
from salescopilot.errors import ValidationFailed
from salescopilot.listing import ListQuery, Page
from salescopilot.tenancy.context import current_tenant_id

INVITE_LIFETIME = dt.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Member:
    membership_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    name: str
    role: str
    joined_at: dt.datetime
    totp_enabled: bool

    def to_dict(self) -> dict:
        return {
            "id": str(self.membership_id),
            "userId": str(self.user_id),
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "joinedAt": self.joined_at.isoformat(),
            "twoFactor": self.totp_enabled,
        }


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationFailed(
            f"Unknown role. Choose one of: {', '.join(ROLES)}.", details={"field": "role"}
        )
    return role


class TeamService:
    SORTABLE = MembershipRepository.sortable

    def __init__(self, *, clock: Clock) -> None:
        self.clock = clock
        self.memberships = MembershipRepository()
        self.invites = InviteRepository()
        self.users = UserRepository()
        self.user_tenants = UserTenantRepository()
        self.audit = AuditService(clock)

    async def members(self, query: ListQuery) -> Page[Member]:
        page = await self.memberships.list_page(query)
        users = await self.users.by_ids([row["user"] for row in page.items])
        members = [
            Member(
                membership_id=row["id"],
                user_id=row["user"],
                email=users[row["user"]].email if row["user"] in users else "(deleted user)",
                name=users[row["user"]].name if row["user"] in users else "",
                role=row["role"],
                joined_at=row["created_at"],
                totp_enabled=bool(users[row["user"]].totp_enabled) if row["user"] in users else False,
            )
            for row in page.items
        ]
        return Page(items=members, total=page.total, query=page.query)

    async def add_member(self, user: User, role: str, *, audit_action: str = "team.member_added") -> Membership:
        check_role(role)
        if await self.memberships.for_user(user.id) is not None:
            raise AlreadyMember()
        membership = Membership(user=user.id, role=role, created_at=self.clock.now())
        await self.memberships.add(membership)
        await self.user_tenants.link(user.id, current_tenant_id())
        await self.audit.record(
            audit_action, target_type="membership", target_id=str(membership.id),
            after={"user": user.email, "role": role},
        )
        return membership

    async def change_role(self, actor: Principal, membership_id: uuid.UUID, role: str) -> Membership:
        check_role(role)
        membership = await self._get(membership_id)
        if not (can_assign(actor.role, membership.role) and can_assign(actor.role, role)):
            raise RoleNotAllowed()
        return await self._set_role(membership, role)

    async def remove(self, actor: Principal, membership_id: uuid.UUID) -> None:
        membership = await self._get(membership_id)
        if not can_assign(actor.role, membership.role):
            raise RoleNotAllowed()
        await self._remove(membership)

    async def _set_role(self, membership: Membership, role: str, source: str | None = None) -> Membership:
        if membership.role == role:
            return membership
        await self._keep_an_owner(membership, leaving=role != "owner")
        before = membership.role
        membership.role = role
        await self.memberships.save(membership)
        after = {"role": role, **({"source": source} if source else {})}
        await self.audit.record(
            "team.role_changed", target_type="membership", target_id=str(membership.id),
            before={"role": before}, after=after,
        )
        return membership

    async def _remove(self, membership: Membership, source: str | None = None) -> None:
        await self._keep_an_owner(membership, leaving=True)
        await self.memberships.delete_where(Membership.id == membership.id)
        await self.user_tenants.unlink(membership.user, current_tenant_id())
        await self.audit.record(
            "team.member_removed", target_type="membership", target_id=str(membership.id),
            before={"user": str(membership.user), "role": membership.role},
            after={"source": source} if source else None,
        )

    # -- provisioning (SSO and SCIM act for the identity provider, not for a member) -----------

    async def membership_of(self, user_id: uuid.UUID) -> Membership | None:
        return await self.memberships.for_user(user_id)

    async def set_role_from_provisioning(self, user_id: uuid.UUID, role: str, *, source: str) -> Membership | None:
        """Give a member the role their identity provider says; the tenant keeps an owner."""
        check_role(role)
        membership = await self.memberships.for_user(user_id)
        return await self._set_role(membership, role, source) if membership else None

    async def remove_by_provisioning(self, user_id: uuid.UUID, *, source: str) -> Membership | None:
        """Take a user out of the tenant because their identity provider deprovisioned them;
        the removed membership (None if there was none)."""
        membership = await self.memberships.for_user(user_id)
        if membership is not None:
            await self._remove(membership, source)
        return membership

    async def bulk(
        self, actor: Principal, action: str, membership_ids: list[uuid.UUID], role: str | None = None
    ) -> int:
        """Remove members or set their role, all or nothing (the first refusal raises and the
        request's transaction rolls back the rest); returns how many were processed."""
        if action == "set_role" and role is None:
            raise ValidationFailed("set_role needs a role.", details={"field": "role"})
        unique = list(dict.fromkeys(membership_ids))
        for membership_id in unique:
            if action == "remove":
                await self.remove(actor, membership_id)
            else:
                await self.change_role(actor, membership_id, role)
        return len(unique)

    async def _get(self, membership_id: uuid.UUID) -> Membership:
        membership = await self.memberships.get(membership_id)
        if membership is None:
            raise MemberNotFound()
        return membership

    async def _keep_an_owner(self, membership: Membership, *, leaving: bool) -> None:
        if leaving and membership.role == "owner" and await self.memberships.count_role("owner") <= 1:
            raise LastOwner()

    # -- invitations ---------------------------------------------------------------------------

    async def invite(self, actor: Principal, email: str, role: str) -> tuple[Invite, str]:
        """A new invitation and its secret token (only its hash is stored)."""
        check_role(role)
        if not can_assign(actor.role, role):
            raise RoleNotAllowed()
        email = require_email(email) if email.strip() else ""
        token = secrets.token_urlsafe(32)
        invite = Invite(
            email=email,
            role=role,
            token_hash=sha256_hex(token),
            invited_by=actor.user_id,
            created_at=self.clock.now(),
            expires_at=self.clock.now() + INVITE_LIFETIME,
        )
        await self.invites.add(invite)
        await self.audit.record(
            "team.invite_created", target_type="invite", target_id=str(invite.id),
            after={"email": email, "role": role, "expires_at": invite.expires_at.isoformat()},
        )
        return invite, token

    async def pending_invites(self) -> list[Invite]:
        now = self.clock.now()
        return [i for i in await self.invites.pending() if i.expires_at > now]

    async def revoke_invite(self, invite_id: uuid.UUID) -> None:
        invite = await self.invites.get(invite_id)
        if invite is None:
            raise InviteNotFound()
        if invite.revoked_at is None and invite.accepted_at is None:
            invite.revoked_at = self.clock.now()
            await self.invites.save(invite)
            await self.audit.record(
                "team.invite_revoked", target_type="invite", target_id=str(invite.id)
            )

    async def open_invite(self, token: str) -> Invite:
        """The invitation behind `token` if it can still be accepted, else InviteInvalid."""
        if not token or len(token) > 200:
            raise InviteInvalid()
        invite = await self.invites.by_token_hash(sha256_hex(token))
        if (
            invite is None
            or invite.revoked_at is not None
            or invite.accepted_at is not None
            or invite.expires_at <= self.clock.now()
        ):
            raise InviteInvalid()
        return invite

    async def accept_invite(
        self, token: str, *, user: User | None, email: str = "", name: str = "", password: str = ""
    ) -> User:
        """Join the tenant: as the signed-in `user`, or as a new account made from the form."""
        invite = await self.open_invite(token)
        if user is None:
            email = require_email(email or invite.email)
            if invite.email and normalise_email(email) != invite.email:
                raise ValidationFailed(
                    "This invitation is for another email address.", details={"field": "email"}
                )
            existing = await self.users.by_email(email)
            if existing is not None:
                if not passwords.verify_password(existing.password_hash, password):
                    raise ValidationFailed(
                        "That email has an account: enter its password to join.",
                        details={"field": "password"},
                    )
                user = existing
            else:
                user = User(
                    email=email, name=name.strip()[:200], password_hash=passwords.hash_password(password)
                )
                await self.users.add(user)
        elif invite.email and user.email != invite.email:
            raise ValidationFailed("This invitation is for another email address.")
        await self.add_member(user, invite.role, audit_action="team.invite_accepted")
        invite.accepted_at = self.clock.now()
        invite.accepted_by = user.id
        await self.invites.save(invite)
        return user
