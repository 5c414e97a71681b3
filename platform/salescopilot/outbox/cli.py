"""`salescopilot outbox`: the dry-run plan, a sender pass on demand, and the ledger's counts."""

from __future__ import annotations

import asyncio
import json

import click

from salescopilot.clock import system_clock
from salescopilot.db.engine import connected
from salescopilot.settings import get_settings
from salescopilot.tenancy.context import TenantRef, tenant_context, tenant_scope
from salescopilot.tenancy.repository import TenantCatalogue


async def _tenant(slug: str) -> TenantRef:
    row = await TenantCatalogue().by_slug(slug)
    if row is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return TenantRef(id=row.id, slug=row.slug)


@click.group()
def outbox() -> None:
    """The send ledger: what will go out, when, and from which mailbox."""


@outbox.command()
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option("--hours", default=72.0, show_default=True, help="How far ahead to plan.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
def plan(slug: str, hours: float, as_json: bool) -> None:
    """Print the dry-run plan: each waiting message, when it would go, from which mailbox, and
    which limit held it back. Sends nothing."""
    from salescopilot.outbox.planner import dry_run

    async def run():
        async with connected(get_settings()):
            tenant = await _tenant(slug)
            async with tenant_scope(tenant):
                return await dry_run(system_clock.now(), hours=hours)

    result = asyncio.run(run())
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    for send in result.sends:
        why = f"  (waited: {send.waited_for})" if send.waited_for else ""
        click.echo(f"{send.at:%Y-%m-%d %H:%M:%S}Z  {send.mailbox} -> {send.recipient}  "
                   f"step {send.step}: {send.subject}{why}")
    for wait in result.waiting:
        until = f" until {wait.until:%Y-%m-%d %H:%M}Z" if wait.until else ""
        click.echo(f"waiting  {wait.recipient}: {wait.reason}{until}")
    click.echo(f"{len(result.sends)} to send, {len(result.waiting)} still waiting after {hours:g} hours")


@outbox.command()
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
def send(slug: str) -> None:
    """Run sender passes now until nothing more may go at this moment."""
    from salescopilot.outbox.sender import OutboxSender

    async def run() -> int:
        settings = get_settings()
        async with connected(settings):
            tenant = await _tenant(slug)
            total = 0
            with tenant_context(tenant):
                sender = OutboxSender(settings)
                while claimed := await sender.run_pass():
                    total += claimed
            return total

    click.echo(f"{asyncio.run(run())} messages handed to their mailboxes")


@outbox.command()
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
def status(slug: str) -> None:
    """Messages per state."""
    from salescopilot.outbox.repository import OutboxRepository

    async def run() -> dict[str, int]:
        async with connected(get_settings()):
            tenant = await _tenant(slug)
            async with tenant_scope(tenant, write=False):
                return await OutboxRepository().counts_by_state()

    counts = asyncio.run(run())
    for state in ("queued", "claimed", "sending", "retry", "uncertain", "sent", "failed", "paused", "cancelled"):
        click.echo(f"{state:10} {counts.get(state, 0)}")
