"""`salescopilot mailboxes`: the demo mailbox of the embedded default."""

from __future__ import annotations

import asyncio

import click

from salescopilot.db.engine import connected
from salescopilot.settings import get_settings
from salescopilot.tenancy.context import TenantRef, tenant_scope
from salescopilot.tenancy.repository import TenantCatalogue

DEMO_SENDER = "sales@demo.example.com"


@click.group()
def mailboxes() -> None:
    """Sending mailboxes."""


@mailboxes.command(name="ensure-demo")
@click.option("--tenant", "slug", default="demo", show_default=True)
def ensure_demo(slug: str) -> None:
    """Give the demo tenant a mailbox that sends to the embedded mail catcher (and a pool with
    it), so messages can be seen leaving without any mail account. Not in production."""
    from salescopilot.actor import Actor, acting_as
    from salescopilot.mailboxes.repository import MailboxRepository
    from salescopilot.mailboxes.schemas import MailboxInput, WindowSettings
    from salescopilot.mailboxes.service import MailboxService, PoolService
    from salescopilot.mailboxes.tables import Mailbox

    settings = get_settings()
    if settings.is_production:
        raise click.ClickException("the demo mailbox is never created in production")
    catcher = settings.mail_catcher

    async def run() -> str:
        async with connected(settings):
            row = await TenantCatalogue().by_slug(slug)
            if row is None:
                raise click.ClickException(f"no tenant {slug!r}")
            with acting_as(Actor(kind="system", label="cli")):
                async with tenant_scope(TenantRef(id=row.id, slug=row.slug)):
                    if await MailboxRepository().find_one(Mailbox.email == DEMO_SENDER):
                        return "the demo mailbox exists"
                    mailbox = await MailboxService().create(MailboxInput(
                        email=DEMO_SENDER, from_name="Demo Sales", provider="smtp",
                        min_gap_seconds=5, jitter_seconds=5, daily_cap=200,
                        window=WindowSettings(days=list(range(7)), start="00:00", end="23:59"),
                        signature_text="Demo Sales\nSales Copilot demo",
                        account={"address": DEMO_SENDER, "smtp_host": catcher.host,
                                 "smtp_port": catcher.port, "smtp_security": "none",
                                 "auth_method": "none", "append_to_sent": "never"},
                    ))
                    await PoolService().create("Demo mailboxes", [mailbox.id])
            return f"demo mailbox {DEMO_SENDER} sends to the mail catcher at {catcher.host}:{catcher.port}"

    click.echo(asyncio.run(run()))
