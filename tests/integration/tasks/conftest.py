"""Fixtures for the Redis broker: settings pointing at the test Redis with a queue of its own."""

from __future__ import annotations

import uuid

import pytest

from salescopilot.settings import get_settings


@pytest.fixture
def redis_env(settings, redis_url, monkeypatch) -> dict[str, str]:
    """Scale-out settings for this test (also in the environment, for worker subprocesses): the
    redis broker, a unique queue, short delays so retries and redelivery happen within seconds."""
    env = {
        "SALESCOPILOT_TASKS__BROKER": "redis",
        "SALESCOPILOT_REDIS__URL": redis_url,
        "SALESCOPILOT_TASKS__QUEUE": f"sctest:{uuid.uuid4().hex[:12]}",
        "SALESCOPILOT_TASKS__REDELIVERY_TIMEOUT": "2",
        "SALESCOPILOT_TASKS__RETRY_BASE_DELAY": "0.2",
        "SALESCOPILOT_TASKS__RETRY_MAX_DELAY": "0.5",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return env


@pytest.fixture
def redis_settings(redis_env):
    return get_settings()
