"""The documents that are generated from code, or name its settings, must match it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from beat_schedule import beat_schedule
from billecta_sync.settings import ENV_SETTINGS
from cli.main import routes_document

ROOT = Path(__file__).resolve().parents[2]


def test_route_document_equals_the_route_table() -> None:
    assert (ROOT / "docs" / "billecta-routes.md").read_text(encoding="utf-8") == routes_document(), (
        "docs/billecta-routes.md is stale: run `billecta-sync docs routes --write docs/billecta-routes.md`"
    )


def test_configuration_reference_names_every_setting() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name, _path, _text in ENV_SETTINGS if f"`{name}`" not in text]
    assert missing == []


def test_runbook_lists_every_scheduled_job() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    settings: Any = SimpleNamespace(worker=SimpleNamespace(sweep_interval_s=60.0))
    assert [name for name in beat_schedule(settings) if f"`{name}`" not in text] == []


def test_readme_shows_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
