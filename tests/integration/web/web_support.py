"""Helpers for the web layer's bad-input, idempotency and error-envelope tests."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import httpx

from salescopilot.accounts.api_keys import ApiKeyService
from salescopilot.accounts.principal import Principal
from salescopilot.db.engine import all_tables
from salescopilot.tenancy.context import TenantRef, tenant_scope
from tests.support import add_member
from tests.tenancy.isolation_seed import OwnerDatabase

ENVELOPE_KEYS = {"code", "message", "details", "timestamp", "requestId"}


@dataclass
class Caller:
    """A member of a tenant with an API key of their own."""

    tenant: TenantRef
    user_id: uuid.UUID
    email: str
    role: str
    api_key: str
    api_key_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def make_caller(app, tenant: TenantRef, email: str, role: str = "owner") -> Caller:
    user_id = await add_member(tenant, email, role)
    services = app.state.services
    # Made as an owner would make it for them: a viewer may not create keys.
    principal = Principal(
        user_id=user_id, label=email, role="owner", permissions=frozenset(), via="session"
    )
    async with tenant_scope(tenant):
        key, token = await ApiKeyService(
            clock=services.clock, permissions=services.permissions
        ).create(principal, f"{email} key", role)
    return Caller(tenant, user_id, email, role, token, key.id)


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The documented error: `status`, a JSON envelope with exactly the five fields (and `code`
    when given), and the requestId the response's X-Request-Id header carries."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == ENVELOPE_KEYS, error
    assert isinstance(error["code"], str) and error["code"].isupper(), error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], dict), error
    assert error["timestamp"].endswith("Z") and dt.datetime.fromisoformat(error["timestamp"]), error
    assert error["requestId"] == response.headers.get("x-request-id"), (error, response.headers)
    if code is not None:
        assert error["code"] == code, error
    return error


class Ledger:
    """Everything the database holds, as the owner sees it: row counts of every table and the
    full rows of one tenant, so a test can show that a refused request wrote nothing."""

    def __init__(self, settings, tenant: TenantRef) -> None:
        self.database = OwnerDatabase(settings)
        self.tenant = tenant

    async def take(self) -> dict:
        counts = {}
        for table in all_tables():
            name = table._meta.tablename
            counts[name] = (await self.database.fetch(f"SELECT count(*) FROM {name}"))[0][0]
        return {"counts": counts, "rows": await self.database.snapshot(self.tenant.id)}

    async def count(self, table: str) -> int:
        return (
            await self.database.fetch(
                f"SELECT count(*) FROM {table} WHERE tenant = {{}}", self.tenant.id
            )
        )[0][0]
