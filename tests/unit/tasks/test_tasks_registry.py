"""Declaring tasks: stable names, one function per name, checked signatures and schedules."""

from __future__ import annotations

import sys
import types
import uuid

import pytest

from salescopilot.plugin_system.interfaces import TaskDefinition
from salescopilot.tasks import TaskNameTaken, find_task, system_task, tenant_task
from salescopilot.tasks import worker as worker_module
from salescopilot.tasks.registry import register_task


@pytest.mark.parametrize(
    "name", ["send_due", "Outbox.send", "outbox.", ".send", "outbox send", "outbox.send-due", ""]
)
def test_task_names_must_be_dotted_and_lowercase(name):
    with pytest.raises(ValueError):

        @system_task(name)
        async def job() -> None: ...


def test_a_name_belongs_to_one_function():
    @system_task("testregistry.unique")
    async def first() -> None: ...

    with pytest.raises(TaskNameTaken, match="testregistry.unique"):

        @system_task("testregistry.unique")
        async def second() -> None: ...


def test_registering_the_same_function_again_returns_the_same_task():
    async def job() -> None: ...

    first = system_task("testregistry.again")(job)
    assert system_task("testregistry.again")(job) is first
    assert find_task("testregistry.again") is first


def test_tenant_tasks_take_the_tenant_id_first():
    with pytest.raises(TypeError, match="tenant_id"):

        @tenant_task("testregistry.no_tenant")
        async def job(lead_id: str) -> None: ...


def test_tasks_must_be_async():
    with pytest.raises(TypeError, match="async"):

        @system_task("testregistry.sync")
        def job() -> None: ...


@pytest.mark.parametrize(
    "cron",
    [
        "every minute",
        "* * * *",
        "61 * * * *",
        "* * * * * *",
        "*/0 * * * *",
        "5-2 * * * *",
        "* * 0 * *",
        "* * * 13 *",
    ],
)
def test_a_bad_cron_is_refused_at_declaration(cron):
    with pytest.raises(ValueError, match="cron"):

        @system_task(f"testregistry.cron_{uuid.uuid4().hex[:6]}", cron=cron)
        async def job() -> None: ...


def test_retry_options_are_checked():
    with pytest.raises(ValueError):
        tenant_task("testregistry.bad_retries", max_retries=-1)
    with pytest.raises(TypeError):
        tenant_task("testregistry.bad_types", no_retry_on=("KeyError",))


def test_a_scheduled_system_task_carries_its_schedule_label():
    @system_task("testregistry.nightly", cron="0 3 * * *")
    async def nightly() -> None: ...

    assert nightly.labels["schedule"] == [
        {"cron": "0 3 * * *", "schedule_id": "testregistry.nightly"}
    ]
    assert nightly.policy.cron == "0 3 * * *"


def test_register_task_validates_names_directly():
    async def body() -> None: ...

    with pytest.raises(ValueError):
        register_task("BAD", body, body=body, policy=None)  # type: ignore[arg-type]


def test_domain_task_modules_are_found_on_disk():
    names = worker_module.domain_task_modules()
    assert all(n.startswith("salescopilot.") and n.endswith(".tasks") for n in names)
    assert "salescopilot.tasks.tasks" not in names


@pytest.fixture
def plugin_manager(monkeypatch):
    """A stand-in `salescopilot.plugin_system.manager` whose `register_tasks` returns what a test
    puts in `results`."""
    results: list = []
    hook = types.SimpleNamespace(register_tasks=lambda: list(results))
    manager = types.SimpleNamespace(hook=hook)
    module = types.ModuleType("salescopilot.plugin_system.manager")
    module.get_plugin_manager = lambda: manager
    monkeypatch.setitem(sys.modules, "salescopilot.plugin_system.manager", module)
    monkeypatch.setattr(worker_module, "_loaded", False)
    return results


async def sync_contacts(tenant_id: uuid.UUID) -> int:
    return 1


async def prune_cache() -> None:
    return None


def test_plugin_task_definitions_are_registered(plugin_manager):
    plugin_manager.append(
        [
            TaskDefinition(
                name="crm_probe.sync_contacts", function=sync_contacts, schedule="*/15 * * * *"
            ),
            TaskDefinition(name="crm_probe.prune_cache", function=prune_cache, per_tenant=False),
        ]
    )
    tasks = worker_module.load_all_tasks()

    assert tasks["crm_probe.sync_contacts"].policy.tenant_scoped
    fan_out = tasks["crm_probe.sync_contacts.fan_out"]
    assert fan_out.labels["schedule"][0]["cron"] == "*/15 * * * *"
    assert not tasks["crm_probe.prune_cache"].policy.tenant_scoped
    # Loading twice (parent, then a worker process) registers nothing twice.
    worker_module._loaded = False
    assert (
        worker_module.load_all_tasks()["crm_probe.sync_contacts"]
        is tasks["crm_probe.sync_contacts"]
    )


def test_plugin_module_names_are_imported(plugin_manager):
    plugin_manager.append(["json"])
    worker_module.load_all_tasks()
    assert "json" in sys.modules


def test_a_bad_plugin_contribution_is_an_error(plugin_manager):
    plugin_manager.append([42])
    with pytest.raises(TypeError, match="register_tasks"):
        worker_module.load_all_tasks()


def test_a_missing_plugin_manager_is_tolerated(monkeypatch):
    monkeypatch.setitem(sys.modules, "salescopilot.plugin_system.manager", None)
    assert worker_module.plugin_task_contributions() == []


@pytest.mark.parametrize(
    "cron", ["* * * * *", "*/5 * * * *", "0 3 * * mon-fri", "15,45 8-18/2 1 1-12 0"]
)
def test_ordinary_crons_are_accepted(cron):
    @system_task(f"testregistry.ok_{uuid.uuid4().hex[:6]}", cron=cron)
    async def job() -> None: ...

    assert job.policy.cron == cron
