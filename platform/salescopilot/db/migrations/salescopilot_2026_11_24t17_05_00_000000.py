from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-24T17:05:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Analytics: the per-message engagement summary of the events already stored"

#: Where row-level security binds the migrating role (PostgreSQL, not a superuser) it sees no
#: events and this inserts nothing; `salescopilot` writes the summary with every new event.
BACKFILL = (
    "INSERT INTO analytics_message_engagement "
    "(id, tenant, message, campaign, opened, opened_machine, clicked, clicked_machine, unsubscribed) "
    "SELECT {id}, tenant, message, campaign, "
    "MAX(CASE WHEN kind IN ('open', 'click') AND NOT machine THEN 1 ELSE 0 END), "
    "MAX(CASE WHEN kind = 'open' AND machine THEN 1 ELSE 0 END), "
    "MAX(CASE WHEN kind = 'click' AND NOT machine THEN 1 ELSE 0 END), "
    "MAX(CASE WHEN kind = 'click' AND machine THEN 1 ELSE 0 END), "
    "MAX(CASE WHEN kind = 'unsubscribe' THEN 1 ELSE 0 END) "
    "FROM tracking_event GROUP BY tenant, message, campaign"
)
SQLITE_UUID = (
    "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) "
    "|| '-a' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))"
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="salescopilot", description=DESCRIPTION)

    async def backfill():
        from piccolo.apps.migrations.tables import Migration

        postgres = Migration._meta.db.engine_type == "postgres"
        await Migration.raw(BACKFILL.format(id="gen_random_uuid()" if postgres else SQLITE_UUID))

    manager.add_raw(backfill)
    return manager
