"""The reports' place in the catalogue and the route table: their own queue, consumed by the dev worker."""

from __future__ import annotations

from typing import Any

from billecta_sync import catalogue, commands
from devstack import stack


def test_report_jobs_run_on_the_reports_queue_which_every_worker_consumes() -> None:
    assert catalogue.QUEUE_REPORTS == "reports" and catalogue.QUEUE_REPORTS in catalogue.QUEUES
    jobs = [c.job for c in commands.REPORT_COMMANDS]
    assert len(jobs) == 4 and all(j.queue == catalogue.QUEUE_REPORTS and j.wants_result for j in jobs)
    assert all(catalogue.JOBS[j.name] is j for j in jobs)
    # Whatever the worker layout of the dev stack, some worker consumes every queue, reports included.
    for pool in stack.WORKER_POOLS:
        dev = stack.Stack(stack.StackConfig(worker_pool=pool))
        consumed = {q for command in dev.worker_commands().values()
                    for q in command[command.index("-Q") + 1].split(",")}
        assert consumed == set(catalogue.QUEUES), pool


def test_report_commands_are_in_the_one_table_with_the_seed_paths_and_answer() -> None:
    mounted = {c.path for c in commands.ALL_INTERACTIVE_COMMANDS}
    assert {"/billecta/account-receivables-report", "/billecta/account-reconciliation-report",
            "/billecta/prepaid-payments-report", "/billecta/report-creator"} <= mounted
    ar = next(c for c in commands.REPORT_COMMANDS if c.path.endswith("account-receivables-report"))
    assert ar.answer({"iddocument": 5043, "file_id": 1}) == (200, {"iddocument": 5043})
    status, body = ar.answer({"error": "date must be a date", "status": 400, "field": "date"})
    assert status == 400 and body["field"] == "date" and body["error_message"] == "date must be a date"
    assert ar.job_args({"idcreditor": 1, "date": "2026-01-31"}) == [1, "2026-01-31", False, False, "xlsx"]


def test_a_large_report_shows_its_progress_in_the_integration_monitor(db: Any) -> None:
    from types import SimpleNamespace

    from billecta_sync import monitor
    from billecta_sync.reports.common import PROGRESS_EVERY, progress_logger

    services: Any = SimpleNamespace(db=db)
    total = 2 * PROGRESS_EVERY + 5
    progress = progress_logger("accounts receivable", services, 42)
    progress(PROGRESS_EVERY, total)
    with db.session() as session:
        from sqlalchemy import select

        from billecta_sync.db import MonitorBatch, MonitorLog

        batch = session.scalars(select(MonitorBatch)).one()
        log = session.scalars(select(MonitorLog)).one()
        assert (batch.title, batch.status, log.object_id) == ("Report: accounts receivable", "running", "42")
        assert log.message == f"{PROGRESS_EVERY} of {total} rows built"
    progress(total, total)
    summary = monitor.batch_summary(db, batch.id)
    assert summary is not None and summary["status"] == "ok"
    assert summary["logs"][0]["message"] == f"{total} rows built"


def test_a_small_report_leaves_the_monitor_alone(db: Any) -> None:
    from types import SimpleNamespace

    from sqlalchemy import func, select

    from billecta_sync.db import MonitorBatch
    from billecta_sync.reports.common import progress_logger

    progress_logger("prepaid", SimpleNamespace(db=db), 1)(10, 10)  # type: ignore[arg-type]
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(MonitorBatch)) == 0
