from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.column_types import UUID
from piccolo.columns.column_types import Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-25T02:27:34:170295"
VERSION = "1.38.0"
DESCRIPTION = "outbox_lease: a claim is a narrow row of its own instead of a new version of the ledger row"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="salescopilot", description=DESCRIPTION
    )

    manager.add_table(
        class_name="OutboxLease",
        tablename="outbox_lease",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="OutboxLease",
        tablename="outbox_lease",
        column_name="id",
        db_column_name="id",
        column_class_name="UUID",
        column_class=UUID,
        params={
            "default": UUID4(),
            "null": False,
            "primary_key": True,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="OutboxLease",
        tablename="outbox_lease",
        column_name="tenant",
        db_column_name="tenant",
        column_class_name="UUID",
        column_class=UUID,
        params={
            "default": UUID4(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="OutboxLease",
        tablename="outbox_lease",
        column_name="mailbox",
        db_column_name="mailbox",
        column_class_name="UUID",
        column_class=UUID,
        params={
            "default": UUID4(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="OutboxLease",
        tablename="outbox_lease",
        column_name="recipient_domain",
        db_column_name="recipient_domain",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 253,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="OutboxLease",
        tablename="outbox_lease",
        column_name="owner",
        db_column_name="owner",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="OutboxLease",
        tablename="outbox_lease",
        column_name="lease_until",
        db_column_name="lease_until",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzNow(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="OutboxLease",
        tablename="outbox_lease",
        column_name="reserved_at",
        db_column_name="reserved_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzNow(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    async def release_claims():
        """Claims of the old kind (`state = 'claimed'` on the ledger row) are given back to the
        queue: nothing was handed to a server yet, and the next claim leases them anew. Per
        tenant, so row-level security, where it binds the migrating role, lets the rows through.
        The ledger's old partial index on claimed rows goes; `handing_off` replaces it."""
        from piccolo.apps.migrations.tables import Migration

        postgres = Migration._meta.db.engine_type == "postgres"
        for tenant in await Migration.raw("SELECT id FROM tenant"):
            if postgres:
                await Migration.raw("SELECT set_config('app.tenant_id', {}, true)", str(tenant["id"]))
            await Migration.raw(
                "UPDATE outbox_message SET state = 'queued', lease_owner = '', lease_until = NULL, "
                "reserved_at = NULL WHERE tenant = {} AND state = 'claimed'",
                tenant["id"] if postgres else str(tenant["id"]),
            )
        await Migration.raw("DROP INDEX IF EXISTS outbox_message_leased_idx")

    manager.add_raw(release_claims)
    return manager
