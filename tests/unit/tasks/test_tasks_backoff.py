"""Backoff timing and the retry decision, as pure functions (no clock, no sleeping)."""

from __future__ import annotations

import random

import pytest

from salescopilot.errors import Conflict, DomainError, NotFound
from salescopilot.settings import TaskSettings
from salescopilot.tasks.registry import TaskPolicy
from salescopilot.tasks.retry import (
    MAX_DELAY_SECONDS,
    RetrySettings,
    backoff_delay,
    delay_seconds,
    is_retryable,
)


class ServerTrouble(DomainError):
    code = "UPSTREAM"
    status_code = 502


def test_the_ceiling_doubles_from_the_base_delay_up_to_the_maximum():
    class Top(random.Random):
        def uniform(self, a, b):  # always the top of the jitter range: the ceiling itself
            return b

    delays = [backoff_delay(n, base=2.0, maximum=60.0, rng=Top()) for n in range(1, 8)]
    assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_jitter_stays_within_the_upper_half_of_the_ceiling():
    rng = random.Random(1)
    for attempt in range(1, 12):
        ceiling = min(600.0, 2.0 * 2 ** (attempt - 1))
        for _ in range(50):
            delay = backoff_delay(attempt, base=2.0, maximum=600.0, rng=rng)
            assert ceiling / 2 <= delay <= ceiling


def test_jitter_spreads_tasks_that_failed_together():
    rng = random.Random(3)
    delays = {round(backoff_delay(4, base=2.0, maximum=600.0, rng=rng), 6) for _ in range(20)}
    assert len(delays) == 20


def test_the_same_seed_gives_the_same_schedule():
    first = [backoff_delay(n, base=1.5, maximum=90, rng=random.Random(42)) for n in range(1, 6)]
    again = [backoff_delay(n, base=1.5, maximum=90, rng=random.Random(42)) for n in range(1, 6)]
    assert first == again


def test_huge_attempt_numbers_do_not_overflow():
    assert backoff_delay(10_000, base=2.0, maximum=600.0, rng=random.Random(0)) <= 600.0


def test_attempts_count_from_one():
    with pytest.raises(ValueError):
        backoff_delay(0, base=2.0, maximum=60.0, rng=random.Random(0))


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, 0.0),
        ({"delay": 2.5}, 2.5),
        ({"delay": "3"}, 3.0),
        ({"delay": ""}, 0.0),
        ({"delay": "soon"}, 0.0),
        ({"delay": -5}, 0.0),
        ({"delay": "nan"}, 0.0),
        ({"delay": "inf"}, 0.0),
        ({"delay": 10**12}, MAX_DELAY_SECONDS),
        ({"delay": [1]}, 0.0),
    ],
)
def test_the_delay_label_is_read_defensively(labels, expected):
    assert delay_seconds(labels) == expected


def test_client_errors_are_not_retried_but_server_errors_are():
    assert not is_retryable(NotFound(), None)
    assert not is_retryable(Conflict(), None)
    assert is_retryable(ServerTrouble(), None)
    assert is_retryable(ConnectionError("reset"), None)
    assert is_retryable(TimeoutError(), None)


def test_a_task_can_declare_its_own_non_retryable_errors():
    policy = TaskPolicy(no_retry_on=(KeyError,))
    assert not is_retryable(KeyError("x"), policy)
    assert is_retryable(ValueError("x"), policy)


def test_retry_settings_come_from_the_task_settings_and_are_validated():
    settings = RetrySettings.from_settings(TaskSettings(max_retries=3, retry_base_delay=1.0))
    assert (settings.max_retries, settings.base_delay, settings.max_delay) == (3, 1.0, 600.0)
    with pytest.raises(ValueError):
        RetrySettings.from_settings(TaskSettings(retry_base_delay=0))
    with pytest.raises(ValueError):
        RetrySettings.from_settings(TaskSettings(max_retries=-1))
