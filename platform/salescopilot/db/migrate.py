"""`db migrate`: Piccolo migrations as the owner, then the schema extras (see `schema.py`)."""

from __future__ import annotations

import contextlib
import io

from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.engine.sqlite import SQLiteEngine

from salescopilot.db import piccolo_conf
from salescopilot.db.engine import engine_from_url
from salescopilot.db.schema import apply_schema_extras
from salescopilot.settings import Settings


class MigrationFailed(RuntimeError):
    pass


async def migrate(settings: Settings, *, quiet: bool = True) -> None:
    """Bring the database schema up to date. Safe to run any number of times."""
    owner = engine_from_url(settings.database.migration_url)
    # Piccolo's migration runner finds its engine through the conf module.
    piccolo_conf.DB = owner
    from piccolo.apps.migrations.tables import Migration

    Migration._meta.db = owner
    if isinstance(owner, SQLiteEngine):
        # WAL lets readers proceed while one writer writes; persistent in the file.
        await owner._run_in_new_connection("PRAGMA journal_mode=WAL")
    output = io.StringIO()
    with contextlib.redirect_stdout(output) if quiet else contextlib.nullcontext():
        result = await run_forwards(app_name="all", migration_id="all")
    if not result.success:
        raise MigrationFailed(result.message or output.getvalue())
    await apply_schema_extras(owner, settings.database.app_role)
