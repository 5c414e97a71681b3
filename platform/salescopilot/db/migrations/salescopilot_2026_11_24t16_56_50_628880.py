from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import UUID

ID = "2026-11-24T16:56:50:628880"
VERSION = "1.38.0"
DESCRIPTION = "Lead: no index on the tenant alone"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="salescopilot", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="Lead",
        tablename="lead",
        column_name="tenant",
        db_column_name="tenant",
        params={"index": False},
        old_params={"index": True},
        column_class=UUID,
        old_column_class=UUID,
        schema=None,
    )

    return manager
