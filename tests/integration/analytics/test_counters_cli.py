"""`salescopilot analytics verify-counters` and `rebuild-counters` through click's CliRunner,
against the test database."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from salescopilot.analytics.repository import AnalyticsCounterRepository
from salescopilot.cli import main
from salescopilot.clock import FakeClock
from salescopilot.db.engine import start_database, stop_database
from salescopilot.settings import get_settings
from salescopilot.tenancy.context import tenant_scope
from tests.conftest import make_tenant
from tests.integration.analytics.conftest import TUESDAY, seed_small


def _in_database(make_coroutine):
    """Run a coroutine with the app engine up, as the CLI itself does (the CLI runs its own loop)."""

    async def body():
        await start_database(get_settings())
        try:
            return await make_coroutine()
        finally:
            await stop_database()

    return asyncio.run(body())


def test_verify_finds_lost_counters_and_rebuild_brings_them_back(settings):
    async def setup():
        acme, globex = await make_tenant("acme"), await make_tenant("globex")
        await seed_small(acme, settings, FakeClock(TUESDAY), sent=7, replied=2)
        await seed_small(globex, settings, FakeClock(TUESDAY), sent=3, replied=1)
        async with tenant_scope(acme):
            # As if the facts were stored before the counters existed.
            counters = AnalyticsCounterRepository()
            await counters.delete_all()
        return acme

    acme = _in_database(setup)
    runner = CliRunner()
    result = runner.invoke(main, ["analytics", "verify-counters"])
    assert result.exit_code == 1, result.output
    assert "acme: 2 groups differ" in result.output and "globex: agree" in result.output

    result = runner.invoke(main, ["analytics", "rebuild-counters", "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "acme: 2 counter rows"
    assert runner.invoke(main, ["analytics", "verify-counters"]).output.split() == ["acme:", "agree", "globex:", "agree"]

    async def sent():
        async with tenant_scope(acme, write=False):
            rows = await AnalyticsCounterRepository().find()
            return {kind: sum(row.sent for row in rows if row.kind == kind) for kind in ("k", "w")}

    assert _in_database(sent) == {"k": 7, "w": 7}  # per dimension, and per weekday and hour
    result = runner.invoke(main, ["analytics", "rebuild-counters", "--tenant", "nobody"])
    assert result.exit_code != 0 and "no tenant 'nobody'" in result.output


def test_the_migration_counts_the_facts_stored_before_the_counters(settings):
    """The migration's backfill, run again over facts without counters, writes each tenant's
    counters as a rebuild would (as the owner, with each tenant set for row-level security)."""
    import importlib

    from piccolo.apps.migrations.tables import Migration

    from salescopilot.analytics.counters import verify
    from salescopilot.db.engine import engine_from_url

    async def run():
        acme, globex = await make_tenant("acme"), await make_tenant("globex")
        await seed_small(acme, settings, FakeClock(TUESDAY), sent=5, replied=1)
        await seed_small(globex, settings, FakeClock(TUESDAY), sent=2, replied=2)
        for tenant in (acme, globex):
            async with tenant_scope(tenant):
                await AnalyticsCounterRepository().delete_all()
        module = importlib.import_module("salescopilot.db.migrations.salescopilot_2026_11_24t20_49_00_000000")
        manager = await module.forwards()
        saved, Migration._meta.db = Migration._meta.db, engine_from_url(settings.database.migration_url)
        try:
            await manager.run()
        finally:
            Migration._meta.db = saved
        found = {}
        for tenant in (acme, globex):
            async with tenant_scope(tenant, write=False):
                rows = await AnalyticsCounterRepository().find()
                found[tenant.slug] = (await verify(), sum(r.sent for r in rows if r.kind == "k"),
                                      sum(r.replied for r in rows if r.kind == "k"))
        return found

    assert _in_database(run) == {"acme": ({}, 5, 1), "globex": ({}, 2, 2)}
