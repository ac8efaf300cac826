"""The command line: settings errors are one clear line, and nothing secret is printed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli.main import main

ENV = {
    "BILLECTA_SYNC_ENV": "development",  # short keys and http:// URLs below
    "BILLECTA_API_BASE_URL": "http://127.0.0.1:8100/v1",
    "BILLECTA_API_AUTHENTICATION": "SecureToken c2VjcmV0LXRva2Vu",
    "LIME_BASE_URL": "http://127.0.0.1:8200/lime/api/v1/",
    "LIME_API_KEY": "lime-secret-key",
    "GATEWAY_API_KEYS_WEBHOOK": "webhook-secret-1",
    "GATEWAY_API_KEYS_COMMANDS": "commands-secret-1",
    "GATEWAY_API_KEYS_OPERATOR": "operator-secret-1",
    "DATABASE_URL": "postgresql+psycopg://billecta:db-password@db:5432/billecta_sync",
    "REDIS_URL": "redis://:redis-password@redis:6379/0",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in ("BILLECTA_SYNC_CONFIG", *ENV):
        monkeypatch.delenv(key, raising=False)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    return ENV


def test_config_check_offline_prints_no_secret(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["config", "check", "--offline"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8100/v1" in result.output
    for secret in ("c2VjcmV0LXRva2Vu", "lime-secret-key", "webhook-secret-1", "db-password", "redis-password"):
        assert secret not in result.output
    assert "billecta:***@db:5432" in result.output


def test_missing_setting_is_one_clear_error(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIME_API_KEY")
    result = CliRunner().invoke(main, ["config", "check", "--offline"])
    assert result.exit_code == 1
    assert "LIME_API_KEY" in result.output
    assert "Traceback" not in result.output
