"""`salescopilot db ...`"""

from __future__ import annotations

import asyncio

import click

from salescopilot.settings import get_settings


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
def migrate() -> None:
    """Apply pending migrations, then row-level security, indexes and grants (idempotent)."""
    from salescopilot.db.migrate import MigrationFailed, migrate as run_migrations

    settings = get_settings()
    try:
        asyncio.run(run_migrations(settings))
    except MigrationFailed as error:
        raise click.ClickException(f"migration failed: {error}") from error
    click.echo("database is up to date")
