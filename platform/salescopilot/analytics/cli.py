"""`salescopilot analytics`: recount the dashboard's counters from the facts, check them."""

from __future__ import annotations

import asyncio

import click

from salescopilot.db.engine import connected
from salescopilot.settings import get_settings
from salescopilot.tenancy.context import TenantRef, tenant_scope
from salescopilot.tenancy.repository import TenantCatalogue


async def _tenants(slug: str | None) -> list[TenantRef]:
    if slug is None:
        return [TenantRef(id=row.id, slug=row.slug) for row in await TenantCatalogue().all()]
    row = await TenantCatalogue().by_slug(slug)
    if row is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return [TenantRef(id=row.id, slug=row.slug)]


@click.group()
def analytics() -> None:
    """Analytics: the counters the campaign dashboard reads."""


@analytics.command("rebuild-counters")
@click.option("--tenant", "slug", help="The tenant's slug (default: every tenant).")
def rebuild_counters(slug: str | None) -> None:
    """Recount the counters of the tenant (or of every tenant) from the stored facts: messages
    sent, tracking's summary, inbound mail, leads and enrollments. Safe while the app runs."""
    from salescopilot.analytics.counters import rebuild

    async def run() -> list[tuple[str, int]]:
        done = []
        async with connected(get_settings()):
            for ref in await _tenants(slug):
                async with tenant_scope(ref):
                    done.append((ref.slug, await rebuild()))
        return done

    for tenant, rows in asyncio.run(run()):
        click.echo(f"{tenant}: {rows} counter rows")


@analytics.command("verify-counters")
@click.option("--tenant", "slug", help="The tenant's slug (default: every tenant).")
def verify_counters(slug: str | None) -> None:
    """Compare the counters with a count from the facts; exits 1 when any group differs."""
    from salescopilot.analytics.counters import verify

    async def run() -> list[tuple[str, int]]:
        found = []
        async with connected(get_settings()):
            for ref in await _tenants(slug):
                async with tenant_scope(ref, write=False):
                    found.append((ref.slug, len(await verify())))
        return found

    results = asyncio.run(run())
    for tenant, differing in results:
        click.echo(f"{tenant}: {'agree' if not differing else f'{differing} groups differ'}")
    if any(differing for _, differing in results):
        raise SystemExit(1)
