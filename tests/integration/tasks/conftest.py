"""Fixtures for the Redis broker: the settings of `redis_env` (tests/conftest.py)."""

from __future__ import annotations


import pytest

from salescopilot.settings import get_settings


@pytest.fixture
def redis_settings(redis_env):
    return get_settings()
