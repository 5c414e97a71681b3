"""Retries through the embedded broker: backoff delays, limits, non-retryable errors and the dead
letter. The broker's sleep is a recorder, so nothing here waits."""

from __future__ import annotations

import random
import uuid

from salescopilot.errors import NotFound
from salescopilot.tasks import backoff_delay, system_task, tenant_task
from salescopilot.tasks.retry import ATTEMPT_LABEL

attempts: dict[str, int] = {}


class Flaky(Exception):
    pass


class BadRecord(Exception):
    pass


@system_task("testtasks.flaky")
async def flaky(key: str, failures: int) -> int:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] <= failures:
        raise Flaky(f"failure {attempts[key]}")
    return attempts[key]


@system_task("testtasks.twice_at_most", max_retries=1)
async def twice_at_most(key: str) -> None:
    attempts[key] = attempts.get(key, 0) + 1
    raise Flaky("always")


@system_task("testtasks.picky", no_retry_on=(BadRecord,))
async def picky(key: str, error: str) -> None:
    attempts[key] = attempts.get(key, 0) + 1
    raise BadRecord("bad") if error == "bad" else Flaky("flaky")


@tenant_task("testtasks.missing_lead")
async def missing_lead(tenant_id: uuid.UUID, key: str) -> None:
    attempts[key] = attempts.get(key, 0) + 1
    raise NotFound("lead not found")


def expected_delays(count: int, settings) -> list[float]:
    rng = random.Random(7)  # the seed the broker fixture gives the retry middleware
    return [
        round(
            backoff_delay(
                n,
                base=settings.tasks.retry_base_delay,
                maximum=settings.tasks.retry_max_delay,
                rng=rng,
            ),
            3,
        )
        for n in range(1, count + 1)
    ]


async def test_a_failing_task_is_retried_with_backoff_until_it_succeeds(broker, settings, task_log):
    key = uuid.uuid4().hex
    task = await flaky.kiq(key, failures=3)
    result = await task.wait_result(timeout=5)

    assert not result.is_err, result.error
    assert result.return_value == 4
    assert broker.sleep.delays == expected_delays(3, settings)
    assert broker.sleep.delays[0] < broker.sleep.delays[1] < broker.sleep.delays[2]
    retries = task_log.named("task.retry_scheduled")
    assert [r["retry"] for r in retries] == [1, 2, 3]
    assert all(r["task_id"] == task.task_id for r in retries)
    assert task_log.named("task.dead_lettered") == []


async def test_the_result_waits_for_the_final_attempt_under_the_same_task_id(broker):
    key = uuid.uuid4().hex
    task = await flaky.kiq(key, failures=1)
    result = await task.wait_result(timeout=5)
    assert result.return_value == 2
    assert result.labels[ATTEMPT_LABEL] == 1


async def test_after_the_last_retry_the_task_is_dead_lettered(broker, settings, task_log):
    key = uuid.uuid4().hex
    max_retries = settings.tasks.max_retries
    task = await flaky.kiq(key, failures=100)
    result = await task.wait_result(timeout=5)

    assert result.is_err
    assert attempts[key] == max_retries + 1
    assert len(broker.sleep.delays) == max_retries
    [dead] = task_log.named("task.dead_lettered")
    assert dead["reason"] == "retries_exhausted"
    assert dead["tries"] == max_retries + 1
    assert dead["task"] == "testtasks.flaky"
    assert dead["error_type"] == "Flaky"
    assert dead["level"] == "error"


async def test_a_task_can_lower_its_retry_limit(broker, task_log):
    key = uuid.uuid4().hex
    result = await (await twice_at_most.kiq(key)).wait_result(timeout=5)
    assert result.is_err
    assert attempts[key] == 2
    assert task_log.named("task.dead_lettered")[0]["tries"] == 2


async def test_domain_errors_below_500_are_not_retried(broker, tenant_a, task_log):
    key = uuid.uuid4().hex
    result = await (await missing_lead.kiq(tenant_a.id, key)).wait_result(timeout=5)

    assert isinstance(result.error, NotFound)
    assert attempts[key] == 1
    assert broker.sleep.delays == []
    [dead] = task_log.named("task.dead_lettered")
    assert (dead["reason"], dead["tenant_id"]) == ("not_retryable", str(tenant_a.id))


async def test_a_tasks_own_non_retryable_errors_fail_at_once(broker, task_log):
    bad, flaky_key = uuid.uuid4().hex, uuid.uuid4().hex
    await (await picky.kiq(bad, "bad")).wait_result(timeout=5)
    await (await picky.kiq(flaky_key, "flaky")).wait_result(timeout=5)
    assert attempts[bad] == 1
    assert attempts[flaky_key] > 1


async def test_a_hostile_attempt_label_cannot_buy_extra_retries(broker):
    key = uuid.uuid4().hex
    kicker = flaky.kicker().with_labels(**{ATTEMPT_LABEL: "-50"})
    result = await (await kicker.kiq(key, failures=100)).wait_result(timeout=5)
    assert result.is_err
    assert attempts[key] <= 6
