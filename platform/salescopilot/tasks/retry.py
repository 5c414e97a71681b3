"""Retries with exponential backoff, and the dead letter.

A failed task is enqueued again with a `delay` label (seconds) that both brokers honour: the
embedded broker sleeps before running it, the Redis broker parks it in a sorted set until due
(see `redis_stream.py`). taskiq 0.13 itself has no delayed delivery: its `SmartRetryMiddleware`
sets the same `delay` label but neither `InMemoryBroker` nor taskiq-redis's stream broker reads it.

Not retried: a `DomainError` with a status below 500 (the input or the state is wrong, so trying
again cannot help), and the exception types a task lists in `no_retry_on`. After the last try the
failure is logged as `task.dead_lettered`; the message is acknowledged and its failed result stored.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import structlog
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq.exceptions import NoResultError
from taskiq.kicker import AsyncKicker

from salescopilot.errors import DomainError
from salescopilot.settings import TaskSettings
from salescopilot.tasks.registry import TaskPolicy, find_task

log = structlog.get_logger("salescopilot.tasks")

#: Wire labels. `retry_attempt` counts retries already made (0 on the first try).
ATTEMPT_LABEL = "retry_attempt"
DELAY_LABEL = "delay"
#: Longest delay a message may ask for; anything larger is clamped (hostile or buggy labels).
MAX_DELAY_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True)
class RetrySettings:
    max_retries: int
    base_delay: float
    max_delay: float

    @classmethod
    def from_settings(cls, tasks: TaskSettings) -> RetrySettings:
        if tasks.max_retries < 0 or tasks.retry_base_delay <= 0 or tasks.retry_max_delay <= 0:
            raise ValueError("tasks.max_retries must be >= 0 and retry delays > 0")
        return cls(tasks.max_retries, tasks.retry_base_delay, tasks.retry_max_delay)


def backoff_delay(attempt: int, *, base: float, maximum: float, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (1 = the first retry).

    The ceiling doubles from `base` up to `maximum`; the delay is drawn from the ceiling's upper
    half ("equal jitter"), so tasks that failed together (a provider outage) come back spread out
    rather than in lockstep, while each retry still waits at least half its ceiling.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    ceiling = min(maximum, base * 2 ** min(attempt - 1, 60))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def delay_seconds(labels: dict[str, Any]) -> float:
    """The `delay` label as a finite, non-negative number of seconds (0 when absent or garbage)."""
    raw = labels.get(DELAY_LABEL)
    if raw in (None, ""):
        return 0.0
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(value) or value <= 0:
        return 0.0
    return min(value, MAX_DELAY_SECONDS)


def is_retryable(error: BaseException, policy: TaskPolicy | None) -> bool:
    if isinstance(error, NoResultError):
        return False
    if isinstance(error, DomainError) and error.status_code < 500:
        return False
    return not (policy is not None and isinstance(error, policy.no_retry_on))


class RetryMiddleware(TaskiqMiddleware):
    """Re-enqueues failed tasks with exponential backoff; logs the dead letter."""

    def __init__(self, settings: RetrySettings, *, rng: random.Random | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.rng = rng or random.Random()

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        # Each message runs in its own asyncio task (its own context copy), so these bindings
        # stay with this message's log lines.
        structlog.contextvars.bind_contextvars(
            task=message.task_name,
            task_id=message.task_id,
            attempt=_attempt(message) + 1,
        )
        return message

    async def on_error(
        self, message: TaskiqMessage, result: TaskiqResult[Any], exception: BaseException
    ) -> None:
        task = find_task(message.task_name)
        policy = task.policy if task is not None else None
        attempt = _attempt(message)
        max_retries = self.settings.max_retries
        if policy is not None and policy.max_retries is not None:
            max_retries = policy.max_retries

        if isinstance(exception, NoResultError):
            return
        if not is_retryable(exception, policy):
            self._dead_letter(message, exception, attempt, reason="not_retryable")
            return
        if attempt >= max_retries:
            self._dead_letter(message, exception, attempt, reason="retries_exhausted")
            return

        delay = backoff_delay(
            attempt + 1,
            base=self.settings.base_delay,
            maximum=self.settings.max_delay,
            rng=self.rng,
        )
        # Same task id, so whoever waits on the result gets the final outcome.
        kicker = (
            AsyncKicker(
                task_name=message.task_name, broker=self.broker, labels=dict(message.labels)
            )
            .with_task_id(message.task_id)
            .with_labels(**{ATTEMPT_LABEL: attempt + 1, DELAY_LABEL: round(delay, 3)})
        )
        try:
            await kicker.kiq(*message.args, **message.kwargs)
        except Exception:
            # Leave the message unacknowledged: on Redis it is redelivered after the redelivery
            # timeout, which is a retry too.
            log.exception(
                "task.retry_enqueue_failed", task=message.task_name, task_id=message.task_id
            )
            raise
        log.warning(
            "task.retry_scheduled",
            task=message.task_name,
            task_id=message.task_id,
            tenant_id=_tenant_id(message, policy),
            retry=attempt + 1,
            max_retries=max_retries,
            delay_seconds=round(delay, 3),
            error_type=type(exception).__name__,
            error=str(exception)[:500],
        )
        # An intermediate failure is not the task's result: do not store it.
        result.error = NoResultError()

    def _dead_letter(
        self, message: TaskiqMessage, error: BaseException, attempt: int, *, reason: str
    ) -> None:
        policy = task.policy if (task := find_task(message.task_name)) else None
        log.error(
            "task.dead_lettered",
            task=message.task_name,
            task_id=message.task_id,
            tenant_id=_tenant_id(message, policy),
            reason=reason,
            tries=attempt + 1,
            error_type=type(error).__name__,
            error_code=getattr(error, "code", None),
            error=str(error)[:500],
        )


def _attempt(message: TaskiqMessage) -> int:
    try:
        return max(0, int(message.labels.get(ATTEMPT_LABEL, 0)))
    except (TypeError, ValueError):
        return 0


def _tenant_id(message: TaskiqMessage, policy: TaskPolicy | None) -> str | None:
    if policy is None or not policy.tenant_scoped:
        return None
    if message.args:
        return str(message.args[0])[:64]
    value = message.kwargs.get("tenant_id")
    return None if value is None else str(value)[:64]
