"""`billecta-sync config check` asks a real (sandbox) Lime whether every mapped property exists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from sandbox.common import serve_in_thread
from sandbox.lime.app import LimeSandboxConfig, create_app


@pytest.fixture(scope="module")
def lime_url() -> Iterator[str]:
    server, base = serve_in_thread(create_app(LimeSandboxConfig(database_url="sqlite:///:memory:")))
    yield f"{base}/lime/api/v1/"
    server.shutdown()


def run_check(monkeypatch: pytest.MonkeyPatch, lime_url: str, config_file: Path | None = None) -> str:
    env = {
        "BILLECTA_SYNC_ENV": "development",  # the development keys and http:// sandbox URLs below
        "BILLECTA_API_BASE_URL": "http://127.0.0.1:9/v1",
        "BILLECTA_API_AUTHENTICATION": "SecureToken ZGV2LWJpbGxlY3RhLXRva2Vu",
        "LIME_BASE_URL": lime_url,
        "LIME_API_KEY": "dev-lime-key",
        "GATEWAY_API_KEYS_WEBHOOK": "dev-webhook-key",
        "GATEWAY_API_KEYS_COMMANDS": "dev-commands-key",
        "GATEWAY_API_KEYS_OPERATOR": "dev-operator-key",
    }
    monkeypatch.delenv("BILLECTA_SYNC_CONFIG", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if config_file is not None:
        monkeypatch.setenv("BILLECTA_SYNC_CONFIG", str(config_file))
    result = CliRunner().invoke(main, ["config", "check"])
    return f"exit={result.exit_code}\n{result.output}"


def test_default_mapping_matches_the_default_data_model(monkeypatch: pytest.MonkeyPatch, lime_url: str) -> None:
    output = run_check(monkeypatch, lime_url)
    assert output.startswith("exit=0"), output
    assert "every mapped limetype and property exists in Lime" in output


def test_a_mapping_to_a_missing_property_is_reported_by_name(monkeypatch: pytest.MonkeyPatch, lime_url: str,
                                                             tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("mappings:\n  debtor:\n    properties:\n      ssnregno: orgnumber\n"
                      "  invoice:\n    limetype: faktura\n", encoding="utf-8")
    output = run_check(monkeypatch, lime_url, config)
    assert output.startswith("exit=1"), output
    assert "debtor.orgnumber (mapping for debtor.ssnregno) does not exist" in output
    assert "limetype 'faktura' (mapping for invoice) does not exist in Lime" in output
