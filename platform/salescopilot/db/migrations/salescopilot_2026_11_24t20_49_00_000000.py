from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-24T20:49:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Analytics: the counters of the facts already stored"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="salescopilot", description=DESCRIPTION)

    async def backfill():
        """Each tenant's counters recounted from its facts with the report's own statement
        (`salescopilot analytics rebuild-counters` does the same for a running system). The
        tenant is set for the migration's transaction, so row-level security, where it binds the
        migrating role, lets each tenant's rows through."""
        import uuid

        from piccolo.apps.migrations.tables import Migration

        from salescopilot.analytics.counters import counter_rows
        from salescopilot.analytics.repository import Scope, counter_insert_statement, report_statement

        postgres = Migration._meta.db.engine_type == "postgres"
        for tenant in await Migration.raw("SELECT id FROM tenant"):
            tenant_id = uuid.UUID(str(tenant["id"]))
            if postgres:
                await Migration.raw("SELECT set_config('app.tenant_id', {}, true)", str(tenant_id))
            statement, values = report_statement(Scope(), tenant_id, postgres)
            facts = await Migration.raw(statement, *(values if postgres else [str(v) for v in values]))
            for row in counter_rows(tenant_id, facts):
                await Migration.raw(counter_insert_statement(), *(row if postgres else [
                    str(v) if isinstance(v, uuid.UUID) else v for v in row]))

    manager.add_raw(backfill)
    return manager
