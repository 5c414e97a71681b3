"""Tasks through a real Redis broker and real `salescopilot worker` / `salescopilot scheduler`
processes, started with this test's database and Redis queue in their environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from taskiq.exceptions import TaskiqResultTimeoutError

from salescopilot.tasks import create_broker, set_broker
from tests.integration.tasks import worker_probe_tasks as probe
from tests.processes import Service, running, salescopilot_command, wait_for

REPO = Path(__file__).resolve().parents[3]
#: Extra task modules the subprocesses import (the repository root is on their PYTHONPATH).
WORKER_PROBES = "tests.integration.tasks.worker_probe_tasks"
SCHEDULER_PROBES = "tests.integration.tasks.scheduler_probe_tasks"

pytestmark = pytest.mark.redis


@pytest.fixture
def spawn(redis_env, tmp_path):
    services: list[Service] = []

    def start(name: str, *args: str) -> Service:
        service = Service(list(args), tmp_path / f"{name}.log")
        services.append(service)
        return service

    yield start
    for service in services:
        if service.process.poll() is None:
            service.kill()


@pytest.fixture
async def client(redis_settings):
    """This process's broker: the client side of the same Redis queue."""
    broker = create_broker(redis_settings)
    await broker.startup()
    set_broker(broker)
    yield broker
    set_broker(None)
    await broker.shutdown()


@pytest.fixture
async def redis(redis_settings):
    connection = aioredis.Redis.from_url(redis_settings.redis.url)
    yield connection
    await connection.aclose()


async def result_of(task, *services: Service, timeout: float = 45):
    try:
        return await task.wait_result(timeout=timeout, check_interval=0.1)
    except TaskiqResultTimeoutError:
        logs = "\n".join(f"--- {s.log_path.name}\n{s.output()}" for s in services)
        pytest.fail(f"no result within {timeout}s\n{logs}")


async def test_a_tenant_task_runs_in_a_worker_process(spawn, client, tenant_a, tenant_b):
    worker = spawn("worker", "worker", "--workers", "1", WORKER_PROBES)

    result = await result_of(await probe.whoami.kiq(tenant_a.id), worker)

    assert not result.is_err, result.error
    assert result.return_value["tenant_id"] == str(tenant_a.id)
    assert result.return_value["slug"] == "acme"
    assert result.return_value["log_tenant_id"] == str(tenant_a.id)
    assert result.return_value["pid"] != os.getpid()

    result_b = await result_of(await probe.whoami.kiq(tenant_b.id), worker)
    assert result_b.return_value["slug"] == "globex"

    assert worker.stop() == 0, worker.output()


async def test_a_failing_task_is_retried_by_the_worker(spawn, client, tenant_a, tmp_path):
    worker = spawn("worker", "worker", WORKER_PROBES)

    task = await probe.fail_twice.kiq(tenant_a.id, str(tmp_path / "runs"))
    result = await result_of(task, worker)

    assert not result.is_err, result.error
    assert result.return_value == 3
    assert "task.retry_scheduled" in worker.output()
    assert worker.stop() == 0


@pytest.mark.slow
async def test_a_task_whose_worker_is_killed_is_redelivered_to_another(
    spawn, client, tenant_a, tmp_path
):
    marker = tmp_path / "runs"
    first = spawn("first", "worker", WORKER_PROBES)
    task = await probe.hang_first_time.kiq(tenant_a.id, str(marker), 300)

    async def started() -> bool:
        return marker.exists() and bool(marker.read_text().split())

    await wait_for(started, 45, "the first worker to start the task", first)
    [first_pid] = marker.read_text().split()
    first.kill()  # SIGKILL mid-task: no acknowledgement, no clean-up

    async def first_gone() -> bool:
        return not running(int(first_pid))

    await wait_for(first_gone, 10, "the killed worker process to disappear", first)

    second = spawn("second", "worker", WORKER_PROBES)
    result = await result_of(task, second)

    assert not result.is_err, result.error
    assert result.return_value["runs"] == [first_pid, str(result.return_value["pid"])]
    assert str(result.return_value["pid"]) != first_pid
    assert second.stop() == 0


@pytest.mark.slow
async def test_exactly_one_scheduler_runs_and_its_periodic_tasks_reach_workers(
    spawn, redis, redis_settings
):
    queue = redis_settings.tasks.queue
    lock_key = f"{queue}:scheduler-lock"
    scheduler = spawn("scheduler", "scheduler", SCHEDULER_PROBES)

    async def locked() -> bool:
        return bool(await redis.exists(lock_key))

    await wait_for(locked, 30, "the scheduler to take its lock", scheduler)

    second = spawn("second-scheduler", "scheduler", SCHEDULER_PROBES)
    assert second.process.wait(30) == 1, second.output()
    assert "another scheduler is running" in second.output()
    assert scheduler.process.poll() is None  # the first one is unaffected

    worker = spawn("worker", "worker", SCHEDULER_PROBES)

    async def ticked() -> bool:
        return await redis.llen(f"{queue}:ticks") >= 1

    await wait_for(ticked, 45, "the every-minute task to run on the worker", scheduler, worker)

    assert scheduler.stop() == 0, scheduler.output()
    assert not await redis.exists(lock_key)  # released on the way out
    assert worker.stop() == 0


def test_the_worker_refuses_to_start_in_embedded_mode(settings, tmp_path):
    completed = subprocess.run(
        salescopilot_command() + ["worker"],
        cwd=REPO,
        env={**os.environ, "SALESCOPILOT_TASKS__BROKER": "inmemory"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode != 0
    assert "SALESCOPILOT_TASKS__BROKER=redis" in completed.stderr
