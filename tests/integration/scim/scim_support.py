"""Helpers for the SCIM tests: a tenant's SCIM token, and requests as the IdPs send them."""

from __future__ import annotations

from salescopilot.accounts.principal import Principal
from salescopilot.accounts.repository import MembershipRepository, UserRepository
from salescopilot.scim.tokens import ScimTokenService
from salescopilot.tenancy.context import TenantRef, tenant_scope

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"


async def scim_token(app, tenant: TenantRef) -> str:
    owner = Principal(user_id=None, label="test", role="owner", permissions=frozenset(), via="session")
    async with tenant_scope(tenant):
        _, token = await ScimTokenService(clock=app.state.services.clock).create(owner)
    return token


class Scim:
    """A SCIM client of one tenant: bodies sent as application/scim+json, like both IdPs do."""

    def __init__(self, client, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": SCIM_JSON, "Accept": SCIM_JSON}

    async def request(self, method: str, path: str, body=None, **params):
        import json

        content = json.dumps(body).encode() if body is not None else None
        return await self.client.request(method, "/scim/v2" + path, content=content, headers=self.headers,
                                         params=params or None)

    async def get(self, path: str, **params):
        return await self.request("GET", path, **params)

    async def post(self, path: str, body):
        return await self.request("POST", path, body)

    async def put(self, path: str, body):
        return await self.request("PUT", path, body)

    async def patch(self, path: str, operations: list[dict]):
        return await self.request("PATCH", path, {"schemas": [PATCH], "Operations": operations})

    async def delete(self, path: str):
        return await self.request("DELETE", path)


async def role_of(tenant: TenantRef, email: str) -> str | None:
    async with tenant_scope(tenant):
        user = await UserRepository().by_email(email)
        membership = await MembershipRepository().for_user(user.id) if user else None
    return membership.role if membership else None


def okta_user(email: str, external_id: str = "00u1abc", active: bool = True) -> dict:
    """POST /Users as Okta sends it (it includes a password we must never keep)."""
    given, _, family = email.split("@")[0].partition(".")
    return {
        "schemas": [USER],
        "userName": email,
        "name": {"givenName": given.title(), "familyName": family.title() or "Tester"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": f"{given.title()} {family.title()}".strip(),
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "Okta-Sent-This-1!",
        "active": active,
    }


def entra_user(email: str, external_id: str) -> dict:
    """POST /Users as Microsoft Entra ID sends it."""
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": email,
        "active": True,
        "displayName": "Ada Lovelace",
        "emails": [{"primary": True, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        ENTERPRISE: {"department": "Engineering"},
        "roles": [],
    }
