"""An owner with an API key on tenant A, for the leads, suppression and template API tests."""

from __future__ import annotations

import pytest

from tests.integration.web.web_support import make_caller


@pytest.fixture
async def owner(app, tenant_a):
    return await make_caller(app, tenant_a, "olga@acme.test", "owner")
