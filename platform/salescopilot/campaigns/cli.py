"""`salescopilot campaigns`: list a tenant's campaigns, dry-run one, run the scheduler now."""

from __future__ import annotations

import asyncio
import json
import uuid

import click

from salescopilot.clock import system_clock
from salescopilot.db.engine import connected
from salescopilot.errors import DomainError
from salescopilot.listing import ListQuery
from salescopilot.settings import get_settings
from salescopilot.tenancy.context import TenantRef, tenant_context, tenant_scope
from salescopilot.tenancy.repository import TenantCatalogue


async def _tenant(slug: str) -> TenantRef:
    row = await TenantCatalogue().by_slug(slug)
    if row is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return TenantRef(id=row.id, slug=row.slug)


@click.group()
def campaigns() -> None:
    """Campaigns: what they will send, and the scheduler on demand."""


@campaigns.command("list")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
def list_campaigns(slug: str) -> None:
    """Each campaign's id, status and name."""
    from salescopilot.campaigns.service import CampaignService

    async def run():
        settings = get_settings()
        async with connected(settings):
            async with tenant_scope(await _tenant(slug), write=False):
                return await CampaignService(settings.outbox, clock=system_clock).page(ListQuery(limit=200))

    for row in asyncio.run(run()).items:
        click.echo(f"{row['id']}  {row['status']:<10} {row['name']}")


@campaigns.command("dry-run")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.argument("campaign", type=click.UUID)
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 60), help="How far ahead.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines.")
def dry_run(slug: str, campaign: uuid.UUID, days: int, as_json: bool) -> None:
    """What CAMPAIGN would send over the next days: when, to whom, which step, from which
    mailbox, and why messages wait. Sends nothing and changes nothing."""
    from salescopilot.campaigns.service import CampaignService

    async def run():
        settings = get_settings()
        async with connected(settings):
            async with tenant_scope(await _tenant(slug), write=False):
                return await CampaignService(settings.outbox, clock=system_clock).dry_run(campaign, days)

    try:
        plan = asyncio.run(run())
    except DomainError as error:
        raise click.ClickException(error.message) from None
    if as_json:
        click.echo(json.dumps(plan))
        return
    for send in plan["sends"]:
        click.echo(f"{send['at']}  {send['mailbox']} -> {send['recipient']}  step {send['step']}: {send['subject']}")
    for skip in plan["skipped"]:
        click.echo(f"skipped  {skip['recipient']} step {skip['step']}: {skip['reason']}")
    for wait in plan["waiting"]:
        click.echo(f"waiting  {wait['recipient']}: {wait['reason']}")
    click.echo(f"{len(plan['sends'])} to send over {days} days for {plan['leads']} leads. {plan['assumptions']}")


@campaigns.command("run")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
def run_now(slug: str) -> None:
    """Run scheduler passes now: queue every step that is due."""
    from salescopilot.campaigns.tasks import run_due_passes

    async def run() -> int:
        async with connected(get_settings()):
            with tenant_context(await _tenant(slug)):
                return await run_due_passes()

    click.echo(f"{asyncio.run(run())} messages queued")
