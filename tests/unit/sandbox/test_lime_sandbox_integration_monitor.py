"""The Lime sandbox ships the integration monitor's limetypes: relations and the seed's statuses."""

from __future__ import annotations

from sandbox.lime.datamodel import DATA_MODEL


def _options(limetype: str, prop: str) -> list[str]:
    found = DATA_MODEL[limetype].get(prop)
    assert found is not None and found.type == "option", (limetype, prop)
    return [o.key for o in found.options]


def _relation(limetype: str, prop: str) -> str | None:
    found = DATA_MODEL[limetype].get(prop)
    assert found is not None and found.type == "belongsto", (limetype, prop)
    return found.related


def test_batches_and_logs_belong_to_an_integration_monitor_and_logs_to_a_batch() -> None:
    assert _relation("integration_monitor_batch", "integration_monitor") == "integration_monitor"
    assert _relation("integration_monitor_log", "integration_monitor") == "integration_monitor"
    assert _relation("integration_monitor_log", "integration_monitor_batch") == "integration_monitor_batch"


def test_the_statuses_are_the_seeds() -> None:
    assert _options("integration_monitor_batch", "status") == ["running", "ok", "donewitherror", "error"]
    assert _options("integration_monitor_log", "status") == ["running", "ok", "error"]
    assert _options("integration_monitor", "type") == ["batch", "message"]
    assert _options("integration_monitor", "alertstatus") == ["notcalculated", "ok", "error"]


def test_the_integration_monitor_has_its_packages_fields() -> None:
    monitor = DATA_MODEL["integration_monitor"]
    types = {p.name: p.type for p in monitor.properties}
    assert types == {
        "name": "string", "integration_key": "string", "type": "option", "active": "yesno",
        "alert_interval": "integer", "alert_no_creates_deceeds": "integer", "alert_no_updates_deceeds": "integer",
        "alert_no_deletes_deceeds": "integer", "alert_timestamp": "time", "alertstatus": "option",
        "alerttext": "text",
    }
