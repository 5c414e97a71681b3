import pytest
from pydantic import ValidationError

from salescopilot.settings import DEFAULT_SECRET_KEY, Settings


def test_production_refuses_the_default_secret_key(monkeypatch):
    monkeypatch.setenv("SALESCOPILOT_ENVIRONMENT", "production")
    monkeypatch.delenv("SALESCOPILOT_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="SALESCOPILOT_SECRET_KEY"):
        Settings()


def test_production_refuses_a_short_secret_key(monkeypatch):
    monkeypatch.setenv("SALESCOPILOT_ENVIRONMENT", "production")
    monkeypatch.setenv("SALESCOPILOT_SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="32 characters"):
        Settings()


def test_production_starts_with_a_strong_key_and_secure_cookies(monkeypatch):
    monkeypatch.setenv("SALESCOPILOT_ENVIRONMENT", "production")
    monkeypatch.setenv("SALESCOPILOT_SECRET_KEY", "x" * 40)
    settings = Settings()
    assert settings.is_production and settings.secure_cookies


def test_development_accepts_the_default_key():
    assert Settings(environment="development").secret_key.get_secret_value() == DEFAULT_SECRET_KEY


def test_nested_settings_come_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SALESCOPILOT_DATABASE__URL", "postgresql://app@db:5432/sales")
    monkeypatch.setenv("SALESCOPILOT_REDIS__URL", "redis://cache:6379/0")
    monkeypatch.setenv("SALESCOPILOT_TASKS__BROKER", "redis")
    settings = Settings()
    assert settings.database.is_postgres and settings.tasks.broker == "redis"


def test_redis_brokers_and_sessions_need_a_redis_url(monkeypatch):
    monkeypatch.delenv("SALESCOPILOT_REDIS__URL", raising=False)
    monkeypatch.setenv("SALESCOPILOT_SESSIONS__STORE", "redis")
    with pytest.raises(ValidationError, match="REDIS__URL"):
        Settings()


def test_secrets_are_masked_when_settings_are_shown(monkeypatch):
    monkeypatch.setenv("SALESCOPILOT_SECRET_KEY", "super-secret-value-that-must-not-show")
    monkeypatch.setenv("SALESCOPILOT_ENCRYPTION_KEYS", '["another-secret-value"]')
    shown = str(Settings().masked())
    assert "super-secret" not in shown and "another-secret" not in shown
    assert "**********" in shown


def test_the_settings_command_prints_masked_json(monkeypatch):
    from click.testing import CliRunner

    from salescopilot.cli import main
    from salescopilot.settings import get_settings

    monkeypatch.setenv("SALESCOPILOT_SECRET_KEY", "super-secret-value-that-must-not-show")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["settings"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0 and "super-secret" not in result.output


def test_the_default_sqlite_database_lives_in_var_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("SALESCOPILOT_DATABASE__URL", raising=False)
    monkeypatch.setenv("SALESCOPILOT_VAR_DIR", str(tmp_path))
    assert Settings().database.url == f"sqlite:///{tmp_path / 'salescopilot.db'}"
