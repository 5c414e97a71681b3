"""`salescopilot tenants ...`"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from salescopilot.settings import get_settings


@click.group()
def tenants() -> None:
    """Tenants as code."""


@tenants.command()
@click.argument("directory", type=click.Path(path_type=Path), required=False)
def apply(directory: Path | None) -> None:
    """Create or update tenants from DIRECTORY/<slug>/tenant.toml (default: settings.tenants_dir).

    Every manifest is validated first; if any is wrong nothing is changed and every problem is
    listed as `file: key: problem`.
    """
    from salescopilot.actor import Actor, acting_as
    from salescopilot.clock import system_clock
    from salescopilot.db.engine import connected
    from salescopilot.plugin_system.manager import get_plugin_manager
    from salescopilot.tenancy.manifest import ManifestInvalid
    from salescopilot.tenancy.service import TenantManifestService

    settings = get_settings()
    directory = directory or settings.tenants_dir

    async def run():
        async with connected(settings):
            service = TenantManifestService(settings, get_plugin_manager(), system_clock)
            with acting_as(Actor(kind="system", label="cli: tenants apply")):
                return await service.apply(directory)

    try:
        report = asyncio.run(run())
    except ManifestInvalid as error:
        for problem in error.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(1) from error
    for label, slugs in (("created", report.created), ("updated", report.updated), ("unchanged", report.unchanged)):
        for slug in slugs:
            click.echo(f"{label}: {slug}")


@tenants.command(name="list")
def list_tenants() -> None:
    """Tenants with their status and domains."""
    from salescopilot.db.engine import connected
    from salescopilot.tenancy.repository import TenantCatalogue

    settings = get_settings()

    async def run():
        async with connected(settings):
            catalogue = TenantCatalogue()
            return [(t, await catalogue.hostnames(t.id)) for t in await catalogue.all()]

    for tenant, hostnames in asyncio.run(run()):
        click.echo(f"{tenant.slug}\t{tenant.status}\t{tenant.name}\t{' '.join(hostnames)}")
