"""Only repositories query tenant-owned tables (DESIGN.md section 3, layer 3): no query builder
called on a tenant-owned table class, and no SQL naming one, anywhere else in the core or the
plugins. Row-level security backs this up on PostgreSQL; on SQLite it is the only guard."""

from __future__ import annotations

from salescopilot.db.schema import tenant_owned_tables
from tests.architecture.code_rules import CORE, PLUGINS, ROOT, python_files, tenant_queries

CLASSES = frozenset(t.__name__ for t in tenant_owned_tables())
TABLES = frozenset(t._meta.tablename for t in tenant_owned_tables())


def check(source: str, path: str) -> list[str]:
    return tenant_queries(source, path, CLASSES, TABLES)


def test_no_query_on_a_tenant_owned_table_outside_a_repository():
    assert {"ApiKey", "Membership", "Invite", "AuditEntry"} <= CLASSES
    offences = []
    for path in python_files(CORE, PLUGINS):
        offences += check(path.read_text(), str(path.relative_to(ROOT)))
    assert not offences, "\n".join(offences)


VIOLATION = """
import salescopilot.accounts.tables as tables
from salescopilot.accounts.tables import ApiKey as Key, User
from salescopilot.audit import AuditEntry

async def leak(tenant_id):
    keys = await Key.select().where(Key.name == "ci")
    await tables.Membership.delete().where(tables.Membership.role == "owner")
    await AuditEntry.objects().first()
    await Key.raw("SELECT * FROM api_key")
    rows = await engine.run('update "membership" set role = $1', "owner")
    await User.select()
    key = Key(name="fine: a constructor, not a query")
    await key.save()
"""


def test_the_check_catches_a_deliberate_violation():
    offences = check(VIOLATION, "platform/salescopilot/leads/service.py")
    lines = sorted(int(o.split(":")[1]) for o in offences)
    assert lines == [7, 8, 9, 10, 10, 11], offences


def test_the_check_allows_repositories_schema_and_migrations():
    for path in (
        "platform/salescopilot/leads/repository.py",
        "platform/salescopilot/db/schema.py",
        "platform/salescopilot/db/migrations/salescopilot_2026_01_01.py",
    ):
        assert check(VIOLATION, path) == []


def test_the_check_leaves_other_tables_and_names_alone():
    source = """
from salescopilot.accounts.tables import User, UserTenant
from somewhere_else import ApiKey

async def fine():
    await User.select()
    await UserTenant.delete().where(UserTenant.user == 1)
    await ApiKey.select()
    text = "select the key you want from the list"
"""
    assert check(source, "platform/salescopilot/accounts/service.py") == []
