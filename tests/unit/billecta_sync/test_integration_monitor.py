"""The integration monitor (billecta_sync.monitor) on a real SQLite file: how batches settle."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billecta_sync import monitor
from billecta_sync.db import Database, MonitorStatus, utcnow

STALE_MESSAGE = "The task did not finish (lost or stuck); replay it from the dead letters."


def started_batch(db: Database, object_ids: list[int], *, start: bool = True) -> tuple[int, list[int]]:
    batch_id = monitor.create_batch(db, "Upsert & attest orders", "upsert_attest_orders",
                                    {"key": "_id", "op": "IN", "exp": object_ids}, {"attest": True})
    logs = monitor.add_logs(db, batch_id, "upsert_attest_orders", "order", object_ids)
    assert [object_id for _log_id, object_id in logs] == [str(i) for i in object_ids]
    if start:
        monitor.mark_batch_started(db, batch_id, len(logs))
    return batch_id, [log_id for log_id, _object_id in logs]


def status(db: Database, batch_id: int) -> str:
    summary = monitor.batch_summary(db, batch_id)
    assert summary is not None
    return str(summary["status"])


def test_batch_is_ok_only_when_every_log_is_ok(db: Database) -> None:
    batch_id, logs = started_batch(db, [101, 102, 103])
    for log_id in logs[:2]:
        monitor.log_finished(db, log_id, MonitorStatus.OK, "sent")
        monitor.settle_batch_of_log(db, log_id)
    assert status(db, batch_id) == MonitorStatus.RUNNING

    monitor.log_finished(db, logs[2], MonitorStatus.OK, "sent")
    monitor.settle_batch_of_log(db, logs[2])

    summary = monitor.batch_summary(db, batch_id)
    assert summary is not None
    assert summary["status"] == MonitorStatus.OK
    assert summary["ended_at"] is not None


def test_one_failed_log_makes_the_batch_donewitherror(db: Database) -> None:
    batch_id, logs = started_batch(db, [201, 202])
    monitor.log_finished(db, logs[0], MonitorStatus.OK, "sent")
    monitor.log_finished(db, logs[1], MonitorStatus.ERROR, "Order 202 has no rows.")

    assert monitor.settle_batch(db, batch_id) == MonitorStatus.DONE_WITH_ERROR


def test_batch_stays_running_while_one_log_runs(db: Database) -> None:
    batch_id, logs = started_batch(db, [301, 302])
    monitor.log_finished(db, logs[0], MonitorStatus.ERROR, "refused")
    monitor.log_started(db, logs[1], "task-302")

    assert monitor.settle_batches(db) == {"settled": 0, "stale_logs": 0}
    assert status(db, batch_id) == MonitorStatus.RUNNING


def test_batch_whose_tasks_were_not_all_published_does_not_settle(db: Database) -> None:
    batch_id, logs = started_batch(db, [401], start=False)
    monitor.log_finished(db, logs[0], MonitorStatus.OK, "sent")

    assert monitor.settle_batches(db)["settled"] == 0
    assert status(db, batch_id) == MonitorStatus.RUNNING
    assert monitor.unstarted_batches(db, older_than_s=60, now=utcnow() + timedelta(minutes=5)) == [batch_id]

    monitor.mark_batch_started(db, batch_id, 1)
    assert monitor.settle_batch(db, batch_id) == MonitorStatus.OK
    assert monitor.unstarted_batches(db, older_than_s=60, now=utcnow() + timedelta(minutes=5)) == []


def test_stale_running_logs_are_marked_error_unless_their_task_is_alive(db: Database) -> None:
    batch_id, logs = started_batch(db, [501, 502, 503])
    monitor.log_started(db, logs[0], "task-lost")
    monitor.log_started(db, logs[1], "task-alive")
    monitor.log_finished(db, logs[2], MonitorStatus.OK, "sent")
    later = utcnow() + timedelta(hours=7)

    counts = monitor.settle_batches(db, stale_after=timedelta(hours=6), alive_task_ids={"task-alive"}, now=later)

    assert counts == {"settled": 0, "stale_logs": 1}
    summary = monitor.batch_summary(db, batch_id)
    assert summary is not None
    by_object = {log["object_id"]: log for log in summary["logs"]}
    assert by_object["501"]["status"] == MonitorStatus.ERROR
    assert by_object["501"]["message"] == STALE_MESSAGE
    assert by_object["502"]["status"] == MonitorStatus.RUNNING
    assert summary["status"] == MonitorStatus.RUNNING

    # The live task finishes: now the batch can end, with the lost object counted as an error.
    monitor.log_finished(db, logs[1], MonitorStatus.OK, "sent")
    assert monitor.settle_batch(db, batch_id) == MonitorStatus.DONE_WITH_ERROR


def test_recent_running_logs_are_not_stale(db: Database) -> None:
    batch_id, logs = started_batch(db, [601])
    monitor.log_started(db, logs[0], "task-601")

    counts = monitor.settle_batches(db, stale_after=timedelta(hours=6), alive_task_ids=set())

    assert counts == {"settled": 0, "stale_logs": 0}
    assert status(db, batch_id) == MonitorStatus.RUNNING


def test_batch_summary_counts_logs_by_status(db: Database) -> None:
    batch_id, logs = started_batch(db, [701, 702, 703, 704])
    monitor.log_started(db, logs[0], "task-701")
    monitor.log_started(db, logs[0], "task-701-retry")
    monitor.log_finished(db, logs[0], MonitorStatus.OK, "Order 701 → Billecta invoice x")
    monitor.log_finished(db, logs[1], MonitorStatus.ERROR, "Order 702 has no rows.")
    monitor.log_finished(db, logs[2], MonitorStatus.ERROR, "Order 703 has no debtor.")

    summary = monitor.batch_summary(db, batch_id)

    assert summary is not None
    assert summary["title"] == "Upsert & attest orders"
    assert summary["operation"] == "upsert_attest_orders"
    assert summary["total"] == 4
    assert summary["started"] is True
    assert summary["counts"] == {"running": 1, "ok": 1, "error": 2}
    assert [(log["object_id"], log["status"], log["attempts"]) for log in summary["logs"]] == [
        ("701", "ok", 2), ("702", "error", 0), ("703", "error", 0), ("704", "running", 0)]
    assert summary["logs"][1]["message"] == "Order 702 has no rows."
    assert monitor.batch_summary(db, 999_999) is None


def test_a_log_finishes_ok_or_error_only(db: Database) -> None:
    _batch_id, logs = started_batch(db, [801])
    with pytest.raises(ValueError, match="ok or error"):
        monitor.log_finished(db, logs[0], MonitorStatus.RUNNING)


def test_failed_batch_start_is_reported(db: Database) -> None:
    batch_id, _logs = started_batch(db, [], start=False)

    monitor.fail_batch(db, batch_id, "Could not start: Lime is down")

    summary = monitor.batch_summary(db, batch_id)
    assert summary is not None
    assert (summary["status"], summary["message"]) == (MonitorStatus.ERROR, "Could not start: Lime is down")
