import pytest

from tests.integration.sso.sso_support import SpKeyPool

_POOL = SpKeyPool()


@pytest.fixture(autouse=True)
def _pooled_sp_keys(monkeypatch):
    monkeypatch.setattr("salescopilot.sso.service.keys.new_sp_key_pair", _POOL)
