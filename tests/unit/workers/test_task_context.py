"""SyncTask binds the correlation id (from the task headers, else the inbox row) with the task's name and ids
into the log context of everything the task logs, and counts runs, retries, dead letters and durations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import REGISTRY

from billecta_sync import catalogue, inbox, logs
from billecta_sync.container import Services
from billecta_sync.db import InboxStatus
from billecta_sync.usecases.billecta_to_lime import events
from tests.unit.workers.test_tasks import MAX_RETRIES, Worker, worker  # noqa: F401  # the worker fixture

JOB = catalogue.inbound_job("billecta")
BODY = {"WebhookTriggerType": "InvoiceActionAttested", "ActionPublicId": "a-1"}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_inbox_rows_correlation_id_and_the_task_are_in_the_log_context(worker: Worker,  # noqa: F811
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    def handler(_services: Services, _event: Any) -> str:
        from structlog.contextvars import get_contextvars

        seen.append(dict(get_contextvars()))
        return "done"

    monkeypatch.setitem(events.HANDLERS, "InvoiceActionAttested", handler)
    inbox_id = inbox.record(worker.services.db, "billecta", {}, json.dumps(BODY).encode(), status=InboxStatus.QUEUED,
                            correlation_id="cid-from-gateway")
    before = sample("billecta_sync_tasks_total", job=JOB.name, outcome="ok")
    count_before = sample("billecta_sync_task_duration_seconds_count", job=JOB.name)

    assert worker.run(JOB, inbox_id).successful()

    assert seen == [{"correlation_id": "cid-from-gateway", "task": JOB.name, "task_id": seen[0]["task_id"],
                     "inbox_id": inbox_id}]
    assert logs.correlation_id() == ""  # cleared after the task: the next task of this process starts clean
    assert sample("billecta_sync_tasks_total", job=JOB.name, outcome="ok") == before + 1
    assert sample("billecta_sync_task_duration_seconds_count", job=JOB.name) == count_before + 1


def test_a_correlation_id_in_the_task_headers_wins(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    seen: list[str] = []
    monkeypatch.setitem(events.HANDLERS, "InvoiceActionAttested",
                        lambda _s, _e: seen.append(logs.correlation_id()) or "done")
    inbox_id = inbox.record(worker.services.db, "billecta", {}, json.dumps(BODY).encode(), status=InboxStatus.QUEUED,
                            correlation_id="cid-of-the-row")
    worker.tasks[JOB.name].apply(args=[inbox_id], headers={logs.TASK_HEADER: "cid-of-the-replay"})
    assert seen == ["cid-of-the-replay"]


def test_retries_and_dead_letters_are_counted(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    def down(_services: Services, _event: Any) -> str:
        raise ConnectionError("Lime did not answer")

    monkeypatch.setitem(events.HANDLERS, "InvoiceActionAttested", down)
    inbox_id = inbox.record(worker.services.db, "billecta", {}, json.dumps(BODY).encode(), status=InboxStatus.QUEUED)
    retries = sample("billecta_sync_task_retries_total", job=JOB.name)
    dead = sample("billecta_sync_dead_letters_total", job=JOB.name)

    assert worker.run(JOB, inbox_id).failed()

    assert sample("billecta_sync_task_retries_total", job=JOB.name) == retries + MAX_RETRIES
    assert sample("billecta_sync_dead_letters_total", job=JOB.name) == dead + 1
