"""Helpers for tests that drive the web app."""

from __future__ import annotations

import re
import uuid

from httpx import AsyncClient as AsyncTestClient

from salescopilot.accounts.cli import ensure_member
from salescopilot.accounts.repository import UserRepository
from salescopilot.tenancy.context import TenantRef, tenant_scope

PASSWORD = "correct-horse-battery"
_CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


async def add_member(tenant: TenantRef, email: str, role: str = "member", password: str = PASSWORD) -> uuid.UUID:
    """Create (or reuse) a user with `email` and make them a member of `tenant`; returns the user id."""
    async with tenant_scope(tenant):
        await ensure_member(email, email.split("@")[0].title(), password, role, reset_password=False)
        return (await UserRepository().by_email(email)).id


def csrf_from(html: str) -> str:
    match = _CSRF_INPUT.search(html)
    assert match, "page has no CSRF input"
    return match.group(1)


async def form_post(client: AsyncTestClient, page: str, action: str, fields: dict, **kwargs):
    """GET `page` for its CSRF token, then POST `fields` to `action` as a browser form would."""
    response = await client.get(page)
    data = {"_csrf_token": csrf_from(response.text), **fields}
    return await client.post(action, data=data, follow_redirects=False, **kwargs)


async def sign_in(client: AsyncTestClient, email: str, password: str = PASSWORD):
    return await form_post(client, "/login", "/login", {"email": email, "password": password, "next": "/"})


async def session_csrf(client: AsyncTestClient) -> str:
    """The session's API CSRF token, as pages expose it to scripts."""
    match = _CSRF_META.search((await client.get("/")).text)
    assert match, "dashboard has no csrf-token meta"
    return match.group(1)
