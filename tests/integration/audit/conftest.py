"""Fixtures of the audit tests (helpers live in `audit_support`)."""

from __future__ import annotations

import pytest
from tests.integration.audit.audit_support import Tamper

from salescopilot.audit.service import AuditService
from salescopilot.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def audit(clock, settings) -> AuditService:
    return AuditService(clock)


@pytest.fixture
def tamper(database_url) -> Tamper:
    return Tamper(database_url)
