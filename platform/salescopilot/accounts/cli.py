"""`salescopilot users ...`"""

from __future__ import annotations

import asyncio
import os

import click

from salescopilot.settings import get_settings

DEMO_EMAIL = "demo@example.com"
#: The demo tenant's well-known password: only ever created outside production.
DEMO_PASSWORD = "demo-password-123"


async def _in_tenant(slug: str, action):
    from salescopilot.actor import Actor, acting_as
    from salescopilot.db.engine import connected
    from salescopilot.tenancy.context import TenantRef, tenant_scope
    from salescopilot.tenancy.repository import TenantCatalogue

    settings = get_settings()
    async with connected(settings):
        tenant = await TenantCatalogue().by_slug(slug)
        if tenant is None:
            raise click.ClickException(f"no tenant {slug!r}: run `salescopilot tenants apply` first")
        with acting_as(Actor(kind="system", label="cli")):
            async with tenant_scope(TenantRef(id=tenant.id, slug=tenant.slug)):
                return await action(settings)


def _services(settings):
    from litestar.stores.memory import MemoryStore

    from salescopilot.accounts.permissions import build_catalogue
    from salescopilot.accounts.service import AccountService
    from salescopilot.accounts.team import TeamService
    from salescopilot.accounts.throttle import LoginThrottle
    from salescopilot.clock import system_clock
    from salescopilot.crypto import SecretBox

    accounts = AccountService(
        clock=system_clock,
        secret_box=SecretBox.from_settings(settings),
        permissions=build_catalogue(),
        throttle=LoginThrottle(MemoryStore(), settings.login_throttle),
    )
    return accounts, TeamService(clock=system_clock)


async def ensure_member(email: str, name: str, password: str | None, role: str, *, reset_password: bool) -> tuple[bool, bool]:
    """(user created, membership created) for `email` in the current tenant."""
    from salescopilot.accounts.repository import MembershipRepository, UserRepository

    accounts, team = _services(get_settings())
    user = await UserRepository().by_email(email)
    created_user = user is None
    if user is None:
        user = await accounts.create_user(email, name, password)
    elif reset_password and password:
        await accounts.set_password(user, password)
    membership = await MembershipRepository().for_user(user.id)
    if membership is None:
        await team.add_member(user, role)
    return created_user, membership is None


@click.group()
def users() -> None:
    """People and their memberships."""


@users.command(name="ensure-demo")
@click.option("--tenant", "slug", default="demo", show_default=True)
def ensure_demo(slug: str) -> None:
    """Make sure the demo tenant has its owner account, and print how to sign in."""
    settings = get_settings()
    if settings.is_production:
        raise click.ClickException("the demo account is never created in production")

    async def action(_settings):
        return await ensure_member(DEMO_EMAIL, "Demo Owner", DEMO_PASSWORD, "owner", reset_password=True)

    asyncio.run(_in_tenant(slug, action))
    port = os.environ.get("SALESCOPILOT_PORT", settings.port)
    click.echo(f"demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}  at http://{slug}.{settings.base_domain}:{port}/")


@users.command(name="add")
@click.argument("email")
@click.option("--tenant", "slug", required=True)
@click.option("--role", type=click.Choice(["owner", "admin", "member", "viewer"]), default="member", show_default=True)
@click.option("--name", default="")
@click.password_option(prompt="Password (empty for SSO-only)", default="", show_default=False)
def add_user(email: str, slug: str, role: str, name: str, password: str) -> None:
    """Create a user (or reuse one with that email) and add them to a tenant with a role."""

    async def action(_settings):
        return await ensure_member(email, name, password or None, role, reset_password=False)

    created_user, created_membership = asyncio.run(_in_tenant(slug, action))
    click.echo(("created user; " if created_user else "existing user; ")
               + ("added to " if created_membership else "already a member of ") + slug)
