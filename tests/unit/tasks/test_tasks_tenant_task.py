"""`@tenant_task`: the body runs for exactly the tenant it was enqueued for, or not at all."""

from __future__ import annotations

import uuid

import pytest
import structlog
from piccolo.columns import Varchar
from piccolo.table import Table

from salescopilot.db.engine import engine_from_url, get_engine, is_postgres
from salescopilot.db.schema import TENANT_PREDICATE
from salescopilot.tasks import (
    TaskTenantInactive,
    TaskTenantInvalid,
    TaskTenantNotFound,
    enqueue_for_active_tenants,
    tenant_task,
)
from salescopilot.errors import TenantNotResolved
from salescopilot.tenancy.context import current_tenant, tenant_scope
from salescopilot.tenancy.repository import TenantRepository
from salescopilot.tenancy.tables import Tenant, TenantOwned

pytestmark = pytest.mark.usefixtures("task_log")


class TaskProbeNote(TenantOwned, Table, tablename="task_probe_note"):
    """A tenant-owned table that exists only in these tests."""

    body = Varchar(length=100)


class ProbeNotes(TenantRepository[TaskProbeNote]):
    table = TaskProbeNote


seen: list[dict] = []


@tenant_task("testtasks.whoami")
async def whoami(tenant_id: uuid.UUID, note: str = "") -> dict:
    tenant = current_tenant()
    context = structlog.contextvars.get_contextvars()
    seen.append({"tenant": tenant, "note": note})
    return {
        "tenant_id": str(tenant.id),
        "slug": tenant.slug,
        "argument": str(tenant_id),
        "log_tenant_id": context.get("tenant_id"),
        "log_task": context.get("task"),
    }


@tenant_task("testtasks.read_notes")
async def read_notes(tenant_id: uuid.UUID) -> dict:
    notes = await ProbeNotes().find()
    raw = None
    if is_postgres(get_engine()):
        # Bypasses the repository on purpose: row-level security alone must hide other tenants.
        raw = sorted(row["body"] for row in await TaskProbeNote.select(TaskProbeNote.body))
    return {"repository": sorted(n.body for n in notes), "raw": raw}


async def create_probe_table(settings) -> None:
    """Create the probe table: on SQLite through the app engine; on PostgreSQL as the owner, with
    the same row-level security policy every tenant-owned table gets."""
    engine = get_engine()
    TaskProbeNote._meta.db = engine
    if not is_postgres(engine):
        await TaskProbeNote.create_table(if_not_exists=True)
        return
    owner = engine_from_url(settings.database.migration_url)
    role = settings.database.app_role
    for statement in [
        (
            "CREATE TABLE IF NOT EXISTS task_probe_note "
            "(id uuid PRIMARY KEY, tenant uuid NOT NULL, body varchar(100) NOT NULL)"
        ),
        "DELETE FROM task_probe_note",
        "ALTER TABLE task_probe_note ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE task_probe_note FORCE ROW LEVEL SECURITY",
        "DROP POLICY IF EXISTS task_probe_note_tenant ON task_probe_note",
        (
            "CREATE POLICY task_probe_note_tenant ON task_probe_note "
            f"USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})"
        ),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON task_probe_note TO {role}",
    ]:
        await owner._run_in_new_connection(statement)


async def test_the_body_runs_inside_the_tenant_it_was_enqueued_for(broker, tenant_a, tenant_b):
    task = await whoami.kiq(tenant_a.id, note="hello")
    result = await task.wait_result(timeout=5)

    assert not result.is_err, result.error
    assert result.return_value == {
        "tenant_id": str(tenant_a.id),
        "slug": "acme",
        "argument": str(tenant_a.id),
        "log_tenant_id": str(tenant_a.id),
        "log_task": "testtasks.whoami",
    }


async def test_a_task_enqueued_inside_another_tenants_request_runs_for_its_own_tenant(
    broker, tenant_a, tenant_b
):
    # Enqueued from inside tenant B's scope (a web request of B): the task must not inherit B's
    # context or transaction.
    async with tenant_scope(tenant_b):
        task = await whoami.kiq(tenant_a.id)
    result = await task.wait_result(timeout=5)
    assert not result.is_err, result.error
    assert result.return_value["slug"] == "acme"
    with pytest.raises(TenantNotResolved):
        current_tenant()


async def test_the_tenant_id_may_arrive_as_a_string(broker, tenant_a):
    task = await whoami.kiq(str(tenant_a.id))
    result = await task.wait_result(timeout=5)
    assert result.return_value["tenant_id"] == str(tenant_a.id)


async def test_an_unknown_tenant_is_refused_without_retrying(broker, tenant_a, task_log):
    task = await whoami.kiq(uuid.uuid4())
    result = await task.wait_result(timeout=5)

    assert result.is_err
    assert isinstance(result.error, TaskTenantNotFound)
    assert broker.sleep.delays == []  # not retried
    [dead] = task_log.named("task.dead_lettered")
    assert dead["reason"] == "not_retryable"
    assert dead["error_code"] == "TASK_TENANT_NOT_FOUND"


async def test_a_suspended_tenant_is_refused(broker, tenant_a):
    await Tenant.update({Tenant.status: "suspended"}).where(Tenant.id == tenant_a.id)
    calls_before = len(seen)

    task = await whoami.kiq(tenant_a.id)
    result = await task.wait_result(timeout=5)

    assert isinstance(result.error, TaskTenantInactive)
    assert "suspended" in str(result.error)
    assert len(seen) == calls_before  # the body never ran


@pytest.mark.parametrize("bad", ["not-a-uuid", "", "'; drop table tenant; --", 42, None])
async def test_a_malformed_tenant_id_is_refused(db, bad):
    with pytest.raises(TaskTenantInvalid):
        await whoami(bad)


async def test_a_task_cannot_read_another_tenants_rows(broker, settings, tenant_a, tenant_b):
    await create_probe_table(settings)
    async with tenant_scope(tenant_a):
        await ProbeNotes().add(TaskProbeNote(body="a-secret"))
    async with tenant_scope(tenant_b):
        await ProbeNotes().add(TaskProbeNote(body="b-secret"))

    result_a = await (await read_notes.kiq(tenant_a.id)).wait_result(timeout=5)
    result_b = await (await read_notes.kiq(tenant_b.id)).wait_result(timeout=5)

    assert not result_a.is_err, result_a.error
    assert result_a.return_value["repository"] == ["a-secret"]
    assert result_b.return_value["repository"] == ["b-secret"]
    if is_postgres(get_engine()):
        assert result_a.return_value["raw"] == ["a-secret"]
        assert result_b.return_value["raw"] == ["b-secret"]


async def test_calling_a_task_directly_runs_it_in_place_with_the_same_checks(db, tenant_a):
    assert (await whoami(tenant_a.id))["slug"] == "acme"
    with pytest.raises(TaskTenantNotFound):
        await whoami(uuid.uuid4())


async def test_fan_out_enqueues_once_per_active_tenant(broker, tenant_a, tenant_b):
    await Tenant.update({Tenant.status: "suspended"}).where(Tenant.id == tenant_b.id)
    seen.clear()

    count = await enqueue_for_active_tenants(whoami, note="fan-out")
    await broker.wait_all()

    assert count == 1
    assert [(s["tenant"].slug, s["note"]) for s in seen] == [("acme", "fan-out")]
